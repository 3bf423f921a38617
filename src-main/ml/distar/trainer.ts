// One DI* step (di-star.md §3.1): K fake-score updates by denoising on detached generator samples, then one
// generator update on  -α Σ_k mix_k r_k  +  λ_reg * regulariser.  Each network has its own Adam.
//
// Determinism: all randomness of step n comes from a fresh Rng seeded by (seed, n), so the weights after
// n steps depend only on the seed, the controls used and the starting state; resuming needs no RNG state,
// only the step counter and the optimizer states (exportState / importState).
//
// NaN guard: each of the K+1 updates reads its loss and gradient norm before touching anything. A non-finite
// value means that update is not applied (weights and optimizer state untouched); the step is reported
// 'skipped' with the reason and counted. After `pauseAfterNonFinite` skipped steps in a row the trainer
// pauses: step() then does nothing and returns 'paused' with the reason until resume() is called.
//
// Gradient norms of the reward and regulariser parts are measured in image space, as the norms of
// ∂(part)/∂x0 with the weights α and λ_reg applied (x0 = the generated batch). One backward pass serves
// both: x0 feeds each part through an identity whose gradient function records the norm of the gradient
// arriving from that part. The parameter-space gradient is the usual sum; it is clipped as a whole.
//
// Where the gradients are computed: by default on this thread; after useDataParallel(dp) on all of dp's
// threads, each taking a slice of the batch (ml/backend/data-parallel.ts). Both run the same losses
// (step-model.ts) on the same random draws, which the trainer makes here, on the main thread; the
// optimizers, clipping and the NaN guard stay here too. One step is written once, as a plan that asks
// for gradients (stepPlan); step() runs it synchronously on this thread, stepAsync() on either.
// A batch bigger than maxRowsPerPass rows per thread is computed in passes whose gradients are summed
// (gradient accumulation; GradientSum below): the same step up to float rounding, in bounded memory.
import * as tf from '@tensorflow/tfjs-core'
import { Rng, hashString } from '../util/rng.ts'
import {
  batchRows, gradientsOf, sliceBatch, splitRows, type BatchArrays, type DataParallelModel, type DataParallelTrainer, type GradientRequest,
} from '../backend/data-parallel.ts'
import { Adam, DEFAULT_ADAM, type AdamSettings, type AdamState } from './adam.ts'
import { validateControls, type DiStarControls } from './controls.ts'
import { drawNoiseArrays } from './losses.ts'
import {
  diStarStepModel, fakeParamName, generatorParamName, FAKE_LOSS, GENERATOR_LOSS, METRIC,
  type GeneratorLossOptions,
} from './step-model.ts'
import type { EpsModel, Reward, ScheduleTables } from './types.ts'

/** Prompts for one batch and their conditioning tensors (created inside the trainer's tidy, so freed by it). */
export interface ConditioningBatch {
  prompts: string[]
  /** the network's conditioning for these prompts, batch-first (e.g. int32 token ids [B, L]) */
  cond: tf.Tensor
  /** the empty-prompt conditioning, same shape as `cond` (used for the reference's CFG) */
  nullCond: tf.Tensor
}

export type ConditioningSource = (rng: Rng, batchSize: number) => ConditioningBatch

export interface DiStarTrainerOptions {
  /** g_θ: trainable, initialised from the reference by the caller */
  generator: EpsModel
  /** s_ψ: trainable, initialised from the reference by the caller */
  fake: EpsModel
  /** the frozen reference; its parameters are never updated */
  reference: EpsModel
  schedule: ScheduleTables
  /** the generator's input timestep (DMD2/DI*: 399 of 1000); keep it for ONNX inference too */
  tInit: number
  batchSize: number
  /** one sample's shape [H, W, C] */
  imageShape: [number, number, number]
  conditioning: ConditioningSource
  rewards: Reward[]
  seed: number
  controls: DiStarControls
  adam?: AdamSettings
  /** skipped steps in a row before the trainer pauses (default 5) */
  pauseAfterNonFinite?: number
  /**
   * Rows one thread takes through the networks at once (default: the whole batch). A bigger batch is
   * computed in passes of at most this many rows per thread whose gradients are accumulated, which is the
   * same gradient up to float rounding in bounded memory (wasm's heap stops at 4 GB).
   */
  maxRowsPerPass?: number
  /** TEST-ONLY: puts NaN/Inf into a step (see DiStarFaultInjection); never set by the studio, CLI or jobs */
  faultInjectionForTests?: DiStarFaultInjection
}

