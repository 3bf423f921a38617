// One regression distillation from start to finish (npm run distill): draw the pairs once, fit the
// one-step generator with a checkpoint every N steps, write the distilled generator. Stopping (Ctrl-C)
// saves a checkpoint; resuming continues bit for bit (RegressionDistiller's state, per-step batches).
// With `workers` > 0 each regression step's gradient is computed data-parallel on the main thread and that
// many worker threads (regression-parallel.ts); the state is the same either way, so a distillation may
// resume with another worker count (it then continues equal up to float summation order, not bit for bit).
//
//   <out>/pairs/        the (noise seed, prompt) -> reference sample pairs (a checkpoint folder)
//   <out>/state/        the resumable state: generator, Adam moments, step, loss curve, wall times
//   <out>/samples/      step-<N>.png grids of the showcase prompts
//   <out>/model/        the distilled generator (config.json + model.safetensors): a run's generatorInit
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { DataParallelTrainer } from '../backend/data-parallel.ts'
import type { TfBackendName } from '../backend/probe.ts'
import { loadCheckpoint, saveCheckpoint } from '../checkpoint/checkpoint.ts'
import { writeImageGrid } from '../diffusion/image-grid.ts'
import type { DiffusionModel } from '../diffusion/model.ts'
import { initialNoise, type SamplerKind } from '../diffusion/samplers.ts'
import { DistillError, loadPairs, makePairs, modelWeightsSha256, RegressionDistiller, savePairs, type DistillPairs, type PairSpec, type ReferenceSampler, type RegressionOptions } from './regression.ts'

/** The data-parallel model module the worker threads import (a .ts file: distillation runs under tsx). */
const REGRESSION_MODULE = new URL('./regression-parallel.ts', import.meta.url)

export interface DistillOptions {
  outDir: string
  /** the reference model folder (its weights' sha256 is recorded and checked) */
  referenceDir: string
  /** prompts the pairs are drawn from (the reference's training captions for the embedded model) */
  trainPrompts: readonly string[]
  pairs: { count: number; seed: number; sampler: SamplerKind; steps: number; guidance: number }
  regression: RegressionOptions
  /** regression steps in total */
  steps: number
  checkpointEvery: number
  /** a showcase grid every N steps (and at 0 and the end); 0 = only at 0 and the end */
  sampleEvery: number
  showcase: { prompts: string[]; seeds: number[]; columns: number }
  resume: boolean
  /** stop (with a checkpoint) after this step, as if interrupted */
  stopAtStep?: number
  /** worker threads besides the main one for the regression steps (data-parallel); 0 or absent = single-thread. Not part of the state. */
  workers?: number
}

export type DistillProgress =
  | { phase: 'pairs'; done: number; total: number }
  | { phase: 'regression'; step: number; total: number; loss: number; smoothedLoss: number; stepSeconds: number; etaSeconds: number }

export interface DistillResult {
  state: 'completed' | 'stopped'
  step: number
  smoothedLoss: number
  pairsSeconds: number
  regressionSeconds: number
  /** the mean training loss every `CURVE_EVERY` steps */
  curve: { step: number; loss: number }[]
  /** the thread counts the regression steps ran on, in the order sessions first used them (one entry unless resumed with another worker count) */
  regressionThreads: number[]
  modelDir?: string
}

const CURVE_EVERY = 10

export const distillPaths = (out: string) => ({
  pairs: join(out, 'pairs'),
  state: join(out, 'state'),
  samples: join(out, 'samples'),
  model: join(out, 'model'),
})

interface Bookkeeping {
  smoothedLoss: number
  pairsSeconds: number
  regressionSeconds: number
  curve: { step: number; loss: number }[]
  regressionThreads: number[]
}

export class Distillation {
  private stopRequested = false

  constructor(
    private readonly reference: DiffusionModel,
    private readonly opts: DistillOptions,
    private readonly hooks: { sampler: ReferenceSampler; onProgress?: (p: DistillProgress) => void; onLog?: (message: string) => void },
  ) {
    if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new DistillError(`steps must be a positive integer, got ${opts.steps}`)
    if (!Number.isInteger(opts.pairs.count) || opts.pairs.count < 1) throw new DistillError(`the pair count must be a positive integer, got ${opts.pairs.count}`)
    if (!Number.isInteger(opts.checkpointEvery) || opts.checkpointEvery < 1) throw new DistillError(`checkpointEvery must be a positive integer, got ${opts.checkpointEvery}`)
    const workers = opts.workers ?? 0
    if (!Number.isInteger(workers) || workers < 0) throw new DistillError(`workers must be a non-negative integer, got ${opts.workers}`)
  }

  /** Finish the current step, save a checkpoint and return ('stopped'). */
  requestStop(): void {
    this.stopRequested = true
  }

