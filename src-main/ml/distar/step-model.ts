// The two DI* updates (di-star.md §3.1) as losses of one model: the fake-score denoising loss and the
// generator loss (reward + regulariser), each a pure function of a batch whose randomness was drawn by
// the trainer. The same object runs the step on one thread (DiStarTrainer calls it directly) and on
// several (it is a DataParallelModel: core/runs/parallel-model.ts builds it in every worker thread),
// so both paths compute exactly the same function of the same rows.
//
// Batch layout (all arrays batch-first; t as float32 timesteps; alpha/sigma as [B, 1, 1, 1]):
//   'fake':      z, cond, t, alpha, sigma, eps
//   'generator': z, cond, nullCond, t, alpha, sigma, eps; texts.prompts; options: GeneratorLossOptions
// Every reported number is a mean over the rows, so slices combine by a row-weighted mean. The two
// image-space gradient norms are reported squared and scaled by (rows / batchRows) so that their
// row-weighted mean over slices is the squared norm of the full batch's gradient.
import * as tf from '@tensorflow/tfjs-core'
import type { DataParallelModel, LossContext, LossWithMetrics } from '../backend/data-parallel.ts'
import type { DiStarControls } from './controls.ts'
import { constantOf, diffuse, fakeScoreLoss, generatorRegulariser, generatorSample, rewardLoss, type NoiseDraw, type ScoreNets } from './losses.ts'
import type { EpsModel, Reward, ScheduleTables } from './types.ts'

export const FAKE_LOSS = 'fake'
export const GENERATOR_LOSS = 'generator'

/** The networks and rewards a DI* step differentiates through. */
export interface DiStarNetworks {
  generator: EpsModel
  fake: EpsModel
  reference: EpsModel
  schedule: ScheduleTables
  tInit: number
  rewards: Reward[]
}

/** What the generator loss takes besides the batch (structured-cloneable: it travels to workers). */
export interface GeneratorLossOptions {
  controls: DiStarControls
  /** rows of the whole batch (a slice scales its gradient norms with it) */
  batchRows: number
}

/** TEST-ONLY numerical fault hooks (see DiStarFaultInjection in trainer.ts); only the local model has them. */
export interface StepModelHooks {
  generatorOutput?(x0: tf.Tensor4D): tf.Tensor4D
  rewardScores?(scores: tf.Tensor1D, rewardName: string): tf.Tensor1D
  /** a reward threw: its message (the reward's score is NaN, so the NaN guard skips the update) */
  onRewardFailure?(message: string): void
}

/** Metric names of the generator loss. */
export const METRIC = {
  regulariser: 'regulariser',
  divergence: 'divergence',
  scoreGap: 'scoreGap',
  cfgOut: 'cfgOut',
  rewardTerm: 'rewardTerm',
  rewardGradSq: 'rewardGradSq',
  regulariserGradSq: 'regulariserGradSq',
  reward: (name: string) => `reward:${name}`,
  rewardFailed: (name: string) => `rewardFailed:${name}`,
} as const

/** Param names of the step model: the generator's and the fake score's records, prefixed. */
export const generatorParamName = (key: string) => `generator/${key}`
export const fakeParamName = (key: string) => `fake/${key}`

export function diStarStepModel(nets: DiStarNetworks, hooks: StepModelHooks = {}): DataParallelModel {
  const params: Record<string, tf.Variable> = {}
  for (const [k, v] of Object.entries(nets.generator.params)) params[generatorParamName(k)] = v
  for (const [k, v] of Object.entries(nets.fake.params)) params[fakeParamName(k)] = v
  return {
    params,
    loss(batch, name, context) {
      if (name === FAKE_LOSS) return fakeLoss(nets, batch, hooks)
      if (name === GENERATOR_LOSS) return generatorLoss(nets, batch, context, hooks)
      throw new Error(`DI* step model: unknown loss "${name}"`)
    },
  }
}

function noiseOf(batch: Record<string, tf.Tensor>): NoiseDraw {
  return { t: batch.t as tf.Tensor1D, alpha: batch.alpha as tf.Tensor4D, sigma: batch.sigma as tf.Tensor4D, eps: batch.eps as tf.Tensor4D }
}

