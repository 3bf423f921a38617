// The pretraining run behind `npm run pretrain`: denoising training of the text-conditional DiT on
// the emoji data, with progress, resumable atomic checkpoints and periodic sample grids.
//
// Output directory:
//   state/            resumable checkpoint: params, EMA, Adam moments (+ step, options in config.json)
//   model/            the EMA weights as a loadable DiffusionModel (what ships), refreshed with state/
//   samples/step-N.png  sample grids of the EMA model for the showcase prompts
//   metrics.jsonl     one line per logged step
//
// Reproducibility: step s draws its batch, caption dropout, timesteps and noise from
// new Rng(hash(seed, s)), so the step number is the whole random state and a resumed run
// continues bit-exactly.
//
// Threads: `workers` N >= 1 computes each step's gradient on the main thread plus N worker threads
// (DataParallelTrainer, the batch split by rows); 0 is the single-thread path. The worker count is
// not part of the run: a state saved with one count resumes with another, continuing the same
// batches, but the numbers are not bit-exact across counts (the gradient is summed in another order).
import * as tf from '@tensorflow/tfjs-core'
import { appendFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { DataParallelTrainer } from '../backend/data-parallel.ts'
import type { TfBackendName } from '../backend/probe.ts'
import { threadCpuMs } from '../backend/thread-cpu.ts'
import { loadCheckpoint, saveCheckpoint, CheckpointError, type NamedTensor } from '../checkpoint/checkpoint.ts'
import { sampleBatch, type EmojiSplit } from '../data/emoji-dataset.ts'
import type { EmojiStyle } from '../data/captions.ts'
import { Tokenizer, type TokenizerJson } from '../text/tokenizer.ts'
import { Rng, hashString } from '../util/rng.ts'
import { formatDuration } from '../../util/format-duration.ts'
import { projectRelativePath } from '../../util/resource-path.ts'
import { ditEps, ditParamShapes, countParams, disposeParams, type DitConfig } from './dit.ts'
import { writeImageGrid } from './image-grid.ts'
import { DiffusionModel } from './model.ts'
import type { SamplerKind } from './samplers.ts'
import { DEFAULT_SCHEDULE, type ScheduleConfig } from './schedule.ts'
import type { DenoisingParallelConfig } from './denoising-parallel.ts'
import { warmStartTextEmbedding } from './text-init.ts'
import { DenoisingTrainer, DEFAULT_TRAIN_HYPER, drawNoise, type NoisedBatch, type StepResult, type TrainHyper } from './training.ts'

/** The data-parallel model module the worker threads import (a .ts file: pretraining runs under tsx). */
const DENOISING_MODULE = new URL('./denoising-parallel.ts', import.meta.url)

/** Architecture knobs a user sets; vocabulary size and text length come from the tokenizer. */
export type DitArchitecture = Omit<DitConfig, 'vocabSize' | 'textLength' | 'imageSize' | 'schedule'>

export const DEFAULT_ARCHITECTURE: DitArchitecture = {
  channels: 3, patch: 4, width: 128, depth: 4, heads: 4, mlpRatio: 4, textWidth: 128, output: 'v',
}

export interface PretrainOptions {
  outDir: string
  steps: number
  batch: number
  seed: number
  resume: boolean
  imageSize: number
  /**
   * Emoji drawing styles to train on (absent = the loader's default, the two PNG styles the first
   * references used; ["twitter", "google", "fluent", ...] for the multi-style data). Saved with the
   * state: a resumed run must train on the same styles.
   */
  styles?: EmojiStyle[]
  architecture: DitArchitecture
  schedule: ScheduleConfig
  hyper: Omit<TrainHyper, 'totalSteps'>
  /** tokens per prompt */
  maxTextLength: number
  checkpointEveryMinutes: number
  /** also checkpoint every this many steps (0 = only by time) */
  checkpointEverySteps: number
  /** sample grid every this many steps (0 = only at the end) */
  sampleEvery: number
  /** run data.evaluate every this many steps (0 or absent = only at the end, if given) */
  evalEvery?: number
  sampleSteps: number
  sampler: SamplerKind
  guidance: number
  logEvery: number
  /** stop (with a checkpoint) after this step even if `steps` is larger; for tests and time boxes */
  stopAtStep?: number
  /**
   * Stop (with a checkpoint) once the steps have used this much CPU time, summed over threads. A time
   * box that other work on a shared machine does not shrink, as it shrinks a wall-time box.
   */
  stopAtCpuSeconds?: number
  /** worker threads besides the main one (data-parallel steps); 0 = single-thread. Not saved with the state. */
  workers: number
  /**
   * An alignment model folder whose word embedding rows start the DiT's (text-init.ts); new runs only,
   * a resumed run has its own trained table.
   */
  textInit?: string
}

export const DEFAULT_PRETRAIN: Omit<PretrainOptions, 'outDir'> = {
  steps: 4000,
  batch: 32,
  seed: 1,
  resume: false,
  imageSize: 32,
  architecture: DEFAULT_ARCHITECTURE,
  schedule: DEFAULT_SCHEDULE,
  hyper: (({ totalSteps: _total, ...rest }) => ({ ...rest, learningRate: 6e-4 }))(DEFAULT_TRAIN_HYPER), // totalSteps = --steps
  maxTextLength: 16,
  checkpointEveryMinutes: 5,
  checkpointEverySteps: 0,
  sampleEvery: 500,
  sampleSteps: 25,
  sampler: 'ddim',
  guidance: 3,
  logEvery: 10,
  workers: 0,
}

export interface PretrainData {
  train: EmojiSplit
  /** prompts for the sample grids */
  showcasePrompts: string[]
  /**
   * Scores the EMA model every `evalEvery` steps and at the end (e.g. the emoji judge on its samples);
   * the numbers go to eval.jsonl with the step and the training time so far, for "score against hours".
   */
  evaluate?: (model: DiffusionModel) => Promise<Record<string, number>>
}

export interface PretrainProgress {
  step: number
  totalSteps: number
  loss: number
  smoothedLoss: number
  gradNorm: number
  lr: number
  stepSeconds: number
  etaSeconds: number
}

export interface PretrainResult {
  step: number
  smoothedLoss: number
  /** wall time spent training across all sessions of this run */
  trainSeconds: number
  stopped: 'finished' | 'stop-requested' | 'stop-at-step' | 'cpu-budget'
}

interface StateConfig {
  kind: 'di-studio-pretrain-state'
  options: Omit<PretrainOptions, 'outDir' | 'resume' | 'stopAtStep' | 'stopAtCpuSeconds' | 'workers'>
  dit: DitConfig
  tokenizer: TokenizerJson
  step: number
  smoothedLoss: number
  lossWeight: number
  trainSeconds: number
  /** CPU time of the steps, summed over threads (absent in states saved before it was counted) */
  trainCpuSeconds?: number
}

const stepRng = (seed: number, step: number) => new Rng(hashString(`pretrain:${seed}:${step}`))


/** The state's options as recorded: files inside the project by project-relative path (see projectRelativePath). */
function withRecordedPaths<T extends { textInit?: string; judge?: string }>(options: T): T {
  return {
    ...options,
    ...(options.textInit ? { textInit: projectRelativePath(options.textInit) } : {}),
    ...(options.judge ? { judge: projectRelativePath(options.judge) } : {}),
  }
}

export class Pretraining {
  private stopRequested = false

  constructor(
    private readonly opts: PretrainOptions,
    private readonly data: PretrainData,
    private readonly log: (line: string) => void = (l) => console.log(l),
  ) {
    if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new Error(`--steps must be a positive integer, got ${opts.steps}`)
    if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new Error(`--batch must be a positive integer, got ${opts.batch}`)
    if (!Number.isInteger(opts.workers) || opts.workers < 0 || opts.workers > 64) throw new Error(`--workers must be an integer 0..64, got ${opts.workers}`)
    if (!Number.isInteger(opts.seed)) throw new Error(`--seed must be an integer, got ${opts.seed}`)
    if (data.train.items.length === 0) throw new Error('pretraining: the training split is empty')
    if (data.train.imageSize !== opts.imageSize) throw new Error(`pretraining: data is ${data.train.imageSize}px, options say ${opts.imageSize}px`)
  }

  /** Ask the loop to stop after the current step and save (SIGINT/SIGTERM). */
  requestStop(): void {
    this.stopRequested = true
  }

  async run(onProgress?: (p: PretrainProgress) => void): Promise<PretrainResult> {
    const o = this.opts
    const stateDir = join(o.outDir, 'state')
    await mkdir(join(o.outDir, 'samples'), { recursive: true })

    let tokenizer: Tokenizer
    let restored: { config: StateConfig; tensors: Record<string, NamedTensor> } | null = null
    if (o.resume) {
      restored = await this.readState(stateDir)
      tokenizer = Tokenizer.fromJSON(restored.config.tokenizer)
    } else {
      tokenizer = Tokenizer.build(this.data.train.items.flatMap((it) => it.captions), { maxLength: o.maxTextLength })
    }
    const created = DiffusionModel.create({ ...o.architecture, imageSize: o.imageSize }, o.schedule, tokenizer, o.seed)
    let dp: DataParallelTrainer | null = null
    let model = created
    if (o.workers > 0) {
      // The workers' module builds the same seeded init, so a fresh run starts from the same weights
      // whatever the worker count; the trainer then trains the module's (main-thread) params.
      const config: DenoisingParallelConfig = { dit: created.dit, schedule: created.schedule.config, seed: o.seed }
      try {
        dp = await DataParallelTrainer.create({ module: DENOISING_MODULE, config, workers: o.workers, prefer: tf.getBackend() as TfBackendName })
        model = new DiffusionModel(created.dit, created.schedule.config, tokenizer, dp.model.params)
      } catch (err) {
        if (dp) disposeParams(dp.model.params)
        await dp?.dispose()
        throw err
      } finally {
        created.dispose()
      }
    }
    try {
      if (!restored && o.textInit) {
        const r = await warmStartTextEmbedding(model.params, tokenizer, o.textInit)
        this.log(`text init: ${r.copied} word embedding rows from ${o.textInit} (rms ${r.rms.toFixed(3)}), ${r.missing} words it does not know keep the seeded init`)
      }
      return await this.train(model, tokenizer, restored, dp, onProgress)
    } finally {
      model.dispose()
      await dp?.dispose()
    }
  }

  private async train(
    model: DiffusionModel, tokenizer: Tokenizer,
    restored: { config: StateConfig; tensors: Record<string, NamedTensor> } | null, dp: DataParallelTrainer | null,
    onProgress?: (p: PretrainProgress) => void,
  ): Promise<PretrainResult> {
    const o = this.opts
    const stateDir = join(o.outDir, 'state')
    const dit = model.dit
    const hyper: TrainHyper = { ...o.hyper, totalSteps: o.steps }
    const trainer = new DenoisingTrainer(
      (p, x, t, cond) => ditEps(p, dit, x, t, cond as tf.Tensor2D), model.params, model.schedule, hyper,
      (b) => [b, tokenizer.maxLength],
    )
    let smoothedLoss = 0, lossWeight = 0, trainSeconds = 0, trainCpuSeconds = 0
    if (restored) {
      const state: Record<string, Float32Array> = {}
      for (const [k, t] of Object.entries(restored.tensors)) state[k] = t.data as Float32Array
      trainer.importState(state, restored.config.step)
      ;({ smoothedLoss, lossWeight, trainSeconds } = restored.config)
      trainCpuSeconds = restored.config.trainCpuSeconds ?? 0 // absent in states saved before it was counted
      this.log(`resumed from ${stateDir} at step ${trainer.step}`)
    } else {
      this.log(`new run: ${countParams(dit).toLocaleString('en')} parameters, vocab ${tokenizer.vocabSize}, ${this.data.train.items.length} training images`)
    }
    this.log(dp
      ? `threads: ${dp.threads} (data-parallel: the main thread + ${dp.threads - 1} worker${dp.threads > 2 ? 's' : ''}, ${tf.getBackend()} backend each)`
      : `threads: 1 (single-thread, ${tf.getBackend()} backend)`)

    const imageElements = o.imageSize * o.imageSize * 3
    const imageShape: [number, number, number] = [o.imageSize, o.imageSize, 3]
    const endStep = Math.min(o.steps, o.stopAtStep ?? o.steps)
    let lastCheckpoint = performance.now()
    let stepSecondsAvg = 0
    // CPU time each thread spent in steps this session (main first), for the end-of-session line
    const cpuMsByThread: number[] = new Array<number>(dp?.threads ?? 1).fill(0)
    let sessionSteps = 0
    const save = async () => {
      await this.writeState(stateDir, trainer, dit, tokenizer, { smoothedLoss, lossWeight, trainSeconds, trainCpuSeconds })
      await this.writeEmaModel(model, trainer, smoothedLoss, trainSeconds)
      lastCheckpoint = performance.now()
    }

    try {
      const cpuBudgetLeft = () => o.stopAtCpuSeconds === undefined || trainCpuSeconds < o.stopAtCpuSeconds
      while (trainer.step < endStep && !this.stopRequested && cpuBudgetLeft()) {
        const step = trainer.step
        const rng = stepRng(o.seed, step)
        const batch = sampleBatch(this.data.train, rng, o.batch, { captionDropout: o.hyper.captionDropout })
        const { t, noise } = drawNoise(rng, model.schedule, o.batch, imageElements)
        const noised: NoisedBatch = { x0: batch.images, t, noise, cond: tokenizer.encodeBatch(batch.prompts) }
        const started = performance.now()
        const cpuStarted = threadCpuMs()
        const r: StepResult & { cpuMs?: number[] } = dp ? await trainer.trainStepParallel(dp, noised, imageShape) : await trainer.trainStep(noised, imageShape)
        // the main thread's whole step (incl. the update), then each worker's gradient work
        const cpuMs = [threadCpuMs() - cpuStarted, ...(r.cpuMs?.slice(1) ?? [])]
        cpuMs.forEach((ms, i) => { cpuMsByThread[i]! += ms })
        // Where the thread CPU clock is missing (not Linux), count the wall time of every thread instead,
        // so a CPU budget still ends the run (later than a true CPU count would on a busy machine).
        const stepCpu = cpuMs.reduce((a, b) => a + b, 0) / 1000
        trainCpuSeconds += Number.isFinite(stepCpu) ? stepCpu : (performance.now() - started) / 1000 * cpuMs.length
        sessionSteps++
        if (!Number.isFinite(r.loss)) throw new Error(`pretraining diverged: loss ${r.loss} at step ${step + 1} (last checkpoint is intact)`)
        const seconds = (performance.now() - started) / 1000
        trainSeconds += seconds
        stepSecondsAvg = stepSecondsAvg === 0 ? seconds : 0.95 * stepSecondsAvg + 0.05 * seconds
        lossWeight = 0.98 * lossWeight + 0.02
        smoothedLoss = 0.98 * smoothedLoss + 0.02 * r.loss
        const progress: PretrainProgress = {
          step: trainer.step, totalSteps: o.steps, loss: r.loss, smoothedLoss: smoothedLoss / lossWeight,
          gradNorm: r.gradNorm, lr: r.lr, stepSeconds: seconds, etaSeconds: (o.steps - trainer.step) * stepSecondsAvg,
        }
        onProgress?.(progress)
        if (trainer.step % o.logEvery === 0 || trainer.step === endStep) {
          this.log(`step ${trainer.step}/${o.steps}  loss ${r.loss.toFixed(4)}  smoothed ${progress.smoothedLoss.toFixed(4)}  ` +
            `|g| ${r.gradNorm.toFixed(2)}  lr ${r.lr.toExponential(1)}  ${stepSecondsAvg.toFixed(2)} s/step  ETA ${formatDuration(progress.etaSeconds)}`)
          await appendFile(join(o.outDir, 'metrics.jsonl'), JSON.stringify({ ...progress, trainSeconds, trainCpuSeconds, time: new Date().toISOString() }) + '\n')
        }
        const byTime = performance.now() - lastCheckpoint > o.checkpointEveryMinutes * 60_000
        const bySteps = o.checkpointEverySteps > 0 && trainer.step % o.checkpointEverySteps === 0
        if (byTime || bySteps) {
          await save()
          this.log(`checkpoint at step ${trainer.step} -> ${stateDir}`)
        }
        if (o.sampleEvery > 0 && trainer.step % o.sampleEvery === 0) await this.writeSamples(model, trainer)
        if ((o.evalEvery ?? 0) > 0 && trainer.step % o.evalEvery! === 0) await this.evaluate(model, trainer, trainSeconds, trainCpuSeconds)
      }
      await save()
      if (trainer.step >= o.steps && (o.sampleEvery === 0 || trainer.step % o.sampleEvery !== 0)) await this.writeSamples(model, trainer)
      if (sessionSteps > 0 && ((o.evalEvery ?? 0) === 0 || trainer.step % o.evalEvery! !== 0)) await this.evaluate(model, trainer, trainSeconds, trainCpuSeconds)
      if (sessionSteps > 0 && cpuMsByThread.every(Number.isFinite)) {
        const perStep = cpuMsByThread.map((ms) => `${(ms / sessionSteps / 1000).toFixed(2)} s`)
        this.log(`CPU per step by thread (main first): ${perStep.join(', ')} (mean of ${sessionSteps} steps)`)
      }
      const stopped = trainer.step >= o.steps ? 'finished' : this.stopRequested ? 'stop-requested' : cpuBudgetLeft() ? 'stop-at-step' : 'cpu-budget'
      this.log(`${stopped} at step ${trainer.step}; state in ${stateDir}, EMA model in ${join(o.outDir, 'model')}`)
      return { step: trainer.step, smoothedLoss: lossWeight > 0 ? smoothedLoss / lossWeight : NaN, trainSeconds, stopped }
    } finally {
      trainer.dispose() // the caller disposes the model (and with it the params)
    }
  }

  private async readState(stateDir: string): Promise<{ config: StateConfig; tensors: Record<string, NamedTensor> }> {
    const first = await loadCheckpoint(stateDir)
    const config = first.config as StateConfig
    if (config?.kind !== 'di-studio-pretrain-state') throw new CheckpointError(`${stateDir} is not a pretraining state checkpoint`)
    const o = this.opts
    const mismatch = (['batch', 'seed', 'imageSize'] as const).filter((k) => config.options[k] !== o[k])
    if (JSON.stringify(config.options.architecture) !== JSON.stringify(o.architecture)) mismatch.push('architecture' as never)
    if (JSON.stringify(config.options.styles ?? null) !== JSON.stringify(o.styles ?? null)) mismatch.push('styles' as never)
    if (mismatch.length > 0) throw new Error(`--resume: the saved run differs in ${mismatch.join(', ')}; pass the same options (or a new --out)`)
    if (config.options.steps !== o.steps) this.log(`note: --steps changed from ${config.options.steps} to ${o.steps}; the learning-rate schedule follows the new total`)
    const shapes: Record<string, number[]> = {}
    for (const [name, shape] of Object.entries(ditParamShapes(config.dit))) {
      for (const group of ['param', 'ema', 'adam_m', 'adam_v']) shapes[`${group}/${name}`] = shape
    }
    return { config, tensors: (await loadCheckpoint(stateDir, { expectShapes: shapes })).tensors }
  }

  private async writeState(stateDir: string, trainer: DenoisingTrainer, dit: DitConfig, tokenizer: Tokenizer,
    stats: { smoothedLoss: number; lossWeight: number; trainSeconds: number; trainCpuSeconds: number }): Promise<void> {
    const { outDir: _o, resume: _r, stopAtStep: _s, stopAtCpuSeconds: _c, workers: _w, ...options } = this.opts
    const config: StateConfig = { kind: 'di-studio-pretrain-state', options: withRecordedPaths(options), dit, tokenizer: tokenizer.toJSON(), step: trainer.step, ...stats }
    const tensors: Record<string, NamedTensor> = {}
    const shapes = ditParamShapes(dit)
    for (const [key, data] of Object.entries(await trainer.exportState())) {
      tensors[key] = { dtype: 'float32', shape: shapes[key.slice(key.indexOf('/') + 1)]!, data }
    }
    await saveCheckpoint(stateDir, { config, tensors })
  }

  private async writeEmaModel(model: DiffusionModel, trainer: DenoisingTrainer, smoothedLoss: number, trainSeconds: number): Promise<void> {
    const emaModel = new DiffusionModel(model.dit, model.schedule.config, model.tokenizer, trainer.ema, {
      steps: trainer.step, batch: this.opts.batch, seed: this.opts.seed, emaDecay: this.opts.hyper.emaDecay,
      smoothedLoss, trainSeconds: Math.round(trainSeconds), backend: tf.getBackend(),
      data: `${this.opts.styles ? `emoji styles ${this.opts.styles.join(', ')}` : 'emoji-datasource-twitter + emoji-datasource-google 16.0.0'}, ${this.data.train.items.length} training images`,
      // the drawing styles it learnt (the studio's emoji browser lists what a model knows from them)
      styles: this.opts.styles ?? ['twitter', 'google'],
      // where the word embeddings started (the model card's recipe needs it)
      ...(this.opts.textInit ? { textInit: projectRelativePath(this.opts.textInit) } : {}),
    })
    await emaModel.save(join(this.opts.outDir, 'model'))
  }

  private async evaluate(model: DiffusionModel, trainer: DenoisingTrainer, trainSeconds: number, trainCpuSeconds: number): Promise<void> {
    if (!this.data.evaluate) return
    const started = performance.now()
    const ema = new DiffusionModel(model.dit, model.schedule.config, model.tokenizer, trainer.ema)
    const scores = await this.data.evaluate(ema) // not disposed: the EMA params belong to the trainer
    const line = { step: trainer.step, trainSeconds: Math.round(trainSeconds), trainCpuSeconds: Math.round(trainCpuSeconds), ...scores, time: new Date().toISOString() }
    await appendFile(join(this.opts.outDir, 'eval.jsonl'), JSON.stringify(line) + '\n')
    this.log(`eval at step ${trainer.step}: ${Object.entries(scores).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`).join(', ')} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  }

  private async writeSamples(model: DiffusionModel, trainer: DenoisingTrainer): Promise<void> {
    const prompts = this.data.showcasePrompts
    if (prompts.length === 0) return
    const started = performance.now()
    const o = this.opts
    const images = model.generate(prompts, { steps: o.sampleSteps, sampler: o.sampler, guidance: o.guidance, seeds: prompts.map((_, i) => i) }, trainer.ema)
    const data = (await images.data()) as Float32Array
    images.dispose()
    const path = join(o.outDir, 'samples', `step-${String(trainer.step).padStart(6, '0')}.png`)
    await writeImageGrid(path, data, prompts.length, o.imageSize, { columns: Math.ceil(Math.sqrt(prompts.length)) })
    this.log(`samples -> ${path} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  }
}