/**
 * TEST-ONLY fault hooks for the reliability tests (tests/unit/reliability-numeric.test.ts): each may
 * return a poisoned copy of the tensor it is given (created inside the step's tidy, so freed with it).
 * Absent in every normal run, where the step is exactly as without them.
 */
export interface DiStarFaultInjection {
  /** the data batch of both updates: the generator's input noise z */
  latents?(z: tf.Tensor4D, step: number): tf.Tensor4D
  /** the generator's one-step output x0 (fake-score and generator updates) */
  generatorOutput?(x0: tf.Tensor4D, step: number): tf.Tensor4D
  /** a reward's per-image scores */
  rewardScores?(scores: tf.Tensor1D, rewardName: string, step: number): tf.Tensor1D
}

export interface DiStarLosses {
  /** -α Σ mix_k r̄_k + λ_reg * regulariser */
  generatorTotal: number
  /** the regulariser's surrogate loss (its gradient is the divergence's; its value averages ~0 when the fake is exact) */
  regulariser: number
  /** pseudo-Huber divergence sqrt(|Δ|²+C²) - C, batch mean (the quantity the score form decreases) */
  divergence: number
  /** RMS epsilon gap between fake and reference, |Δ| / sqrt(dim) */
  scoreGap: number
  /** the CFG-out implicit-reward part of `regulariser` (0 with CFG inside) */
  cfgOut: number
  /** -α Σ mix_k r̄_k */
  rewardTerm: number
  /** batch mean score of each reward, by name (unweighted) */
  rewards: Record<string, number>
  /** mean fake-score denoising loss over the K updates (NaN when K = 0) */
  fakeScore: number
}

export interface DiStarGradNorms {
  /** |∂(rewardTerm)/∂x0| over the batch */
  reward: number
  /** |∂(λ_reg * regulariser)/∂x0| over the batch */
  regulariser: number
  /** reward / regulariser (Infinity when the regulariser gradient is 0) */
  ratio: number
  /** global norm of the generator's parameter gradient before clipping */
  generator: number
  /** mean global norm of the fake-score parameter gradients before clipping (NaN when K = 0) */
  fake: number
}

export interface DiStarTimings {
  fakeMs: number
  /** generator forward + reward + regulariser forward and backward */
  generatorGradMs: number
  /** reading the step's numbers back (waits for the backend to finish) */
  readbackMs: number
  /** the two optimizers' updates */
  updateMs: number
  totalMs: number
}

export type DiStarStepStatus = 'ok' | 'skipped' | 'paused'

export interface DiStarStepResult {
  status: DiStarStepStatus
  /** index of this step (0-based); a paused call does not consume an index */
  step: number
  /** why the step was skipped or the run paused */
  reason?: string
  /** skipped steps in a row, including this one */
  consecutiveSkips: number
  /** total skipped steps so far */
  totalSkips: number
  losses: DiStarLosses
  gradNorms: DiStarGradNorms
  timings: DiStarTimings
  /** the controls this step ran with */
  controls: DiStarControls
}

export interface DiStarTrainerState {
  /** steps taken (the index of the next step) */
  step: number
  consecutiveSkips: number
  totalSkips: number
  pausedReason: string | null
  generatorOptimizer: AdamState
  fakeOptimizer: AdamState
}

/**
 * Wiring to the DiT, for example:
 *
 *   const eps: EpsFn = (p, x, t, cond) => ditEps(p, model.dit, x, t, cond as tf.Tensor2D)
 *   const trainer = new DiStarTrainer({
 *     generator: { eps, params: model.cloneParams(true) }, fake: { eps, params: model.cloneParams(true) },
 *     reference: { eps, params: model.params }, schedule: model.schedule, tInit: 399, batchSize: 16,
 *     imageShape: [32, 32, 3], rewards: [alignment], seed, controls: { ...DEFAULT_CONTROLS },
 *     conditioning: (rng, B) => { const prompts = ...; return { prompts, cond: tf.tensor2d(tok.encodeBatch(prompts), [B, L], 'int32'),
 *                                                         nullCond: tf.zeros([B, L], 'int32') } },
 *   })
 *   const result = trainer.step()   // plain numbers; trainer.controls may change before the next call
 */
