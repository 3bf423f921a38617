// Denoising (epsilon-prediction) training of a diffusion network: loss, Adam with global-norm
// clipping and a warmup + cosine learning-rate schedule, and an EMA of the weights (the EMA ships).
// One step is one tf.tidy; only the loss and gradient norm scalars leave it, read afterwards.
// trainStepParallel computes the same gradient on several threads (denoising-parallel.ts); both
// steps apply it with applyGradients (clip, Adam, EMA).
import * as tf from '@tensorflow/tfjs-core'
import { warmupCosineLr } from '../util/lr-schedule.ts'
import type { VpSchedule } from './schedule.ts'
import type { Rng } from '../util/rng.ts'
import type { BatchArrays, DataParallelTrainer } from '../backend/data-parallel.ts'

/** An epsilon model: params record + noisy images + timesteps + conditioning -> predicted noise. */
export type EpsFn = (params: Record<string, tf.Variable>, xt: tf.Tensor4D, t: tf.Tensor1D, cond: tf.Tensor) => tf.Tensor4D

export interface TrainHyper {
  learningRate: number
  warmupSteps: number
  /** steps of the whole run; the learning rate decays by a half cosine to minLrFraction at this step */
  totalSteps: number
  minLrFraction: number
  beta1: number
  beta2: number
  adamEps: number
  /** global gradient-norm clip */
  gradClip: number
  emaDecay: number
  /** fraction of captions replaced by the empty prompt (classifier-free guidance) */
  captionDropout: number
  /**
   * Min-SNR-gamma loss weighting (Hang et al. 2023): sample i is weighted min(SNR_i, gamma) / SNR_i,
   * which stops the hard, low-noise timesteps from dominating the gradient so the coarse structure
   * (high noise) is learnt sooner. 0 = plain uniform epsilon MSE.
   */
  minSnrGamma: number
  /**
   * Lower bound of the same weighting, in x0 terms (absent or 0 = none). The epsilon loss weights
   * an x0 error by SNR, which is ~0.006 at t=950 on the cosine schedule, so the high-noise steps,
   * where the caption decides the layout, get almost no gradient (the first reference learnt colours
   * but not shapes). With a floor f, sample i weighs clamp(SNR_i, f, gamma) / SNR_i: f = 1 is the
   * "truncated SNR" weighting of Salimans & Ho (2022) at high noise, min-SNR-gamma at low noise.
   */
  minSnrFloor?: number
}

export const DEFAULT_TRAIN_HYPER: TrainHyper = {
  learningRate: 1e-3,
  warmupSteps: 200,
  totalSteps: 10000,
  minLrFraction: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  adamEps: 1e-8,
  gradClip: 1,
  emaDecay: 0.999,
  captionDropout: 0.1,
  minSnrGamma: 5,
}

/** Everything random about one training batch, drawn in JS so a step is a pure function of its inputs. */
export interface NoisedBatch {
  /** clean images, B*H*W*C in [-1, 1] */
  x0: Float32Array
  /** integer timesteps, B */
  t: Int32Array
  /** standard normal noise, same size as x0 */
  noise: Float32Array
  /** conditioning (token ids for the DiT), B*L */
  cond: Int32Array
}

export function drawNoise(rng: Rng, schedule: VpSchedule, batchSize: number, imageElements: number): { t: Int32Array; noise: Float32Array } {
  const t = new Int32Array(batchSize)
  for (let i = 0; i < batchSize; i++) t[i] = rng.int(0, schedule.T - 1)
  return { t, noise: rng.normals(batchSize * imageElements) }
}

/** Per-sample [B,1,1,1] coefficient tensors looked up from the schedule tables. */
export function coefficients(schedule: VpSchedule, t: Int32Array): { alpha: tf.Tensor4D; sigma: tf.Tensor4D } {
  const a = new Float32Array(t.length)
  const s = new Float32Array(t.length)
  t.forEach((ti, i) => { a[i] = schedule.alpha(ti); s[i] = schedule.sigma(ti) })
  return { alpha: tf.tensor4d(a, [t.length, 1, 1, 1]), sigma: tf.tensor4d(s, [t.length, 1, 1, 1]) }
}

