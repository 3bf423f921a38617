// Crash-safety trials (issue 8): SIGKILL the training at random moments and check that nothing on disk
// is broken, that the resume starts from the newest complete checkpoint, and that the resumed run ends
// with exactly the weights of an uninterrupted run with the same seed.
//
// Four ways to die, taken in turn:
//   train-child     `npm run train` as a child process, SIGKILLed after a random step (plus 0-40 ms)
//   train-in-write  the same child, SIGKILLed while paused half-way through one write (pause-in-write.ts:
//                   checkpoint folder, model file, swap, pruning, status, sample grid, metrics line)
//   job-worker      the studio's JobManager (job-host.ts) terminates the DI* job's worker thread right
//                   after a random step's metrics arrive, wherever the worker then is
//   whole-process   the process hosting the JobManager and its worker is SIGKILLed after a random step
// Runs resume the way they were started (`npm run train -- --resume`, or a `{ resume }` job).
import { spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadCheckpoint, type NamedTensor, type ShapeMap } from '../ml/checkpoint/checkpoint.ts'
import { Rng } from '../ml/util/rng.ts'
import { checkRunFiles, type RunFilesReport } from './run-files-check.ts'
import { PAUSED_MARKER, PAUSE_ENV, PAUSE_PHASES, type PausePhase } from './pause-in-write.ts'
import { ensureTinyReference, tinyRunConfig } from './tiny-run.ts'

export const TRIAL_MODES = ['train-child', 'train-in-write', 'job-worker', 'whole-process'] as const
export type TrialMode = (typeof TRIAL_MODES)[number]

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const TRAIN_CLI = join(repoRoot, 'src-main', 'cli', 'train.ts')
const JOB_HOST = fileURLToPath(new URL('./job-host.ts', import.meta.url))
const PAUSE_PRELOAD = fileURLToPath(new URL('./pause-in-write.ts', import.meta.url))

/** Steps of each trial run; checkpoints every 2 (keep 3), grids every 4: many writes to land in. */
export const TRIAL_STEPS = 24
/** How many writes of each phase a 24-step run makes (the n-th to interrupt is drawn below this). */
const WRITES_PER_RUN: Record<PausePhase, number> = {
  'checkpoint-incoming': 12, 'checkpoint-model': 12, 'checkpoint-swap': 12, 'checkpoint-prune': 9,
  'status-write': 20, 'sample-write': 6, 'metrics-append': 23,
}

export interface CrashTrialResult {
  trial: number
  mode: TrialMode
  /** what was aimed at: "after step 7 +12 ms" or "checkpoint-model #3" */
  target: string
  /** step lines in metrics.jsonl when the process died */
  stepsLogged: number
  /** what the kill interrupted, judged from the files it left */
  landedIn: string
  /** complete checkpoints on disk right after the kill */
  checkpointsAfterKill: number[]
  /** checkpoint the resume reported starting from (-1: none, started from step 0) */
  resumedFrom: number
  /** broken files found after the kill or after the resume (must be empty) */
  problems: string[]
  /** half-done writes still on disk after the resumed run finished */
  leftoversAfterResume: string[]
  weightsIdentical: boolean
  metricsComplete: boolean
  passed: boolean
  seconds: number
}

export interface CrashTrialOptions {
  trials: number
  /** seed of the trial plan (which mode, step, delay, write) */
  seed?: number
  backend?: 'cpu' | 'wasm'
  /** the ways to die, taken in turn (default: all four) */
  modes?: readonly TrialMode[]
  /** the writes train-in-write trials interrupt, taken in turn (default: all seven phases) */
  phases?: readonly PausePhase[]
  /** folder for the workspace (default: a new temp folder) */
  workDir?: string
  onTrial?(result: CrashTrialResult): void
  onLog?(message: string): void
}

export interface CrashCampaign {
  workspace: string
  backend: string
  baselineSeconds: number
  results: CrashTrialResult[]
}

interface Child {
  kill(): void
  /** resolves with the output once the process exits */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>
  output(): string
}

function start(script: string, args: string[], env: Record<string, string> = {}, preload = false): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', ...(preload ? ['--import', PAUSE_PRELOAD] : []), script, ...args], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, out }))
  })
  return { kill: () => child.kill('SIGKILL'), exited, output: () => out }
}

