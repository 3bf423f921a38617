// The two trained one-step generators of the evaluation: DI* (score-based regulariser) and KL, with the
// same budget (steps, batch, reward, seed, every other control), trained headless through the run
// engine into <out>/runs/<id>/ like any studio run. A finished run is reused when nothing it depends on
// changed (its config, the reference's and the alignment model's weights): re-running the eval then only
// re-scores. A run killed part-way resumes from its last checkpoint; --retrain starts afresh.
import { resolveGeneratorInit } from '../core/runs/generator-init.ts'
import { modelWeightsSha256 } from '../ml/distill/regression.ts'
import { createHash } from 'node:crypto'
import { existsSync, promises as fs } from 'node:fs'
import { join } from 'node:path'
import { DiStarRun, type RunStepEvent } from '../core/runs/run-engine.ts'
import { readStatus, runDir } from '../core/runs/run-files.ts'
import type { RunConfigInput } from '../core/runs/run-config.ts'
import { atomicWriteFile } from '../util/atomic-write.ts'

export type RegulariserChoice = 'score' | 'kl'

export interface TrainingBudget {
  steps: number
  batchSize: number
  seed: number
}

export interface TrainedRun {
  id: string
  dir: string
  regulariser: RegulariserChoice
  /** true when a finished run from an earlier eval was reused */
  reused: boolean
  /** wall time of the training (from the run that made it, when reused) */
  trainingMs: number
  steps: number
}

/** Written next to a finished run: what it was trained from, and how long it took. */
interface CacheRecord {
  key: string
  trainingMs: number
}

/** in a finished run's folder: the key it was trained from and its training time */
export const CACHE_FILE = 'eval-cache.json'
/** in an unfinished run's folder: the key it is being trained from (a killed eval resumes it when the key still matches) */
export const PENDING_KEY_FILE = `${CACHE_FILE}.pending`

export function evalRunConfig(base: Record<string, unknown>, opts: {
  regulariser: RegulariserChoice
  budget: TrainingBudget
  referenceDir: string
  alignmentDir?: string
}): RunConfigInput {
  const controls = { ...(base.controls as Record<string, unknown> | undefined), regulariser: opts.regulariser }
  return {
    ...base,
    name: `eval: ${opts.regulariser === 'score' ? 'DI* (score regulariser)' : 'KL regulariser'}, alignment reward`,
    baseModelDir: opts.referenceDir,
    reward: { kind: 'alignment', ...(opts.alignmentDir ? { modelDir: opts.alignmentDir } : {}) },
    controls,
    steps: opts.budget.steps,
    batchSize: opts.budget.batchSize,
    seed: opts.budget.seed,
    // a grid at step 0 and at the end only; the eval's own sheets are the comparison
    samples: { ...(base.samples as Record<string, unknown> | undefined), every: 0 },
    // one checkpoint at the end, plus a few on the way so a killed eval resumes without losing much
    checkpoints: { every: Math.max(1, Math.ceil(opts.budget.steps / 4)), keep: 1 },
  } as RunConfigInput
}

/** The cache key: the run config and the weights it trains from and against. */
export async function trainingKey(config: RunConfigInput, referenceDir: string, alignmentDir: string): Promise<string> {
  const parts = {
    config,
    reference: await modelWeightsSha256(referenceDir),
    alignment: await modelWeightsSha256(alignmentDir),
    // only when set, so the keys of runs that start from the reference stay as they were
    ...(typeof config.generatorInit === 'string' ? { generatorInit: await modelWeightsSha256(resolveGeneratorInit(config.generatorInit)) } : {}),
  }
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex')
}

async function readCache(dir: string): Promise<CacheRecord | null> {
  try {
    return JSON.parse(await fs.readFile(join(dir, CACHE_FILE), 'utf8')) as CacheRecord
  } catch {
    return null
  }
}

export interface EnsureTrainedOptions {
  outDir: string
  id: string
  config: RunConfigInput
  key: string
  retrain: boolean
  /** threads each training step's gradients are computed on (data-parallel; default 1) */
  trainingThreads?: number
  onStep?: (e: RunStepEvent) => void
  log: (message: string) => void
}

export async function ensureTrainedRun(opts: EnsureTrainedOptions, regulariser: RegulariserChoice): Promise<TrainedRun> {
  const dir = runDir(opts.outDir, opts.id)
  const cache = existsSync(dir) ? await readCache(dir) : null
  const status = existsSync(dir) ? await readStatus(dir) : null
  const steps = (opts.config as { steps: number }).steps
  if (!opts.retrain && cache?.key === opts.key && status?.state === 'completed') {
    opts.log(`${opts.id}: reusing the trained run in ${dir} (same config and weights; --retrain to train again)`)
    return { id: opts.id, dir, regulariser, reused: true, trainingMs: cache.trainingMs, steps }
  }
  const pendingKey = join(dir, PENDING_KEY_FILE)
  let resumable = false
  if (!opts.retrain && existsSync(dir)) {
    try {
      resumable = (await fs.readFile(pendingKey, 'utf8')).trim() === opts.key
    } catch {
      resumable = false
    }
  }
  if (existsSync(dir) && !resumable) {
    opts.log(`${opts.id}: ${opts.retrain ? '--retrain' : 'the config or the weights changed'}: training again`)
    await fs.rm(dir, { recursive: true, force: true })
  }
  const started = Date.now()
  const threads = { trainingThreads: opts.trainingThreads ?? 1 }
  const run = resumable
    ? await DiStarRun.resume(opts.outDir, opts.id, threads)
    : await DiStarRun.start(opts.outDir, opts.config, { runId: opts.id, ...threads })
  try {
    if (!resumable) await atomicWriteFile(pendingKey, opts.key)
    opts.log(`${opts.id}: ${resumable ? `resuming at step ${run.step}` : 'training'} (${steps} steps, batch ${run.config.batchSize}, regulariser ${regulariser})`)
    const final = await run.run({
      onStep: opts.onStep,
      onLog: (m, level) => opts.log(`${opts.id}: ${level}: ${m}`),
      // nobody is there to press Resume: a pause (the NaN guard's) ends the eval with its reason
      onStatus: (s) => { if (s.state === 'paused') run.stop() },
    })
    if (final.state !== 'completed') throw new Error(`training run ${opts.id} ended ${final.state} at step ${final.step}/${final.totalSteps}${final.message ? `: ${final.message}` : ''}`)
  } finally {
    run.dispose()
  }
  const trainingMs = Date.now() - started
  await atomicWriteFile(join(dir, CACHE_FILE), JSON.stringify({ key: opts.key, trainingMs } satisfies CacheRecord, null, 2) + '\n')
  await fs.rm(pendingKey, { force: true })
  return { id: opts.id, dir, regulariser, reused: false, trainingMs, steps }
}