/**
 * Per-sample weights of the epsilon loss: clamp(SNR, floor, gamma) / SNR, i.e. an x0 error weighted by
 * clamp(SNR, floor, gamma). gamma 0 means no upper clamp, floor 0 no lower one; both 0 gives all ones.
 */
export function minSnrWeights(schedule: VpSchedule, t: Int32Array, gamma: number, floor = 0): Float32Array {
  const w = new Float32Array(t.length).fill(1)
  if (gamma <= 0 && floor <= 0) return w
  t.forEach((ti, i) => {
    const snr = schedule.alphaBar(ti) / (1 - schedule.alphaBar(ti))
    const x0Weight = Math.max(gamma > 0 ? Math.min(snr, gamma) : snr, floor)
    w[i] = x0Weight / snr
  })
  return w
}

/**
 * Denoising loss: per sample, the mean over pixels of (eps_theta(alpha x0 + sigma eps, t, c) - eps)^2.
 * Returns the weighted batch mean (what is optimised) and the plain batch mean (what is reported).
 */
export function denoisingLoss(
  eps: EpsFn, params: Record<string, tf.Variable>, schedule: VpSchedule,
  x0: tf.Tensor4D, t: Int32Array, noise: tf.Tensor4D, cond: tf.Tensor, weights?: Float32Array,
): { weighted: tf.Scalar; plain: tf.Scalar } {
  const { alpha, sigma } = coefficients(schedule, t)
  return denoisingLossFromTensors(
    eps, params, { x0, alpha, sigma, t: tf.tensor1d(Array.from(t), 'float32'), noise, cond, weights: weights ? tf.tensor1d(weights) : undefined },
  )
}

/** The inputs of denoisingLoss as tensors (the data-parallel model looks alpha and sigma up in-graph). */
export interface DenoisingTensors {
  x0: tf.Tensor4D
  /** [B,1,1,1] schedule coefficients of each row's timestep */
  alpha: tf.Tensor4D
  sigma: tf.Tensor4D
  /** float32 timesteps [B] as the network sees them */
  t: tf.Tensor1D
  noise: tf.Tensor4D
  cond: tf.Tensor
  /** per-sample loss weights [B] (absent: weighted = plain) */
  weights?: tf.Tensor1D
}

/** denoisingLoss on tensors; the same ops in the same order, so both paths give identical numbers. */
export function denoisingLossFromTensors(
  eps: EpsFn, params: Record<string, tf.Variable>, b: DenoisingTensors,
): { weighted: tf.Scalar; plain: tf.Scalar } {
  const xt = tf.add(tf.mul(b.alpha, b.x0), tf.mul(b.sigma, b.noise)) as tf.Tensor4D
  const pred = eps(params, xt, b.t, b.cond)
  const perSample = tf.mean(tf.square(tf.sub(pred, b.noise)), [1, 2, 3])
  const plain = tf.mean(perSample) as tf.Scalar
  return { weighted: b.weights ? (tf.mean(tf.mul(perSample, b.weights)) as tf.Scalar) : plain, plain }
}

export function learningRateAt(h: TrainHyper, step: number): number {
  return warmupCosineLr(h, step)
}

/** What one optimiser step reports. */
export interface StepResult {
  /** plain (unweighted) denoising loss of the batch */
  loss: number
  /** global gradient norm before clipping */
  gradNorm: number
  /** learning rate of this step */
  lr: number
}

/** Values of the trainer's state by checkpoint tensor name (param/, ema/, adam_m/, adam_v/ + param name). */
export type TrainerState = Record<string, Float32Array>

export class DenoisingTrainer {
  readonly params: Record<string, tf.Variable>
  readonly ema: Record<string, tf.Variable>
  private readonly m: Record<string, tf.Variable>
  private readonly v: Record<string, tf.Variable>
  /** number of optimiser steps taken */
  step = 0

