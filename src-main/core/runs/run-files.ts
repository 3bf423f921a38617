// The on-disk layout of one run, runs/<id>/ inside the workspace:
//   config.json            the full, validated run config (written once, atomically)
//   status.json            what the run is doing now (atomic rewrite on every change)
//   metrics.jsonl          one JSON line per step, plus control-change lines (appended, fsynced)
//   samples/step-<N>.png   sample grid after N steps, with step-<N>.json listing prompts and seeds
//   checkpoints/step-<N>/  generator, its EMA, fake score, both optimisers and counters (ml/checkpoint, atomic pair)
import { existsSync, promises as fs } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { atomicWriteFile } from '../../util/atomic-write.ts'
import type { NamedTensor } from '../../ml/checkpoint/checkpoint.ts'

export const RUN_FILES = {
  config: 'config.json',
  status: 'status.json',
  metrics: 'metrics.jsonl',
  samples: 'samples',
  checkpoints: 'checkpoints',
} as const

/** True for a folder that looks like a DI* run (config.json + checkpoints/). */
export function isRunFolder(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.config)) && existsSync(join(dir, RUN_FILES.checkpoints))
}

/**
 * The base model folder a run config names: its baseModelDir (relative ones from `baseDir`), or the
 * shipped reference when it names none (or names something that is not a string).
 */
/**
 * The `baseModelDir` field of a run folder's config.json as written (undefined when the config is
 * unreadable: callers then fall back to the reference, as for a config naming no base model).
 */
export async function readRunBaseModelField(runDir: string): Promise<unknown> {
  try {
    return (JSON.parse(await fs.readFile(join(runDir, RUN_FILES.config), 'utf8')) as { baseModelDir?: unknown }).baseModelDir
  } catch {
    return undefined
  }
}

export function runBaseModelDir(baseModelDir: unknown, referenceDir: string, baseDir: string): string {
  if (typeof baseModelDir !== 'string') return referenceDir
  return isAbsolute(baseModelDir) ? baseModelDir : resolve(baseDir, baseModelDir)
}

export type RunState = 'starting' | 'running' | 'paused' | 'stopped' | 'completed' | 'failed'

export interface RunStatus {
  runId: string
  state: RunState
  /** steps completed */
  step: number
  totalSteps: number
  /** why the run is paused (the NaN guard's message) or failed */
  message?: string
  /** step of the newest complete checkpoint, if any */
  checkpointStep?: number
  /** steps the NaN guard skipped so far (absent: none) */
  skippedSteps?: number
  /** the process that wrote this status (a run it says is active but whose process is gone was interrupted) */
  pid?: number
  updatedAt: string
}

/**
 * The tensor group of a run checkpoint that holds the generator to show and export: its EMA
 * ('generatorEma/<param>') when the checkpoint has one, else the raw weights ('generator/<param>';
 * checkpoints from before the EMA).
 */
export function exportedGeneratorGroup(tensorNames: Iterable<string>): 'generatorEma' | 'generator' {
  for (const name of tensorNames) if (name.startsWith('generatorEma/')) return 'generatorEma'
  return 'generator'
}

export type CheckpointGenerator =
  | { group: 'generatorEma' | 'generator'; values: Record<string, Float32Array> }
  | { group: 'generatorEma' | 'generator'; bad: string }

/**
 * The generator weights to show and export from a checkpoint's tensors (the exportedGeneratorGroup),
 * each float32 and of its parameter's shape: the values by parameter name, or the first parameter that
 * is missing or mis-shaped (callers word the error for their context).
 */
export function checkpointGeneratorValues(tensors: Record<string, NamedTensor>, shapes: Record<string, number[]>): CheckpointGenerator {
  const group = exportedGeneratorGroup(Object.keys(tensors))
  const values: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(shapes)) {
    const t = tensors[`${group}/${name}`]
    if (!t || t.dtype !== 'float32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) return { group, bad: name }
    values[name] = t.data as Float32Array
  }
  return { group, values }
}

export function runDir(workspaceRoot: string, runId: string): string {
  return join(workspaceRoot, 'runs', runId)
}

export const samplePaths = (dir: string, step: number) => ({
  png: join(dir, RUN_FILES.samples, `step-${step}.png`),
  sidecar: join(dir, RUN_FILES.samples, `step-${step}.json`),
})

export const checkpointPath = (dir: string, step: number) => join(dir, RUN_FILES.checkpoints, `step-${step}`)

export async function writeStatus(dir: string, status: RunStatus): Promise<void> {
  await atomicWriteFile(join(dir, RUN_FILES.status), JSON.stringify(status, null, 2) + '\n')
}

export async function readStatus(dir: string): Promise<RunStatus | null> {
  try {
    return JSON.parse(await fs.readFile(join(dir, RUN_FILES.status), 'utf8')) as RunStatus
  } catch {
    return null
  }
}

