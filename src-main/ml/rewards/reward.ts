// The one interface every reward implements, and how rewards combine.
// DI* maximises E[r(g(z, c), c)], so a reward must be differentiable with respect to the images;
// prompts are plain strings (rewards that ignore them still check that there is one per image).
import * as tf from '@tensorflow/tfjs-core'

export interface Reward {
  /** Short identifier used in metric names, e.g. 'alignment' or '0.5*brightness+1*contrast'. */
  readonly name: string
  /**
   * One score per image, higher is better, differentiable w.r.t. `images`.
   * @param images float32 NHWC in [-1, 1], any size, 3 channels
   * @param prompts one prompt per image ('' is the empty prompt)
   */
  score(images: tf.Tensor4D, prompts: string[]): tf.Tensor1D
}

/** Thrown for inputs a reward cannot score (wrong rank, channel count, prompt count, weights). */
export class RewardInputError extends Error {
  override name = 'RewardInputError'
}

/** Shared argument check: every reward calls this first so bad input fails with one clear message. */
export function checkRewardInputs(rewardName: string, images: tf.Tensor, prompts: readonly string[]): void {
  if (images.rank !== 4) {
    throw new RewardInputError(`${rewardName}: images must be a rank-4 NHWC tensor, got shape [${images.shape.join(', ')}]`)
  }
  if (images.shape[3] !== 3) {
    throw new RewardInputError(`${rewardName}: images must have 3 channels (RGB), got ${images.shape[3]}`)
  }
  if (images.dtype !== 'float32') {
    throw new RewardInputError(`${rewardName}: images must be float32 in [-1, 1], got ${images.dtype}`)
  }
  if (!Array.isArray(prompts) || prompts.length !== images.shape[0]) {
    throw new RewardInputError(
      `${rewardName}: expected one prompt per image (${images.shape[0]}), got ${Array.isArray(prompts) ? prompts.length : typeof prompts}`,
    )
  }
}

export interface WeightedPart {
  reward: Reward
  weight: number
}

/** A weighted sum that keeps its parts visible, so a trainer can log each reward separately. */
export interface WeightedSumReward extends Reward {
  readonly parts: readonly WeightedPart[]
}

/**
 * r(x, c) = sum_i w_i r_i(x, c). Weights may be negative (to penalise a quantity) but must be finite.
 * The parts keep their own scales; see each reward's documentation for its range.
 */
export function weightedSum(parts: WeightedPart[]): WeightedSumReward {
  if (parts.length === 0) throw new RewardInputError('weightedSum needs at least one part')
  for (const p of parts) {
    if (!Number.isFinite(p.weight)) throw new RewardInputError(`weightedSum: weight of '${p.reward.name}' is not finite (${p.weight})`)
  }
  const name = parts.map((p) => `${p.weight}*${p.reward.name}`).join('+')
  const frozenParts = Object.freeze(parts.map((p) => ({ ...p })))
  return {
    name,
    parts: frozenParts,
    score(images, prompts) {
      checkRewardInputs(name, images, prompts)
      return tf.tidy(() => {
        let total: tf.Tensor1D = tf.zeros([images.shape[0]])
        for (const p of frozenParts) total = tf.add(total, tf.mul(p.reward.score(images, prompts), p.weight))
        return total
      })
    },
  }
}

/**
 * The weighted parts of a reward, flattened through nested sums (a plain reward is one part of weight 1),
 * e.g. to stream one metric per reward while the trainer differentiates the total.
 */
export function rewardParts(reward: Reward): WeightedPart[] {
  const parts = (reward as Partial<WeightedSumReward>).parts
  if (!parts) return [{ reward, weight: 1 }]
  return parts.flatMap((p) => rewardParts(p.reward).map((inner) => ({ reward: inner.reward, weight: inner.weight * p.weight })))
}

/**
 * Differentiable image features (e.g. the alignment model's normalised image embedding), the input of
 * feature-space metrics (Frechet distance) and of learned heads such as a Bradley-Terry preference model.
 */
export interface ImageFeatureExtractor {
  readonly name: string
  /** feature dimension */
  readonly dim: number
  /** [B, dim] for images in [-1, 1] NHWC */
  features(images: tf.Tensor4D): tf.Tensor2D
}
