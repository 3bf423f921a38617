// Reads every file of a run folder the way the studio would and reports what is broken. Used after each
// kill of the crash trials and after each resume: a checkpoint that does not load and verify (sha256 of
// tensors and config, expected tensor names and shapes, DI* counters), a config or status that does not
// parse, a malformed metrics line other than a torn last one, or a sample grid that does not decode is a
// problem. Half-done writes that the studio ignores and later replaces (a checkpoint's "<dir>.incoming",
// an old checkpoint being deleted, temp files of atomic writes, a grid without its JSON yet) are listed
// separately: they are not files anyone reads.
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { PNG } from 'pngjs'
import { loadCheckpoint, type ShapeMap } from '../ml/checkpoint/checkpoint.ts'
import { parseRunConfig } from '../core/runs/run-config.ts'
import { RUN_FILES } from '../core/runs/run-files.ts'

export interface RunFilesReport {
  /** checkpoints that loaded and verified, by step (newest first); ".previous" ones included */
  completeCheckpoints: number[]
  /** half-done writes left by a kill (ignored by the studio, replaced or removed later) */
  interruptedWrites: string[]
  /** files that a reader would find broken: must stay empty */
  problems: string[]
  /** step indices of the step lines in metrics.jsonl, in file order */
  metricsSteps: number[]
  /** a last metrics line cut short by the kill (dropped on resume) */
  tornMetricsLine: boolean
}

const TEMP_FILE = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/ // util/atomic-write.ts's temp names

export async function checkRunFiles(dir: string, expectShapes: ShapeMap): Promise<RunFilesReport> {
  const report: RunFilesReport = { completeCheckpoints: [], interruptedWrites: [], problems: [], metricsSteps: [], tornMetricsLine: false }
  const problem = (what: string, err: unknown) => report.problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`)

  try {
    parseRunConfig(JSON.parse(await fs.readFile(join(dir, RUN_FILES.config), 'utf8')))
  } catch (err) {
    problem(RUN_FILES.config, err)
  }
  try {
    const status = JSON.parse(await fs.readFile(join(dir, RUN_FILES.status), 'utf8')) as { state?: unknown; step?: unknown }
    if (typeof status.state !== 'string' || typeof status.step !== 'number') throw new Error('no state or step')
  } catch (err) {
    // killed before the first status write finished: nothing broken (the studio lists the run as 'unknown')
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') report.interruptedWrites.push(`${RUN_FILES.status} (not yet written)`)
    else problem(RUN_FILES.status, err)
  }

  const lines = (await fs.readFile(join(dir, RUN_FILES.metrics), 'utf8').catch(() => '')).split('\n')
  if (lines.at(-1) === '') lines.pop()
  lines.forEach((line, i) => {
    try {
      const parsed = JSON.parse(line) as { type?: string; step?: number }
      if (parsed.type === 'step' && typeof parsed.step === 'number') report.metricsSteps.push(parsed.step)
    } catch (err) {
      if (i === lines.length - 1) report.tornMetricsLine = true
      else problem(`${RUN_FILES.metrics} line ${i + 1}`, err)
    }
  })

  for (const name of await fs.readdir(dir)) {
    if (TEMP_FILE.test(name)) report.interruptedWrites.push(name)
  }

  const checkpointsDir = join(dir, RUN_FILES.checkpoints)
  for (const name of (await fs.readdir(checkpointsDir).catch(() => [] as string[])).sort()) {
    const m = /^step-(\d+)(\.previous|\.incoming)?(\.deleting)?$/.exec(name)
    if (!m) {
      problem(`checkpoints/${name}`, 'not a checkpoint name')
      continue
    }
    if (m[2] === '.incoming' || m[3] === '.deleting') {
      report.interruptedWrites.push(`checkpoints/${name}`)
      continue
    }
    try {
      // loadCheckpoint reads "<dir>.previous" itself when "<dir>" is missing
      const ck = await loadCheckpoint(join(checkpointsDir, `step-${m[1]}`), { expectShapes })
      const info = ck.config as { kind?: string; step?: number }
      if (info.kind !== 'distar-run-checkpoint' || info.step !== Number(m[1])) throw new Error(`config says ${info.kind} at step ${info.step}`)
      report.completeCheckpoints.push(Number(m[1]))
    } catch (err) {
      problem(`checkpoints/${name}`, err)
    }
  }
  report.completeCheckpoints = [...new Set(report.completeCheckpoints)].sort((a, b) => b - a)

  const samplesDir = join(dir, RUN_FILES.samples)
  const sampleFiles = await fs.readdir(samplesDir).catch(() => [] as string[])
  for (const name of sampleFiles.sort()) {
    if (TEMP_FILE.test(name)) {
      report.interruptedWrites.push(`samples/${name}`)
    } else if (name.endsWith('.png')) {
      try {
        PNG.sync.read(await fs.readFile(join(samplesDir, name)))
      } catch (err) {
        problem(`samples/${name}`, err)
      }
      if (!sampleFiles.includes(name.replace(/\.png$/, '.json'))) report.interruptedWrites.push(`samples/${name} (its .json not yet written)`)
    } else if (name.endsWith('.json')) {
      try {
        JSON.parse(await fs.readFile(join(samplesDir, name), 'utf8'))
      } catch (err) {
        problem(`samples/${name}`, err)
      }
    }
  }
  return report
}