/** ψ-step: denoising score matching for s_ψ on x0 = sg[g_θ(z, c)], no CFG. */
function fakeLoss(nets: DiStarNetworks, batch: Record<string, tf.Tensor>, hooks: StepModelHooks): tf.Scalar {
  const { generator, fake, schedule, tInit } = nets
  const cond = batch.cond!
  // detached: the generator's forward pass is not recorded, so no gradient reaches it
  const x0 = constantOf(batch.z!, (z) => {
    const sample = generatorSample(generator, z, cond, schedule, tInit)
    return hooks.generatorOutput?.(sample) ?? sample
  })
  const noise = noiseOf(batch)
  return fakeScoreLoss(fake.eps(fake.params, diffuse(x0, noise), noise.t, cond), noise.eps)
}

/** θ-step: -α Σ_k mix_k r̄_k + λ_reg * regulariser, with the parts and both image-space gradient norms as metrics. */
function generatorLoss(nets: DiStarNetworks, batch: Record<string, tf.Tensor>, context: LossContext, hooks: StepModelHooks): LossWithMetrics {
  const { generator, fake, reference, schedule, tInit, rewards } = nets
  const { controls, batchRows } = context.options as GeneratorLossOptions
  const prompts = context.texts.prompts ?? []
  const cond = batch.cond!
  const rows = cond.shape[0]
  const share = rows / batchRows
  const networks = scoreNets(fake, reference, cond, batch.nullCond!)
  const mix = rewards.map((r) => controls.rewardMix[r.name] ?? 1)

  // squared norms of the gradient arriving at x0 from each part, set during the backward pass
  const probed: { reward?: tf.Scalar; regulariser?: tf.Scalar } = {}
  const probe = (part: 'reward' | 'regulariser') => (norm: tf.Scalar) => {
    probed[part] = tf.keep(tf.mul(tf.square(norm), share) as tf.Scalar)
  }

  const sample = generatorSample(generator, batch.z as tf.Tensor4D, cond, schedule, tInit)
  const x0 = hooks.generatorOutput?.(sample) ?? sample
  const x0ForReward = gradientNormProbe(x0, probe('reward'))
  const x0ForRegulariser = gradientNormProbe(x0, probe('regulariser'))
  const metrics: LossWithMetrics['metrics'] = {}
  const scores = rewards.map((r) => {
    const score = meanScoreOrNaN(r, x0ForReward, prompts, hooks)
    metrics[METRIC.reward(r.name)] = score.mean
    if (score.failed) metrics[METRIC.rewardFailed(r.name)] = tf.scalar(1)
    return score.mean
  })
  const rewardTerm = rewardLoss(scores, mix, controls.rewardWeight)
  const reg = generatorRegulariser(x0ForRegulariser, noiseOf(batch), networks, { ...controls, kind: controls.regulariser })
  Object.assign(metrics, {
    [METRIC.regulariser]: reg.loss,
    [METRIC.divergence]: reg.divergence,
    [METRIC.scoreGap]: reg.scoreGap,
    [METRIC.cfgOut]: reg.cfgOut,
    [METRIC.rewardTerm]: rewardTerm,
    [METRIC.rewardGradSq]: () => probed.reward,
    [METRIC.regulariserGradSq]: () => probed.regulariser,
  })
  return { loss: tf.add(rewardTerm, tf.mul(reg.loss, controls.regulariserWeight)) as tf.Scalar, metrics }
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
 * A reward's batch-mean score; if the reward throws, NaN (and the message to the hook), so the NaN guard
 * skips the update and reports why. (An exception escaping the gradient tape would also leak every tensor
 * the tape saved for the backward pass.)
 */
function meanScoreOrNaN(reward: Reward, images: tf.Tensor4D, prompts: string[], hooks: StepModelHooks): { mean: tf.Scalar; failed: boolean } {
  try {
    const scores = reward.score(images, prompts)
    return { mean: tf.mean(hooks.rewardScores?.(scores, reward.name) ?? scores) as tf.Scalar, failed: false }
  } catch (e) {
    hooks.onRewardFailure?.(`reward '${reward.name}' failed: ${e instanceof Error ? e.message : String(e)}`)
    return { mean: tf.scalar(NaN), failed: true }
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
