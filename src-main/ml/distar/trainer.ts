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
import * as tf from '@tensorflow/tfjs-core'
import { Rng, hashString } from '../util/rng.ts'
import { Adam, DEFAULT_ADAM, type AdamSettings, type AdamState } from './adam.ts'
import { validateControls, type DiStarControls } from './controls.ts'
import { drawNoise, fakeScoreLoss, generatorRegulariser, generatorSample, rewardLoss, diffuse, type ScoreNets } from './losses.ts'
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

  constructor(opts: DiStarTrainerOptions) {
    this.T = opts.schedule.alphas.length
    checkOptions(opts, this.T)
    this.opts = opts
    this.controls = validateControls(opts.controls, this.T)
    this.pauseAfter = opts.pauseAfterNonFinite ?? 5
    if (!Number.isInteger(this.pauseAfter) || this.pauseAfter < 1) throw new Error(`pauseAfterNonFinite must be an integer >= 1, got ${this.pauseAfter}`)
    this.generatorOpt = new Adam(opts.generator.params, opts.adam ?? DEFAULT_ADAM)
    this.fakeOpt = new Adam(opts.fake.params, opts.adam ?? DEFAULT_ADAM)
  }

  get paused(): string | null {
    return this.pausedReason
  }

  /** Clears a NaN pause; the next step runs (with fresh noise, since the step index moved on). */
  resume(): void {
    this.pausedReason = null
    this.consecutiveSkips = 0
  }

  step(): DiStarStepResult {
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
      const r = this.fakeUpdate(rng, controls)
      fakeLossSum += r.loss
      fakeNormSum += r.gradNorm
      if (r.problem) problems.push(`fake-score update ${k + 1}/${K}: ${r.problem}`)
    }
    timings.fakeMs = performance.now() - fakeStart

    // (b) one generator update
    const g = this.generatorUpdate(rng, controls, timings)
    if (g.problem) problems.push(`generator update: ${g.problem}`)

    const losses: DiStarLosses = { ...g.losses, fakeScore: K > 0 ? fakeLossSum / K : NaN }
    const norms: DiStarGradNorms = { ...g.norms, fake: K > 0 ? fakeNormSum / K : NaN }
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

  /** Denoising score matching for s_ψ on x0 = sg[g_θ(z, c)], t uniform on the controls' range, no CFG. */
  private fakeUpdate(rng: Rng, controls: DiStarControls): { loss: number; gradNorm: number; problem?: string } {
    const { generator, fake, schedule, tInit } = this.opts
    const out = tf.tidy(() => {
      const { cond } = this.conditioning(rng)
      const z = this.faultLatents(this.normals(rng))
      const x0 = this.faultGeneratorOutput(generatorSample(generator, z, cond, schedule, tInit)) // outside any gradient tape: detached
      const noise = drawNoise(rng, schedule, this.batchShape(), controls.tRange)
      const xt = diffuse(x0, noise)
      const { value, grads } = tf.variableGrads(() => fakeScoreLoss(fake.eps(fake.params, xt, noise.t, cond), noise.eps), Object.values(fake.params))
      return { grads: byParamName(fake.params, grads), numbers: tf.stack([value, globalNorm(Object.values(grads))]) }
    })
    const [loss, gradNorm] = out.numbers.dataSync() as Float32Array as unknown as [number, number]
    out.numbers.dispose()
    const problem = nonFinite({ loss, 'gradient norm': gradNorm })
    if (!problem) this.fakeOpt.apply(out.grads, controls.fakeLr, clipScale(gradNorm, controls.maxGradNorm))
    tf.dispose(out.grads)
    return { loss, gradNorm, problem }
  }

  private generatorUpdate(rng: Rng, controls: DiStarControls, timings: DiStarTimings) {
    const { generator, fake, reference, schedule, tInit, rewards } = this.opts
    const gradStart = performance.now()
    const kept: tf.Tensor[] = [] // tensors that escape the gradient function's tidy; freed below
    const keep = <T extends tf.Tensor>(t: T): T => { kept.push(tf.keep(t)); return t }
    const probeNorms: { reward?: tf.Scalar; regulariser?: tf.Scalar } = {}
    const rewardFailures: string[] = []

    let out: { grads: Record<string, tf.Tensor>; numbers: tf.Tensor }
    try {
      out = tf.tidy(() => {
        const { prompts, cond, nullCond } = this.conditioning(rng)
        const z = this.faultLatents(this.normals(rng))
        const noise = drawNoise(rng, schedule, this.batchShape(), controls.tRange)
        const nets = scoreNets(fake, reference, cond, nullCond)
        const mix = rewards.map((r) => controls.rewardMix[r.name] ?? 1)
        let parts: { rewardTerm: tf.Scalar; scores: tf.Scalar[]; reg: ReturnType<typeof generatorRegulariser> } | undefined

        const { value, grads } = tf.variableGrads(() => {
          const x0 = this.faultGeneratorOutput(generatorSample(generator, z, cond, schedule, tInit))
          const x0ForReward = gradientNormProbe(x0, (n) => { probeNorms.reward = keep(n) })
          const x0ForRegulariser = gradientNormProbe(x0, (n) => { probeNorms.regulariser = keep(n) })
          const scores = rewards.map((r) => keep(meanScoreOrNaN(this.faultRewardScores(r), x0ForReward, prompts, rewardFailures)))
          const rewardTerm = keep(rewardLoss(scores, mix, controls.rewardWeight))
          const reg = generatorRegulariser(x0ForRegulariser, noise, nets, { ...controls, kind: controls.regulariser })
          for (const t of [reg.loss, reg.cfgOut, reg.divergence, reg.scoreGap]) keep(t)
          parts = { rewardTerm, scores, reg }
          return tf.add(rewardTerm, tf.mul(reg.loss, controls.regulariserWeight)) as tf.Scalar
        }, Object.values(generator.params))

        const p = parts!
        const zero = tf.scalar(0)
        const numbers = tf.stack([
          value, p.reg.loss, p.reg.divergence, p.reg.scoreGap, p.reg.cfgOut, p.rewardTerm,
          probeNorms.reward ?? zero, probeNorms.regulariser ?? zero, globalNorm(Object.values(grads)),
          ...p.scores,
        ])
        return { grads: byParamName(generator.params, grads), numbers }
      })
    } catch (e) {
      tf.dispose(kept) // a throwing reward or network must not leak what the gradient function kept
      throw e
    }
    timings.generatorGradMs = performance.now() - gradStart

    const readStart = performance.now()
    const v = Array.from(out.numbers.dataSync())
    out.numbers.dispose()
    tf.dispose(kept)
    timings.readbackMs = performance.now() - readStart

    const [total, regulariser, divergence, scoreGap, cfgOut, rewardTerm, rewardNorm, regNorm, genNorm] = v as [number, number, number, number, number, number, number, number, number]
    const scores: Record<string, number> = {}
    rewards.forEach((r, k) => { scores[r.name] = v[9 + k]! })
    const problem = [...rewardFailures, nonFinite({ 'generator loss': total, 'gradient norm': genNorm })].filter(Boolean).join(', ') || undefined

    const updateStart = performance.now()
    if (!problem) this.generatorOpt.apply(out.grads, controls.generatorLr, clipScale(genNorm, controls.maxGradNorm))
    tf.dispose(out.grads)
    timings.updateMs = performance.now() - updateStart

    return {
      problem,
      losses: { generatorTotal: total, regulariser, divergence, scoreGap, cfgOut, rewardTerm, rewards: scores },
      norms: { reward: rewardNorm, regulariser: regNorm, ratio: regNorm > 0 ? rewardNorm / regNorm : rewardNorm > 0 ? Infinity : 0, generator: genNorm },
    }
  }

  // The test-only fault hooks; identity unless faultInjectionForTests is set. The step index is the
  // one being run (stepIndex was already advanced).
  private faultLatents(z: tf.Tensor4D): tf.Tensor4D {
    return this.opts.faultInjectionForTests?.latents?.(z, this.stepIndex - 1) ?? z
  }

  private faultGeneratorOutput(x0: tf.Tensor4D): tf.Tensor4D {
    return this.opts.faultInjectionForTests?.generatorOutput?.(x0, this.stepIndex - 1) ?? x0
  }

  private faultRewardScores(reward: Reward): Reward {
    const hook = this.opts.faultInjectionForTests?.rewardScores
    if (!hook) return reward
    const step = this.stepIndex - 1
    return { name: reward.name, score: (images, prompts) => hook(reward.score(images, prompts), reward.name, step) }
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

  private normals(rng: Rng): tf.Tensor4D {
    const shape = this.batchShape()
    return tf.tensor4d(rng.normals(shape[0] * shape[1] * shape[2] * shape[3]), shape)
  }

  private result(status: DiStarStepStatus, step: number, controls: DiStarControls, losses: DiStarLosses, gradNorms: DiStarGradNorms, timings: DiStarTimings, reason?: string): DiStarStepResult {
    return { status, step, ...(reason ? { reason } : {}), consecutiveSkips: this.consecutiveSkips, totalSkips: this.totalSkips, losses, gradNorms, timings, controls }
  }
}