  constructor(
    private readonly eps: EpsFn,
    params: Record<string, tf.Variable>,
    private readonly schedule: VpSchedule,
    readonly hyper: TrainHyper,
    private readonly condShape: (batch: number) => number[],
  ) {
    this.params = params
    this.ema = {}
    this.m = {}
    this.v = {}
    for (const [name, p] of Object.entries(params)) {
      // tidy releases the initial tensors; the variables keep their own reference to the data
      this.ema[name] = tf.tidy(() => tf.variable(tf.clone(p), false, `${p.name}/ema`))
      this.m[name] = tf.tidy(() => tf.variable(tf.zerosLike(p), false, `${p.name}/adam_m`))
      this.v[name] = tf.tidy(() => tf.variable(tf.zerosLike(p), false, `${p.name}/adam_v`))
    }
  }

  /** One Adam step on a batch; returns the plain (unweighted) loss and the pre-clip gradient norm. */
  async trainStep(batch: NoisedBatch, imageShape: [number, number, number]): Promise<StepResult> {
    const B = batch.t.length
    const names = Object.keys(this.params)
    const weights = minSnrWeights(this.schedule, batch.t, this.hyper.minSnrGamma, this.hyper.minSnrFloor ?? 0)
    let lr = 0
    const [lossT, normT] = tf.tidy(() => {
      const x0 = tf.tensor4d(batch.x0, [B, ...imageShape])
      const noise = tf.tensor4d(batch.noise, [B, ...imageShape])
      const cond = tf.tensor(batch.cond, this.condShape(B), 'int32')
      let plainLoss: tf.Scalar | null = null
      const { grads } = tf.variableGrads(() => {
        const { weighted, plain } = denoisingLoss(this.eps, this.params, this.schedule, x0, batch.t, noise, cond, weights)
        plainLoss = tf.keep(plain)
        return weighted
      }, names.map((n) => this.params[n]!))
      const update = this.applyGradients(Object.fromEntries(names.map((n) => [n, grads[this.params[n]!.name]!])))
      lr = update.lr
      return [plainLoss!, update.gradNorm]
    })
    const [loss, gradNorm] = await Promise.all([lossT.data(), normT.data()])
    lossT.dispose()
    normT.dispose()
    return { loss: loss[0]!, gradNorm: gradNorm[0]!, lr }
  }

  /**
   * The same step with the batch's gradient computed on all of `dp`'s threads. `dp` must be built
   * from the denoising-parallel.ts module and this trainer's params must be dp.model.params (the
   * threads differentiate those). Equal to trainStep up to float summation order.
   */
  async trainStepParallel(dp: DataParallelTrainer, batch: NoisedBatch, imageShape: [number, number, number]): Promise<StepResult & { cpuMs: number[] }> {
    for (const [name, p] of Object.entries(this.params)) {
      if (dp.model.params[name] !== p) throw new Error(`trainStepParallel: the trainer's param '${name}' is not the data-parallel model's (build the trainer on dp.model.params)`)
    }
    const B = batch.t.length
    const image = [B, ...imageShape]
    const weights = minSnrWeights(this.schedule, batch.t, this.hyper.minSnrGamma, this.hyper.minSnrFloor ?? 0)
    // the row layout denoising-parallel.ts reads; every random choice is already in these arrays
    const rows: BatchArrays = {
      x0: { data: batch.x0, shape: image },
      noise: { data: batch.noise, shape: image },
      t: { data: batch.t, shape: [B] },
      cond: { data: batch.cond, shape: this.condShape(B) },
      weights: { data: weights, shape: [B] },
    }
    const result = await dp.computeGradients(rows)
    const plain = result.metrics.plain
    if (plain === undefined) {
      tf.dispose(Object.values(result.grads))
      throw new Error('trainStepParallel: the data-parallel model reports no plain loss (not denoising-parallel.ts?)')
    }
    let update: { gradNorm: tf.Scalar; lr: number }
    try {
      update = this.applyGradients(result.grads)
    } finally {
      tf.dispose(Object.values(result.grads))
    }
    const gradNorm = (await update.gradNorm.data())[0]!
    update.gradNorm.dispose()
    return { loss: plain, gradNorm, lr: update.lr, cpuMs: result.cpuMs }
  }