export class DiStarTrainer {
  /** read (and validated) at the start of every step; replace or edit between steps */
  controls: DiStarControls
  private readonly opts: DiStarTrainerOptions
  private readonly generatorOpt: Adam
  private readonly fakeOpt: Adam
  private stepIndex = 0
  private consecutiveSkips = 0
  private totalSkips = 0
  private pausedReason: string | null = null
  private readonly T: number
  private readonly pauseAfter: number
  /** both losses as one model over {generator/*, fake/*}: pass it to DataParallelTrainer.create as mainModel */
  readonly stepModel: DataParallelModel
  private parallel: DataParallelTrainer | null = null
  private rewardFailures: string[] = []
  /** CPU milliseconds each data-parallel worker thread spent on the last stepAsync (empty on one thread); for the bench */
  lastStepWorkerCpuMs: number[] = []

  constructor(opts: DiStarTrainerOptions) {
    this.T = opts.schedule.alphas.length
    checkOptions(opts, this.T)
    this.opts = opts
    this.controls = validateControls(opts.controls, this.T)
    this.pauseAfter = opts.pauseAfterNonFinite ?? 5
    if (!Number.isInteger(this.pauseAfter) || this.pauseAfter < 1) throw new Error(`pauseAfterNonFinite must be an integer >= 1, got ${this.pauseAfter}`)
    this.generatorOpt = new Adam(opts.generator.params, opts.adam ?? DEFAULT_ADAM)
    this.fakeOpt = new Adam(opts.fake.params, opts.adam ?? DEFAULT_ADAM)
    const faults = opts.faultInjectionForTests
    const step = () => this.stepIndex - 1 // the step being run (stepIndex was already advanced)
    this.stepModel = diStarStepModel(opts, {
      generatorOutput: faults?.generatorOutput ? (x0) => faults.generatorOutput!(x0, step()) : undefined,
      rewardScores: faults?.rewardScores ? (scores, name) => faults.rewardScores!(scores, name, step()) : undefined,
      onRewardFailure: (message) => this.rewardFailures.push(message),
    })
  }

  /**
   * Computes every following step's gradients on all of `dp`'s threads. `dp` must have been created with
   * this trainer's stepModel as its main model (its workers build the same model from the same files);
   * the caller keeps ownership and disposes it. Only stepAsync() can then run steps.
   */
  useDataParallel(dp: DataParallelTrainer): void {
    if (dp.model !== this.stepModel) throw new Error('DiStarTrainer.useDataParallel: the DataParallelTrainer must be created with mainModel: trainer.stepModel')
    if (this.opts.faultInjectionForTests) throw new Error('DiStarTrainer: the test-only fault hooks run on one thread only')
    this.parallel = dp
  }

  /** Threads computing each step's gradients (1 unless useDataParallel was called). */
  /** steps taken so far (skipped ones included): the index of the next step */
  get stepsTaken(): number {
    return this.stepIndex
  }

  /** generator updates applied so far (skipped steps apply none) */
  get generatorUpdates(): number {
    return this.generatorOpt.step
  }

  get threads(): number {
    return this.parallel?.threads ?? 1
  }

  get paused(): string | null {
    return this.pausedReason
  }

  /** skipped steps: in a row up to the last one taken (0 when it applied), and in all */
  get skips(): { inARow: number; total: number } {
    return { inARow: this.consecutiveSkips, total: this.totalSkips }
  }

  /** Clears a NaN pause; the next step runs (with fresh noise, since the step index moved on). */
  resume(): void {
    this.pausedReason = null
    this.consecutiveSkips = 0
  }

  /** One step, its gradients computed on this thread. */
  step(): DiStarStepResult {
    if (this.parallel) throw new Error('DiStarTrainer.step: gradients are data-parallel; use stepAsync()')
    const plan = this.stepPlan()
    let next = plan.next()
    while (!next.done) {
      const sum = new GradientSum()
      try {
        for (const pass of this.passes(next.value)) sum.add(this.localGradients(pass), passRows(pass))
      } catch (err) {
        sum.dispose()
        throw err
      }
      next = plan.next(sum.mean())
    }
    return next.value
  }