/**
 * The fake and reference networks bound to this batch's conditioning. The reference's conditional and
 * empty-prompt passes run as one batch of 2B (measured faster than two calls on wasm).
 */
function scoreNets(fake: EpsModel, reference: EpsModel, cond: tf.Tensor, nullCond: tf.Tensor): ScoreNets {
  // neither network's parameters are differentiated here, so their frozen-parameter variants serve
  const fakeEps = fake.epsWithFrozenParams ?? fake.eps
  const referenceEps = reference.epsWithFrozenParams ?? reference.eps
  return {
    fake: (xt, t) => fakeEps(fake.params, xt, t, cond),
    reference: (xt, t, withUncond) => {
      if (!withUncond) return { cond: referenceEps(reference.params, xt, t, cond), uncond: null }
      const B = xt.shape[0]
      const both = referenceEps(reference.params, tf.concat([xt, xt], 0), tf.concat([t, t], 0), tf.concat([cond, nullCond], 0))
      const [c, u] = tf.split(both, [B, B], 0) as [tf.Tensor4D, tf.Tensor4D]
      return { cond: c, uncond: u }
    },
  }
}

/**
 * A reward's batch-mean score; if the reward throws, NaN (and the message in `failures`), so the NaN guard
 * skips the update and reports why. (An exception escaping the gradient tape would also leak every tensor
 * the tape saved for the backward pass.)
 */