  async run(): Promise<DistillResult> {
    const paths = distillPaths(this.opts.outDir)
    const log = this.hooks.onLog ?? (() => {})
    if (!this.opts.resume && (existsSync(paths.state) || existsSync(paths.model))) {
      throw new DistillError(`${this.opts.outDir} already holds a distillation: resume it (--resume) or use another --out`)
    }
    const spec: PairSpec = { ...this.opts.pairs, referenceSha256: await modelWeightsSha256(this.opts.referenceDir) }
    const book: Bookkeeping = { smoothedLoss: NaN, pairsSeconds: 0, regressionSeconds: 0, curve: [], regressionThreads: [] }

    let pairs: DistillPairs
    if (existsSync(paths.pairs)) {
      pairs = await loadPairs(paths.pairs, spec, this.reference.imageShape)
      log(`using the ${spec.count} pairs in ${paths.pairs}`)
    } else {
      const started = performance.now()
      pairs = await makePairs(spec, this.opts.trainPrompts, this.hooks.sampler, (done) => this.hooks.onProgress?.({ phase: 'pairs', done, total: spec.count }))
      book.pairsSeconds = (performance.now() - started) / 1000
      await savePairs(paths.pairs, pairs, this.reference.imageShape)
      log(`drew ${spec.count} pairs in ${book.pairsSeconds.toFixed(0)} s -> ${paths.pairs}`)
    }

    const distiller = new RegressionDistiller(this.reference, pairs, this.opts.regression)
    let dp: DataParallelTrainer | null = null
    try {
      if (existsSync(paths.state)) {
        const ck = await loadCheckpoint(paths.state)
        distiller.importState(ck)
        Object.assign(book, bookkeepingOf(ck.config))
        log(`resumed at step ${distiller.step}`)
      }
      const save = async () => {
        const state = distiller.exportState()
        await saveCheckpoint(paths.state, { config: { ...(state.config as object), ...book }, tensors: state.tensors })
      }
      if (distiller.step === 0) await this.writeGrid(distiller, 0)

      const workers = this.opts.workers ?? 0
      if (distiller.step < this.opts.steps) {
        if (workers > 0) {
          dp = await DataParallelTrainer.create({
            module: REGRESSION_MODULE, config: distiller.parallelConfig, mainModel: distiller.parallelModel,
            workers, prefer: tf.getBackend() as TfBackendName,
          })
        }
        const threads = dp?.threads ?? 1
        log(dp
          ? `regression threads: ${threads} (data-parallel: the main thread + ${workers} worker${workers > 1 ? 's' : ''}, ${tf.getBackend()} backend each)`
          : `regression threads: 1 (single-thread, ${tf.getBackend()} backend)`)
        if (!book.regressionThreads.includes(threads)) book.regressionThreads.push(threads)
      }

      let windowSum = 0, windowCount = 0
      let sessionSeconds = 0, sessionSteps = 0
      while (distiller.step < this.opts.steps) {
        const t0 = performance.now()
        const loss = dp ? await distiller.trainStepParallel(dp) : distiller.trainStep()
        const seconds = (performance.now() - t0) / 1000
        const step = distiller.step
        book.regressionSeconds += seconds
        sessionSeconds += seconds
        sessionSteps++
        book.smoothedLoss = Number.isFinite(book.smoothedLoss) ? 0.95 * book.smoothedLoss + 0.05 * loss : loss
        windowSum += loss
        windowCount++
        if (step % CURVE_EVERY === 0) {
          book.curve.push({ step, loss: windowSum / windowCount })
          windowSum = 0
          windowCount = 0
        }
        this.hooks.onProgress?.({
          phase: 'regression', step, total: this.opts.steps, loss, smoothedLoss: book.smoothedLoss, stepSeconds: seconds,
          etaSeconds: (sessionSeconds / sessionSteps) * (this.opts.steps - step),
        })
        if (this.opts.sampleEvery > 0 && step % this.opts.sampleEvery === 0 && step < this.opts.steps) await this.writeGrid(distiller, step)
        const last = step === this.opts.steps
        const stopping = this.stopRequested || step === this.opts.stopAtStep
        if (last || stopping || step % this.opts.checkpointEvery === 0) await save()
        if (stopping && !last) {
          log(`stopped at step ${step}; resume with --resume`)
          return { state: 'stopped', step, ...book }
        }
      }
      await this.writeGrid(distiller, distiller.step)
      await distiller.saveGenerator(paths.model, { finalSmoothedLoss: book.smoothedLoss, pairsSeconds: book.pairsSeconds, regressionSeconds: book.regressionSeconds, regressionThreads: book.regressionThreads })
      await writeFile(join(this.opts.outDir, 'training-curve.json'), JSON.stringify({ every: CURVE_EVERY, curve: book.curve }))
      return { state: 'completed', step: distiller.step, ...book, modelDir: paths.model }
    } finally {
      await dp?.dispose()
      distiller.dispose()
    }
  }

  private async writeGrid(distiller: RegressionDistiller, step: number): Promise<void> {
    const { prompts, seeds, columns } = this.opts.showcase
    if (prompts.length === 0) return
    const z = tf.tensor4d(initialNoise(seeds, this.reference.imageShape), [prompts.length, ...this.reference.imageShape])
    const images = distiller.sample(z, prompts)
    const pixels = tf.tidy(() => tf.clipByValue(images, -1, 1).dataSync() as Float32Array)
    tf.dispose([z, images])
    await mkdir(distillPaths(this.opts.outDir).samples, { recursive: true })
    await writeImageGrid(join(distillPaths(this.opts.outDir).samples, `step-${step}.png`), pixels, prompts.length, this.reference.dit.imageSize, { columns })
  }
}

function bookkeepingOf(config: unknown): Bookkeeping {
  const c = config as Partial<Bookkeeping>
  const num = (v: unknown) => (typeof v === 'number' ? v : 0)
  return {
    smoothedLoss: typeof c.smoothedLoss === 'number' ? c.smoothedLoss : NaN,
    pairsSeconds: num(c.pairsSeconds),
    regressionSeconds: num(c.regressionSeconds),
    curve: Array.isArray(c.curve) ? c.curve.filter((p) => typeof p?.step === 'number' && typeof p?.loss === 'number') : [],
    // states saved before data-parallel regression existed were all made on one thread
    regressionThreads: Array.isArray(c.regressionThreads) ? c.regressionThreads.filter((n) => Number.isInteger(n) && n >= 1) : [1],
  }
}