  /**
   * Global-norm clip, Adam and EMA update from gradients keyed by param name (every param needs
   * one; they are not disposed), then advances the step. Returns the pre-clip gradient norm.
   */
  applyGradients(grads: Record<string, tf.Tensor>): { gradNorm: tf.Scalar; lr: number } {
    const names = Object.keys(this.params)
    for (const n of names) if (!grads[n]) throw new Error(`DenoisingTrainer.applyGradients: no gradient for '${n}'`)
    const lr = learningRateAt(this.hyper, this.step)
    const k = this.step + 1
    const { beta1, beta2, adamEps, gradClip } = this.hyper
    const stepSize = (lr * Math.sqrt(1 - beta2 ** k)) / (1 - beta1 ** k)
    const emaDecay = Math.min(this.hyper.emaDecay, (1 + this.step) / (10 + this.step))
    const gradNorm = tf.tidy(() => {
      const norm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]!))))) as tf.Scalar
      const clip = tf.minimum(1, tf.div(gradClip, tf.add(norm, 1e-6)))
      for (const n of names) {
        const g = tf.mul(grads[n]!, clip)
        const m = this.m[n]!, v = this.v[n]!, p = this.params[n]!, e = this.ema[n]!
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)))
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)))
        p.assign(tf.sub(p, tf.mul(tf.div(m, tf.add(tf.sqrt(v), adamEps)), stepSize)))
        e.assign(tf.add(tf.mul(e, emaDecay), tf.mul(p, 1 - emaDecay)))
      }
      return norm
    })
    this.step++
    return { gradNorm, lr }
  }

  /** The plain denoising loss of the current weights on a batch, without updating anything. */
  async evaluateLoss(batch: NoisedBatch, imageShape: [number, number, number]): Promise<number> {
    const B = batch.t.length
    const lossT = tf.tidy(() => denoisingLoss(
      this.eps, this.params, this.schedule,
      tf.tensor4d(batch.x0, [B, ...imageShape]), batch.t, tf.tensor4d(batch.noise, [B, ...imageShape]),
      tf.tensor(batch.cond, this.condShape(B), 'int32'),
    ).plain)
    const value = (await lossT.data())[0]!
    lossT.dispose()
    return value
  }

  async exportState(): Promise<TrainerState> {
    const out: TrainerState = {}
    const groups: [string, Record<string, tf.Variable>][] = [['param', this.params], ['ema', this.ema], ['adam_m', this.m], ['adam_v', this.v]]
    for (const [group, vars] of groups) {
      for (const [name, v] of Object.entries(vars)) out[`${group}/${name}`] = (await v.data()) as Float32Array
    }
    return out
  }

  importState(state: TrainerState, step: number): void {
    const groups: [string, Record<string, tf.Variable>][] = [['param', this.params], ['ema', this.ema], ['adam_m', this.m], ['adam_v', this.v]]
    for (const [group, vars] of groups) {
      for (const [name, v] of Object.entries(vars)) {
        const data = state[`${group}/${name}`]
        if (!data) throw new Error(`trainer state: missing '${group}/${name}'`)
        if (data.length !== v.size) throw new Error(`trainer state: '${group}/${name}' has ${data.length} values, expected ${v.size}`)
        tf.tidy(() => v.assign(tf.tensor(data, v.shape, "float32")))
      }
    }
    this.step = step
  }

  dispose(): void {
    for (const group of [this.ema, this.m, this.v]) for (const v of Object.values(group)) v.dispose()
  }
}