function meanScoreOrNaN(reward: Reward, images: tf.Tensor4D, prompts: string[], failures: string[]): tf.Scalar {
  try {
    return tf.mean(reward.score(images, prompts)) as tf.Scalar
  } catch (e) {
    failures.push(`reward '${reward.name}' failed: ${e instanceof Error ? e.message : String(e)}`)
    return tf.scalar(NaN)
  }
}

/** Identity on x whose backward pass reports the norm of the gradient arriving through it. */
function gradientNormProbe(x: tf.Tensor4D, report: (norm: tf.Scalar) => void): tf.Tensor4D {
  return tf.customGrad((input) => ({
    value: (input as tf.Tensor4D).clone(),
    gradFunc: (dy: tf.Tensor4D) => {
      report(tf.norm(dy) as tf.Scalar)
      return dy
    },
  }))(x) as tf.Tensor4D
}

function globalNorm(tensors: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(tensors.map((g) => tf.sum(tf.square(g))))) as tf.Scalar)
}

/** variableGrads keys gradients by the engine's variable names; map them back to the record's keys. */
function byParamName(params: Record<string, tf.Variable>, grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {}
  for (const [key, v] of Object.entries(params)) {
    const g = grads[v.name]
    if (!g) throw new Error(`no gradient for parameter '${key}': is it used by the network and trainable?`)
    out[key] = g
  }
  return out
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