/** Checkpoint steps present under checkpoints/, newest first (completeness is checked when loading). */
export async function listCheckpointSteps(dir: string): Promise<number[]> {
  let entries: string[]
  try {
    entries = await fs.readdir(join(dir, RUN_FILES.checkpoints))
  } catch {
    return []
  }
  const steps = new Set<number>()
  for (const e of entries) {
    // step-<N>.previous is a complete checkpoint left by a save interrupted mid-swap (see checkpoint.ts)
    const m = /^step-(\d+)(\.previous)?$/.exec(e)
    if (m) steps.add(Number(m[1]))
  }
  return [...steps].sort((a, b) => b - a)
}

/**
 * Deletes all but the newest `keep` checkpoints (never the one named `protect`). Each folder is first
 * renamed to "<name>.deleting" (atomic), so a kill in the middle of the recursive delete leaves a folder
 * no reader lists, never a half-deleted "step-<N>"; leftovers of such kills are removed here too.
 */
export async function pruneCheckpoints(dir: string, keep: number, protect: number): Promise<void> {
  await removeInterruptedDeletes(dir)
  const steps = await listCheckpointSteps(dir)
  for (const step of steps.slice(keep)) {
    if (step === protect) continue
    const path = checkpointPath(dir, step)
    for (const p of [path, `${path}.incoming`, `${path}.previous`]) {
      try {
        await fs.rename(p, p + DELETING)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw err
      }
      await fs.rm(p + DELETING, { recursive: true, force: true })
    }
  }
}

const DELETING = '.deleting'

/** Finishes deletes of old checkpoints that a kill cut short (their "<name>.deleting" folders). */
export async function removeInterruptedDeletes(dir: string): Promise<void> {
  const checkpointsDir = join(dir, RUN_FILES.checkpoints)
  for (const name of await fs.readdir(checkpointsDir).catch(() => [] as string[])) {
    if (name.endsWith(DELETING)) await fs.rm(join(checkpointsDir, name), { recursive: true, force: true })
  }
}

/** Temp files of util/atomic-write.ts: ".<name>.<pid>.<8 hex>.tmp". */
const ATOMIC_TEMP_FILE = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/

/**
 * Removes temp files that atomic writes in the run folder and its samples left when their process was
 * killed before the rename (the finished files are intact; these are never read). Files of a process
 * that is still alive are kept: it may be about to rename them.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = []
  for (const folder of [dir, join(dir, RUN_FILES.samples)]) {
    for (const name of await fs.readdir(folder).catch(() => [] as string[])) {
      const m = ATOMIC_TEMP_FILE.exec(name)
      if (!m || processAlive(Number(m[1]))) continue
      await fs.rm(join(folder, name), { force: true })
      removed.push(name)
    }
  }
  return removed
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' // exists, owned by someone else
  }
}

/** Lines of metrics.jsonl. */
export type MetricsLine =
  | ({ type: 'step' } & Record<string, unknown> & { step: number })
  | { type: 'controls'; step: number; changes: Record<string, unknown>; time: string }

/**
 * Appends lines to metrics.jsonl with an fsync each, so a line that was announced is on disk.
 * A line torn by a kill is dropped on the next open (`truncateMetrics`).
 */
export class MetricsLog {
  private constructor(private readonly handle: fs.FileHandle) {}

  static async open(dir: string): Promise<MetricsLog> {
    return new MetricsLog(await fs.open(join(dir, RUN_FILES.metrics), 'a'))
  }

  async append(line: MetricsLine): Promise<void> {
    await this.handle.appendFile(JSON.stringify(line, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) + '\n')
    await this.handle.sync()
  }

  async close(): Promise<void> {
    await this.handle.close()
  }
}

/**
 * Keeps only the metrics of steps before `step` (a resume from the checkpoint at `step` runs the
 * rest again), dropping torn and malformed lines. Rewritten atomically.
 */
export async function truncateMetrics(dir: string, step: number): Promise<void> {
  let text: string
  try {
    text = await fs.readFile(join(dir, RUN_FILES.metrics), 'utf8')
  } catch {
    return
  }
  const kept: string[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      const parsed = JSON.parse(line) as { step?: unknown }
      if (typeof parsed.step === 'number' && parsed.step < step) kept.push(line)
    } catch {
      // a torn last line from a kill: drop it
    }
  }
  await atomicWriteFile(join(dir, RUN_FILES.metrics), kept.map((l) => l + '\n').join(''))
}

/** Reads metrics.jsonl (skipping malformed lines), e.g. for tests and the run list. */
export async function readMetrics(dir: string): Promise<MetricsLine[]> {
  let text: string
  try {
    text = await fs.readFile(join(dir, RUN_FILES.metrics), 'utf8')
  } catch {
    return []
  }
  const out: MetricsLine[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as MetricsLine)
    } catch {
      /* torn line */
    }
  }
  return out
}
