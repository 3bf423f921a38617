// The generic interfaces DI* is written against, so the same losses and trainer run on toy models in
// tests and on the DiT in the studio. Nothing here knows about a particular network or data set.
import type * as tf from '@tensorflow/tfjs-core'

export type { Reward } from '../rewards/reward.ts'

/**
 * An epsilon-prediction network as a pure function of its parameter record.
 * `t` holds integer timesteps 0..T-1 stored as float32; `cond` is whatever conditioning the network takes
 * (e.g. int32 token ids [B, L]); the empty-prompt conditioning is a separate tensor of the same shape.
 */
export type EpsFn = (params: Record<string, tf.Variable>, xt: tf.Tensor4D, t: tf.Tensor1D, cond: tf.Tensor) => tf.Tensor4D

/** A network plus the parameters it runs with (the generator, the fake score, or the frozen reference). */
export interface EpsModel {
  eps: EpsFn
  params: Record<string, tf.Variable>
  /**
   * Optional: the same network for calls whose parameters get no gradient (the reference always, the fake
   * score inside the generator update). Its backward pass only needs d/dx_t, so it may skip the weight
   * gradients that a custom-gradient dense layer would otherwise compute and throw away.
   */
  epsWithFrozenParams?: EpsFn
}

/**
 * Discrete VP schedule tables for t = 0..T-1: x_t = alphas[t] x0 + sigmas[t] eps.
 * `VpSchedule` from ml/diffusion/schedule.ts satisfies this as it is.
 */
export interface ScheduleTables {
  readonly alphas: ArrayLike<number>
  readonly sigmas: ArrayLike<number>
}

/** Plain typed-array form of a tensor: the checkpoint module's type, so optimizer states save as they are. */
export type { NamedTensor } from '../checkpoint/checkpoint.ts'