async function until(cond: () => boolean | Promise<boolean>, what: string, child: Child, timeoutMs = 300_000): Promise<void> {
  let exited = false
  void child.exited.then(() => { exited = true })
  const startMs = Date.now()
  while (!(await cond())) {
    if (exited) throw new Error(`the process ended before ${what}:\n${child.output().slice(-2000)}`)
    if (Date.now() - startMs > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

async function stepLinesLogged(runDir: string): Promise<number> {
  const text = await fs.readFile(join(runDir, 'metrics.jsonl'), 'utf8').catch(() => '')
  return (text.match(/"type":"step"/g) ?? []).length
}

const trainArgs = (ws: string, backend: string) => ['--workspace', ws, '--backend', backend]

/** Runs the baseline, then `opts.trials` kill-and-resume trials; await initTf() first (the tiny reference is built here). */
export async function runCrashTrials(opts: CrashTrialOptions): Promise<CrashCampaign> {
  const log = opts.onLog ?? (() => {})
  const backend = opts.backend ?? 'cpu'
  const ws = opts.workDir ?? (await fs.mkdtemp(join(tmpdir(), 'di-studio-crash-')))
  await fs.mkdir(ws, { recursive: true })
  await ensureTinyReference(ws) // needs this thread's TensorFlow.js initialised (the CLI does it)
  const configPath = join(ws, 'crash-run.json')
  await fs.writeFile(configPath, JSON.stringify(tinyRunConfig({ steps: TRIAL_STEPS }), null, 2))

  log(`baseline: an uninterrupted ${TRIAL_STEPS}-step run (${backend})`)
  const baselineStart = Date.now()
  const baseline = await start(TRAIN_CLI, ['--config', configPath, '--run-id', 'baseline', ...trainArgs(ws, backend)]).exited
  if (baseline.code !== 0) throw new Error(`the baseline run failed:\n${baseline.out.slice(-2000)}`)
  const baselineSeconds = (Date.now() - baselineStart) / 1000
  const reference = await loadCheckpoint(join(ws, 'runs', 'baseline', 'checkpoints', `step-${TRIAL_STEPS}`))
  const expectShapes: ShapeMap = Object.fromEntries(Object.entries(reference.tensors).map(([k, t]) => [k, t.shape]))

  const rng = new Rng(opts.seed ?? 1)
  const results: CrashTrialResult[] = []
  let inWrite = 0
  for (let trial = 1; trial <= opts.trials; trial++) {
    const modes = opts.modes ?? TRIAL_MODES
    const mode = modes[(trial - 1) % modes.length]!
    const runId = `trial-${trial}-${mode}`
    const runDir = join(ws, 'runs', runId)
    const started = Date.now()
    const step = rng.int(1, TRIAL_STEPS - 3) // kill after this step index (the run has steps 0..23)
    const delayMs = rng.int(0, 40)
    const phases = opts.phases ?? PAUSE_PHASES
    const phase = phases[inWrite % phases.length]!
    const occurrence = rng.int(1, WRITES_PER_RUN[phase])
    if (mode === 'train-in-write') inWrite++

    // 1. run and kill
    let target: string
    if (mode === 'train-child') {
      target = `after step ${step} +${delayMs} ms`
      const child = start(TRAIN_CLI, ['--config', configPath, '--run-id', runId, ...trainArgs(ws, backend)])
      await until(async () => (await stepLinesLogged(runDir)) > step, `step ${step}`, child)
      await new Promise((r) => setTimeout(r, delayMs))
      child.kill()
      await child.exited
    } else if (mode === 'train-in-write') {
      target = `${phase} #${occurrence}`
      const child = start(TRAIN_CLI, ['--config', configPath, '--run-id', runId, ...trainArgs(ws, backend)], { [PAUSE_ENV]: `${phase}:${occurrence}` }, true)
      await until(() => child.output().includes(PAUSED_MARKER), `the pause in ${target}`, child)
      child.kill()
      await child.exited
    } else if (mode === 'job-worker') {
      target = `worker terminated after step ${step}`
      const host = start(JOB_HOST, ['--config', configPath, '--run-id', runId, '--workspace', ws, '--backend', backend, '--terminate-worker-at-step', String(step)])
      const r = await host.exited
      if (!r.out.includes('worker-terminated')) throw new Error(`trial ${trial}: the job host did not terminate its worker:\n${r.out.slice(-2000)}`)
    } else {
      target = `after step ${step} +${delayMs} ms`
      const host = start(JOB_HOST, ['--config', configPath, '--run-id', runId, '--workspace', ws, '--backend', backend])
      await until(() => new RegExp(`^step ${step}$`, 'm').test(host.output()), `step ${step}`, host)
      await new Promise((r) => setTimeout(r, delayMs))
      host.kill()
      await host.exited
    }

    // 2. the files as the kill left them
    const afterKill = await checkRunFiles(runDir, expectShapes)
    const stepsLogged = afterKill.metricsSteps.length

    // 3. resume the way the run was started
    const resumed = mode === 'train-child' || mode === 'train-in-write'
      ? await start(TRAIN_CLI, ['--resume', runId, ...trainArgs(ws, backend)]).exited
      : await start(JOB_HOST, ['--resume', runId, '--workspace', ws, '--backend', backend]).exited
    const problems = afterKill.problems.map((p) => `after the kill: ${p}`)
    if (resumed.code !== 0) problems.push(`the resume failed: ${resumed.out.slice(-600)}`)
    const from = /Resumed from the checkpoint at step (\d+)/.exec(resumed.out)
    const resumedFrom = from ? Number(from[1]) : /No complete checkpoint/.test(resumed.out) ? -1 : NaN
    const expectedFrom = afterKill.completeCheckpoints[0] ?? -1
    if (resumedFrom !== expectedFrom) problems.push(`resumed from ${resumedFrom}, but the newest complete checkpoint was ${expectedFrom}`)

    // 4. the finished run
    const finalFiles = await checkRunFiles(runDir, expectShapes)
    problems.push(...finalFiles.problems.map((p) => `after the resume: ${p}`))
    const weightsIdentical = await sameTensors(reference.tensors, join(runDir, 'checkpoints', `step-${TRIAL_STEPS}`)).catch((err: Error) => {
      problems.push(`final checkpoint: ${err.message}`)
      return false
    })
    const metricsComplete = finalFiles.metricsSteps.length === TRIAL_STEPS && finalFiles.metricsSteps.every((s, i) => s === i)
    if (!metricsComplete) problems.push(`metrics.jsonl steps: ${finalFiles.metricsSteps.join(',')}`)

    const result: CrashTrialResult = {
      trial, mode, target, stepsLogged, landedIn: landedIn(afterKill), checkpointsAfterKill: afterKill.completeCheckpoints,
      resumedFrom, problems, leftoversAfterResume: finalFiles.interruptedWrites, weightsIdentical, metricsComplete,
      passed: problems.length === 0 && weightsIdentical && metricsComplete,
      seconds: (Date.now() - started) / 1000,
    }
    results.push(result)
    opts.onTrial?.(result)
  }
  return { workspace: ws, backend, baselineSeconds, results }
}

/** Every tensor of the checkpoint at `dir` equals the reference's bit for bit (and no names differ). */
async function sameTensors(reference: Record<string, NamedTensor>, dir: string): Promise<boolean> {
  const ck = await loadCheckpoint(dir)
  const names = Object.keys(reference).sort()
  if (names.join('\n') !== Object.keys(ck.tensors).sort().join('\n')) return false
  return names.every((name) => {
    const a = reference[name]!.data
    const b = ck.tensors[name]!.data
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  })
}

/** What the kill interrupted, from what it left on disk. */
function landedIn(files: RunFilesReport): string {
  const left = files.interruptedWrites
  const parts: string[] = []
  if (left.some((n) => n.endsWith('.incoming'))) parts.push('checkpoint write')
  if (left.some((n) => n.endsWith('.deleting'))) parts.push('checkpoint pruning')
  if (left.some((n) => n.startsWith('.status.json') || n.startsWith('status.json'))) parts.push('status write')
  if (left.some((n) => n.startsWith('samples/'))) parts.push('sample grid write')
  if (files.tornMetricsLine) parts.push('metrics append')
  return parts.length > 0 ? parts.join(' + ') : 'between writes'
}

/** The per-trial table and a summary, as printed by `npm run reliability -- crash`. */
export function formatCrashTable(campaign: CrashCampaign): string {
  const header = ['#', 'mode', 'kill', 'steps logged', 'landed in', 'complete ckpts after kill', 'resumed from', 'files ok', 'leftovers after resume', 'weights identical', 'result']
  const rows = campaign.results.map((r) => [
    String(r.trial), r.mode, r.target, String(r.stepsLogged), r.landedIn, r.checkpointsAfterKill.join(',') || '-',
    r.resumedFrom < 0 ? 'step 0 (none)' : `step ${r.resumedFrom}`, r.problems.length === 0 ? 'yes' : 'NO', String(r.leftoversAfterResume.length), r.weightsIdentical ? 'yes' : 'NO', r.passed ? 'pass' : 'FAIL',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  const passed = campaign.results.filter((r) => r.passed).length
  const byMode = TRIAL_MODES.map((m) => {
    const rs = campaign.results.filter((r) => r.mode === m)
    return `${m} ${rs.filter((r) => r.passed).length}/${rs.length}`
  }).join(', ')
  const inWrites = campaign.results.filter((r) => r.landedIn !== 'between writes').length
  const failures = campaign.results.filter((r) => !r.passed).flatMap((r) => r.problems.map((p) => `  trial ${r.trial}: ${p}`))
  const leftovers = campaign.results.flatMap((r) => r.leftoversAfterResume.map((l) => `  trial ${r.trial} left ${l}`))
  return [
    line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '',
    `${passed}/${campaign.results.length} trials passed (${byMode}); ${inWrites} kills left a half-done write behind; backend ${campaign.backend}; workspace ${campaign.workspace}`,
    ...failures,
    ...leftovers,
  ].join('\n')
}
