// Scores a set of generated images in TensorFlow.js: the alignment score against each image's prompt,
// every image reward, and the alignment model's image features (for the Frechet distance and diversity).
import * as tf from '@tensorflow/tfjs-core'
import type { AlignmentModel } from '../ml/rewards/alignment-model.ts'
import { alignmentReward } from '../ml/rewards/alignment-reward.ts'
import { brightnessReward, colourfulnessReward, contrastReward } from '../ml/rewards/image-rewards.ts'
import type { Reward } from '../ml/rewards/reward.ts'
import { featureSet, type FeatureSet } from './features.ts'

/** The image rewards every model is scored with (the alignment score is reported on its own). */
export const IMAGE_REWARDS: readonly (() => Reward)[] = [brightnessReward, colourfulnessReward, contrastReward]

export interface ImageBatch {
  /** count x size x size x 3, NHWC, in [-1, 1] */
  pixels: Float32Array
  count: number
  size: number
}

export interface ScoredImages {
  /** per image, 100 x cos(image, its prompt) */
  alignment: Float32Array
  /** per reward name, per image */
  rewards: Record<string, Float32Array>
  features: FeatureSet
}

const SCORE_BATCH = 64

function slice(images: ImageBatch, start: number, end: number): tf.Tensor4D {
  const per = images.size * images.size * 3
  return tf.tensor4d(images.pixels.subarray(start * per, end * per), [end - start, images.size, images.size, 3])
}

/** Image features only (the real images have no prompts to score). */
export async function embedImages(model: AlignmentModel, images: ImageBatch): Promise<FeatureSet> {
  const dim = model.architecture.embedDim
  const out = new Float32Array(images.count * dim)
  for (let start = 0; start < images.count; start += SCORE_BATCH) {
    const end = Math.min(images.count, start + SCORE_BATCH)
    const f = tf.tidy(() => model.embedImages(slice(images, start, end)))
    out.set((await f.data()) as Float32Array, start * dim) // read outside tidy (architecture.md)
    f.dispose()
  }
  return featureSet(out, images.count, dim)
}

export async function scoreImages(model: AlignmentModel, images: ImageBatch, prompts: readonly string[]): Promise<ScoredImages> {
  if (prompts.length !== images.count) throw new Error(`score: ${images.count} images but ${prompts.length} prompts`)
  const alignment = alignmentReward(model)
  const rewards = IMAGE_REWARDS.map((make) => make())
  const scores = { alignment: new Float32Array(images.count), rewards: Object.fromEntries(rewards.map((r) => [r.name, new Float32Array(images.count)])) }
  for (let start = 0; start < images.count; start += SCORE_BATCH) {
    const end = Math.min(images.count, start + SCORE_BATCH)
    const batchPrompts = prompts.slice(start, end)
    const [a, ...r] = tf.tidy(() => {
      const x = slice(images, start, end)
      return [alignment.score(x, batchPrompts), ...rewards.map((rw) => rw.score(x, batchPrompts))]
    })
    scores.alignment.set((await a!.data()) as Float32Array, start)
    for (const [i, t] of r.entries()) scores.rewards[rewards[i]!.name]!.set((await t.data()) as Float32Array, start)
    tf.dispose([a!, ...r])
  }
  return { ...scores, features: await embedImages(model, images) }
}