  /** One step, its gradients computed on all threads when useDataParallel was called, else on this one. */
  async stepAsync(): Promise<DiStarStepResult> {
    const plan = this.stepPlan()
    this.lastStepWorkerCpuMs = []
    let next = plan.next()
    while (!next.done) {
      const sum = new GradientSum()
      try {
        for (const pass of this.passes(next.value)) sum.add(await this.passGradients(pass), passRows(pass))
      } catch (err) {
        sum.dispose()
        throw err
      }
      next = plan.next(sum.mean())
    }
    return next.value
  }

  /** One pass's gradients: on every thread (each a slice of the pass) after useDataParallel, else here. */
  private async passGradients(request: PlannedRequest): Promise<PlannedGradients> {
    if (!this.parallel) return this.localGradients(request)
    const result = await this.parallel.computeGradients(request.batch, request)
    result.cpuMs.slice(1).forEach((ms, i) => { this.lastStepWorkerCpuMs[i] = (this.lastStepWorkerCpuMs[i] ?? 0) + ms })
    return result
  }

  /**
   * A request cut into passes of at most maxRowsPerPass rows per thread (contiguous rows, with their
   * texts); the whole request when it fits. The options (the full batch's row count) travel unchanged.
   */
  private passes(request: PlannedRequest): PlannedRequest[] {
    const rows = passRows(request)
    const perPass = (this.opts.maxRowsPerPass ?? rows) * this.threads
    if (rows <= perPass) return [request]
    return splitRows(rows, Math.ceil(rows / perPass)).map(([start, end]) => ({
      ...request,
      batch: sliceBatch(request.batch, start, end),
      ...(request.texts ? { texts: Object.fromEntries(Object.entries(request.texts).map(([k, v]) => [k, v.slice(start, end)])) } : {}),
    }))
  }

  /** The step as a plan: yields each update's gradient request and receives its averaged gradients. */
  private *stepPlan(): Generator<PlannedRequest, DiStarStepResult, PlannedGradients> {
    const controls = validateControls(this.controls, this.T)
    const started = performance.now()
    if (this.pausedReason !== null) {
      return this.result('paused', this.stepIndex, controls, emptyLosses(), emptyNorms(), { fakeMs: 0, generatorGradMs: 0, readbackMs: 0, updateMs: 0, totalMs: 0 }, this.pausedReason)
    }
    const index = this.stepIndex++
    const rng = new Rng(stepSeed(this.opts.seed, index))
    const timings: DiStarTimings = { fakeMs: 0, generatorGradMs: 0, readbackMs: 0, updateMs: 0, totalMs: 0 }
    const problems: string[] = []

    // (a) K fake-score updates
    let fakeLossSum = 0
    let fakeNormSum = 0
    const K = controls.fakeStepsPerGeneratorStep
    const fakeStart = performance.now()
    for (let k = 0; k < K; k++) {
      const { batch } = this.drawBatch(rng, controls, false)
      const r = yield { batch, loss: FAKE_LOSS, wrt: Object.keys(this.opts.fake.params).map(fakeParamName) }
      const grads = unprefixed(r.grads, fakeParamName, this.opts.fake.params)
      const gradNorm = readGlobalNorm(grads)
      fakeLossSum += r.loss
      fakeNormSum += gradNorm
      const problem = nonFinite({ loss: r.loss, 'gradient norm': gradNorm })
      if (problem) problems.push(`fake-score update ${k + 1}/${K}: ${problem}`)
      else this.fakeOpt.apply(grads, controls.fakeLr, clipScale(gradNorm, controls.maxGradNorm))
      tf.dispose(Object.values(grads))
    }
    timings.fakeMs = performance.now() - fakeStart

    // (b) one generator update
    const gradStart = performance.now()
    const { batch, prompts } = this.drawBatch(rng, controls, true)
    this.rewardFailures = []
    const options: GeneratorLossOptions = { controls, batchRows: this.opts.batchSize }
    const r = yield { batch, loss: GENERATOR_LOSS, wrt: Object.keys(this.opts.generator.params).map(generatorParamName), texts: { prompts }, options }
    timings.generatorGradMs = performance.now() - gradStart
    const readStart = performance.now()
    const grads = unprefixed(r.grads, generatorParamName, this.opts.generator.params)
    const genNorm = readGlobalNorm(grads)
    timings.readbackMs = performance.now() - readStart
    const m = (name: string) => r.metrics[name] ?? 0
    const scores: Record<string, number> = {}
    const failures = [...this.rewardFailures]
    for (const reward of this.opts.rewards) {
      scores[reward.name] = m(METRIC.reward(reward.name))
      // a failure on another thread arrives as a flag only (its message stayed in the worker)
      if (m(METRIC.rewardFailed(reward.name)) > 0 && !failures.some((f) => f.startsWith(`reward '${reward.name}'`))) {
        failures.push(`reward '${reward.name}' failed on a data-parallel worker thread`)
      }
    }
    const rewardNorm = Math.sqrt(m(METRIC.rewardGradSq))
    const regNorm = Math.sqrt(m(METRIC.regulariserGradSq))
    const problem = [...failures, nonFinite({ 'generator loss': r.loss, 'gradient norm': genNorm })].filter(Boolean).join(', ')
    const updateStart = performance.now()
    if (!problem) this.generatorOpt.apply(grads, controls.generatorLr, clipScale(genNorm, controls.maxGradNorm))
    tf.dispose(Object.values(grads))
    timings.updateMs = performance.now() - updateStart
    if (problem) problems.push(`generator update: ${problem}`)

    const losses: DiStarLosses = {
      generatorTotal: r.loss, regulariser: m(METRIC.regulariser), divergence: m(METRIC.divergence), scoreGap: m(METRIC.scoreGap),
      cfgOut: m(METRIC.cfgOut), rewardTerm: m(METRIC.rewardTerm), rewards: scores, fakeScore: K > 0 ? fakeLossSum / K : NaN,
    }
    const norms: DiStarGradNorms = {
      reward: rewardNorm, regulariser: regNorm, ratio: regNorm > 0 ? rewardNorm / regNorm : rewardNorm > 0 ? Infinity : 0,
      generator: genNorm, fake: K > 0 ? fakeNormSum / K : NaN,
    }
    timings.totalMs = performance.now() - started

    if (problems.length === 0) {
      this.consecutiveSkips = 0
      return this.result('ok', index, controls, losses, norms, timings)
    }
    this.consecutiveSkips++
    this.totalSkips++
    const reason = problems.join('; ')
    if (this.consecutiveSkips >= this.pauseAfter) {
      this.pausedReason = `paused: ${this.consecutiveSkips} steps in a row were skipped (last: ${reason})`
      return this.result('paused', index, controls, losses, norms, timings, this.pausedReason)
    }
    return this.result('skipped', index, controls, losses, norms, timings, reason)
  }

