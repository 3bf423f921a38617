// Simple differentiable image rewards whose effect is easy to see in samples.
// All read images in [-1, 1] NHWC, map them to RGB in [0, 1], and return one score per image,
// with ranges of order 1 (documented per reward) so reward weights are comparable.
// Prompts are ignored (checked for count only).
import * as tf from '@tensorflow/tfjs-core'
import { checkRewardInputs, RewardInputError, type Reward } from './reward.ts'

/** Keeps sqrt differentiable at 0 (d sqrt(x)/dx is infinite there); shifts results by at most 1e-4. */
const SQRT_EPS = 1e-8

// ITU-R BT.601 luma weights: the usual 'perceived brightness' of an RGB pixel.
const LUMA = [0.299, 0.587, 0.114] as const

function toUnitRgb(images: tf.Tensor4D): tf.Tensor4D {
  return tf.mul(tf.add(images, 1), 0.5)
}

function luma(rgb: tf.Tensor4D): tf.Tensor3D {
  const w = tf.tensor1d([...LUMA])
  return tf.sum(tf.mul(rgb, w), 3)
}

/** Per-image mean and variance over the spatial axes of a [B, H, W] tensor. */
function spatialMoments(x: tf.Tensor3D): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const { mean, variance } = tf.moments(x, [1, 2])
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D }
}

function imageReward(name: string, compute: (rgb: tf.Tensor4D) => tf.Tensor1D): Reward {
  return {
    name,
    score(images, prompts) {
      checkRewardInputs(name, images, prompts)
      return tf.tidy(() => compute(toUnitRgb(images)))
    },
  }
}

/**
 * Mean BT.601 luma, in [0, 1]: black 0, white 1, mid grey 0.5.
 */
export function brightnessReward(): Reward {
  return imageReward('brightness', (rgb) => tf.mean(luma(rgb), [1, 2]) as tf.Tensor1D)
}

/**
 * RMS contrast: 2 x the standard deviation of BT.601 luma over the image, in [0, 1].
 * A flat image scores ~0, an image half black and half white scores 1.
 */
export function contrastReward(): Reward {
  return imageReward('contrast', (rgb) => {
    const { variance } = spatialMoments(luma(rgb))
    return tf.mul(tf.sqrt(tf.add(variance, SQRT_EPS)), 2)
  })
}

/**
 * Colourfulness after Hasler & Suesstrunk (2003):
 *   rg = R - G, yb = (R + G)/2 - B,  M = sqrt(var_rg + var_yb) + 0.3 sqrt(mean_rg^2 + mean_yb^2),
 * computed on RGB in [0, 1], i.e. the paper's value (on 0..255) divided by 255.
 * Any grey image scores ~0; a pure red image 0.34; the paper's 'highly colourful' (82) is 0.32 here.
 * The maximum (half pure green, half magenta) is about 1.1.
 */
export function colourfulnessReward(): Reward {
  return imageReward('colourfulness', (rgb) => {
    const [r, g, b] = tf.split(rgb, 3, 3).map((c) => tf.squeeze(c, [3]) as tf.Tensor3D) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
    const rg = tf.sub(r, g) as tf.Tensor3D
    const yb = tf.sub(tf.mul(tf.add(r, g), 0.5), b) as tf.Tensor3D
    const mrg = spatialMoments(rg)
    const myb = spatialMoments(yb)
    const spread = tf.sqrt(tf.add(tf.add(mrg.variance, myb.variance), SQRT_EPS))
    const offset = tf.sqrt(tf.add(tf.add(tf.square(mrg.mean), tf.square(myb.mean)), SQRT_EPS))
    return tf.add(spread, tf.mul(offset, 0.3)) as tf.Tensor1D
  })
}

export type Rgb255 = readonly [number, number, number]

/**
 * Closeness to a target colour, in [0, 1]: 1 - mean over pixels and channels of (rgb - target)^2,
 * with both in [0, 1]. 1 means every pixel is exactly the target; the farthest colour scores 0 or more.
 * @param rgb target colour as 0..255 components (as colour pickers give them)
 */
export function targetColourReward(rgb: Rgb255): Reward {
  if (rgb.length !== 3 || rgb.some((c) => !Number.isFinite(c) || c < 0 || c > 255)) {
    throw new RewardInputError(`target-colour: rgb must be three numbers in 0..255, got [${rgb.join(', ')}]`)
  }
  const name = `target-colour(${rgb.map((c) => Math.round(c)).join(',')})`
  return imageReward(name, (unitRgb) => {
    const target = tf.tensor1d(rgb.map((c) => c / 255))
    const meanSquared = tf.mean(tf.squaredDifference(unitRgb, target), [1, 2, 3]) as tf.Tensor1D
    return tf.sub(1, meanSquared)
  })
}