  private localGradients(request: PlannedRequest): PlannedGradients {
    return gradientsOf(this.stepModel, request.batch, request.loss, request.wrt, { texts: request.texts ?? {}, options: request.options })
  }

  /**
   * One update's random draws as plain arrays, in a fixed order (prompts, z, then t and eps), so a step
   * is the same function of (seed, step) on any number of threads.
   */
  private drawBatch(rng: Rng, controls: DiStarControls, withNullCond: boolean): { batch: BatchArrays; prompts: string[] } {
    const B = this.opts.batchSize
    const shape = this.batchShape()
    let prompts: string[] = []
    // tidy: whatever the conditioning source creates on the way is freed too
    const [cond, nullCond] = tf.tidy(() => {
      const c = this.conditioning(rng)
      prompts = c.prompts
      return [c.cond, c.nullCond]
    })
    const batch: BatchArrays = {}
    try {
      batch.cond = arrayOf(cond)
      if (withNullCond) batch.nullCond = arrayOf(nullCond)
    } finally {
      tf.dispose([cond, nullCond])
    }
    batch.z = { data: this.faultLatents(rng.normals(shape.reduce((a, b) => a * b, 1))), shape }
    const noise = drawNoiseArrays(rng, this.opts.schedule, shape, controls.tRange)
    batch.t = { data: noise.t, shape: [B] }
    batch.alpha = { data: noise.alpha, shape: [B, 1, 1, 1] }
    batch.sigma = { data: noise.sigma, shape: [B, 1, 1, 1] }
    batch.eps = { data: noise.eps, shape }
    return { batch, prompts }
  }

  exportState(): DiStarTrainerState {
    return {
      step: this.stepIndex,
      consecutiveSkips: this.consecutiveSkips,
      totalSkips: this.totalSkips,
      pausedReason: this.pausedReason,
      generatorOptimizer: this.generatorOpt.exportState(),
      fakeOptimizer: this.fakeOpt.exportState(),
    }
  }

  /** Restores counters and both optimizers (the weights are restored by the caller, from its checkpoint). */
  importState(state: DiStarTrainerState): void {
    if (!state || !Number.isInteger(state.step) || state.step < 0) throw new Error('DiStarTrainer.importState: not a trainer state (need an integer step >= 0)')
    // check both before changing either, so a bad state leaves the trainer as it was
    this.generatorOpt.checkState(state.generatorOptimizer)
    this.fakeOpt.checkState(state.fakeOptimizer)
    this.generatorOpt.importState(state.generatorOptimizer)
    this.fakeOpt.importState(state.fakeOptimizer)
    this.stepIndex = state.step
    this.consecutiveSkips = state.consecutiveSkips ?? 0
    this.totalSkips = state.totalSkips ?? 0
    this.pausedReason = state.pausedReason ?? null
  }

  /** Frees the optimizer moments (the parameter records belong to the caller). */
  dispose(): void {
    this.generatorOpt.dispose()
    this.fakeOpt.dispose()
  }

  // ---------------------------------------------------------------------------------------------

  /** The test-only latents hook (identity unless faultInjectionForTests sets it), on the drawn z. */
  private faultLatents(z: Float32Array): Float32Array {
    const hook = this.opts.faultInjectionForTests?.latents
    if (!hook) return z
    return tf.tidy(() => hook(tf.tensor4d(z, this.batchShape()), this.stepIndex - 1).dataSync() as Float32Array)
  }

  private conditioning(rng: Rng): ConditioningBatch {
    const B = this.opts.batchSize
    const batch = this.opts.conditioning(rng, B)
    if (!batch || batch.prompts?.length !== B || batch.cond?.shape[0] !== B || batch.nullCond?.shape[0] !== B) {
      throw new Error(`DI* conditioning source must return ${B} prompts and cond/nullCond tensors with batch size ${B}`)
    }
    return batch
  }

  private batchShape(): [number, number, number, number] {
    return [this.opts.batchSize, ...this.opts.imageShape]
  }

  private result(status: DiStarStepStatus, step: number, controls: DiStarControls, losses: DiStarLosses, gradNorms: DiStarGradNorms, timings: DiStarTimings, reason?: string): DiStarStepResult {
    return { status, step, ...(reason ? { reason } : {}), consecutiveSkips: this.consecutiveSkips, totalSkips: this.totalSkips, losses, gradNorms, timings, controls }
  }
}

/** A gradient request as the step plan makes it (loss and wrt always set). */
type PlannedRequest = GradientRequest & { batch: BatchArrays; loss: string; wrt: string[] }

/** What the plan needs back: the full batch's loss, metrics and gradients keyed by step-model param name. */
interface PlannedGradients {
  loss: number
  metrics: Record<string, number>
  grads: Record<string, tf.Tensor>
}

function passRows(request: PlannedRequest): number {
  return batchRows(request.batch)
}

/**
 * Gradient accumulation over passes: every loss and metric is a mean over a pass's rows (step-model.ts),
 * so their row-weighted means over the passes are the whole batch's, and so is the gradient's.
 */
class GradientSum {
  private rows = 0
  private loss = 0
  private readonly metrics: Record<string, number> = {}
  private grads: Record<string, tf.Tensor> | null = null
  private only: PlannedGradients | null = null

  add(pass: PlannedGradients, rows: number): void {
    if (this.rows === 0) this.only = pass
    else {
      if (this.only) this.absorb(this.only, this.rows)
      this.only = null
      this.absorb(pass, rows)
    }
    this.rows += rows
  }

  /** The batch's loss, metrics and gradients (one pass: exactly its own). */
  mean(): PlannedGradients {
    if (this.only) return this.only
    if (!this.grads) throw new Error('GradientSum: no passes')
    const grads = this.grads
    this.grads = null
    const rows = this.rows
    return {
      loss: this.loss / rows,
      metrics: Object.fromEntries(Object.entries(this.metrics).map(([k, v]) => [k, v / rows])),
      grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => {
        const mean = tf.div(g, rows)
        g.dispose()
        return [k, mean]
      })),
    }
  }

  dispose(): void {
    if (this.grads) tf.dispose(Object.values(this.grads))
    if (this.only) tf.dispose(Object.values(this.only.grads))
    this.grads = null
    this.only = null
  }

  private absorb(pass: PlannedGradients, rows: number): void {
    this.loss += pass.loss * rows
    for (const [k, v] of Object.entries(pass.metrics)) this.metrics[k] = (this.metrics[k] ?? 0) + v * rows
    const sums: Record<string, tf.Tensor> = {}
    for (const [k, g] of Object.entries(pass.grads)) {
      const previous = this.grads?.[k]
      sums[k] = tf.tidy(() => (previous ? tf.add(previous, tf.mul(g, rows)) : tf.mul(g, rows)))
      previous?.dispose()
    }
    tf.dispose(Object.values(pass.grads))
    this.grads = sums
  }
}

/** Gradients of one network, keyed by its own param record's keys (they arrive keyed by step-model name). */
function unprefixed(grads: Record<string, tf.Tensor>, nameOf: (key: string) => string, params: Record<string, tf.Variable>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {}
  for (const key of Object.keys(params)) {
    const g = grads[nameOf(key)]
    if (!g) throw new Error(`no gradient for parameter '${key}'`)
    out[key] = g
  }
  return out
}

function readGlobalNorm(grads: Record<string, tf.Tensor>): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))))
  const value = norm.dataSync()[0]!
  norm.dispose()
  return value
}

/** A conditioning tensor as a batch array (int32 token ids stay int32). */
function arrayOf(t: tf.Tensor): BatchArrays[string] {
  const data = t.dataSync()
  if (!(data instanceof Float32Array || data instanceof Int32Array)) throw new Error(`DI* conditioning must be int32 or float32, got ${t.dtype}`)
  return { data: data.slice(), shape: t.shape }
}

function clipScale(norm: number, maxNorm: number): number {
  return maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1
}

function nonFinite(values: Record<string, number>): string | undefined {
  const bad = Object.entries(values).filter(([, v]) => !Number.isFinite(v))
  return bad.length ? bad.map(([k, v]) => `${k} is ${v}`).join(', ') : undefined
}

/** Seed of step n's private Rng: a hash of (seed, n), so steps are independent and resumable. */
export function stepSeed(seed: number, step: number): number {
  return hashString(`distar:${seed >>> 0}:${step}`)
}

function emptyLosses(): DiStarLosses {
  return { generatorTotal: NaN, regulariser: NaN, divergence: NaN, scoreGap: NaN, cfgOut: NaN, rewardTerm: NaN, rewards: {}, fakeScore: NaN }
}

function emptyNorms(): DiStarGradNorms {
  return { reward: NaN, regulariser: NaN, ratio: NaN, generator: NaN, fake: NaN }
}

function checkOptions(o: DiStarTrainerOptions, T: number): void {
  if (o.schedule.sigmas.length !== T || T < 2) throw new Error('DI* schedule: alphas and sigmas must have the same length T >= 2')
  if (!Number.isInteger(o.tInit) || o.tInit < 0 || o.tInit >= T) throw new Error(`DI* tInit must be an integer in [0, ${T - 1}], got ${o.tInit}`)
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`DI* batchSize must be a positive integer, got ${o.batchSize}`)
  if (!Array.isArray(o.imageShape) || o.imageShape.length !== 3 || o.imageShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`DI* imageShape must be [H, W, C] positive integers, got ${JSON.stringify(o.imageShape)}`)
  }
  if (!Number.isFinite(o.seed)) throw new Error(`DI* seed must be a number, got ${o.seed}`)
  const names = new Set<string>()
  for (const r of o.rewards) {
    if (names.has(r.name)) throw new Error(`DI* rewards must have distinct names; '${r.name}' appears twice`)
    names.add(r.name)
  }
  // the three networks must not share variables: a fake-score update would otherwise move the reference
  const owner = new Map<tf.Variable, string>()
  for (const [role, model] of [['generator', o.generator], ['fake', o.fake], ['reference', o.reference]] as const) {
    for (const v of Object.values(model.params)) {
      const other = owner.get(v)
      if (other) throw new Error(`DI* ${role} and ${other} share the variable '${v.name}'; clone the reference's parameters for each`)
      owner.set(v, role)
    }
  }
  for (const role of ['generator', 'fake'] as const) {
    const params = Object.values(o[role].params)
    if (params.length === 0) throw new Error(`DI* ${role} has no parameters to train`)
    for (const v of params) if (!v.trainable) throw new Error(`DI* ${role} variable '${v.name}' must be trainable`)
  }
}
