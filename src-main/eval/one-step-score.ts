// A quick score of one-step generator weights on the validation captions (npm run distill's model card,
// and probes): every validation caption with 2 seeds, the mean alignment score and the Frechet distance of
// the alignment model's image embeddings to the real validation images. The eval (pipeline.ts) is the
// full protocol; this one needs no ONNX export and takes seconds.
import * as tf from '@tensorflow/tfjs-core'
import { loadEmojiDataset } from '../ml/data/emoji-dataset.ts'
import { ditEps, type DitParams } from '../ml/diffusion/dit.ts'
import type { DiffusionModel } from '../ml/diffusion/model.ts'
import { initialNoise } from '../ml/diffusion/samplers.ts'
import { generatorSample } from '../ml/distar/losses.ts'
import type { AlignmentModel } from '../ml/rewards/alignment-model.ts'
import type { FeatureSet } from './features.ts'
import { frechetDistance } from './frechet.ts'
import { embedImages, scoreImages } from './scoring.ts'

export interface OneStepScore {
  alignment: number
  fd: number
  images: number
}

export interface ValidationSet {
  prompts: string[]
  seeds: number[]
  real: FeatureSet
}

/** Every validation caption twice (seeds 2i and 2i+1), and the real validation images' features. */
export async function validationSet(alignment: AlignmentModel, imageSize: number): Promise<ValidationSet> {
  const { validation } = await loadEmojiDataset({ imageSize })
  const real = await embedImages(alignment, { pixels: validation.images, count: validation.items.length, size: imageSize })
  const captions = [...new Set(validation.items.map((i) => i.canonicalCaption))]
  return { prompts: captions.flatMap((c) => [c, c]), seeds: captions.flatMap((_, i) => [2 * i, 2 * i + 1]), real }
}

/** Scores g(z, c) = (z - sigma eps_params(z, t_init, c)) / alpha, clipped to [-1, 1] as every export shows it. */
export async function scoreOneStep(reference: DiffusionModel, params: DitParams, tInit: number, alignment: AlignmentModel, set: ValidationSet): Promise<OneStepScore> {
  const size = reference.dit.imageSize
  const per = size * size * 3
  const { prompts, seeds } = set
  const pixels = new Float32Array(prompts.length * per)
  const model = { eps: (p: DitParams, xt: tf.Tensor4D, t: tf.Tensor1D, c: tf.Tensor) => ditEps(p, reference.dit, xt, t, c as tf.Tensor2D), params }
  for (let s = 0; s < prompts.length; s += 64) {
    const e = Math.min(prompts.length, s + 64)
    const x = tf.tidy(() => {
      const z = tf.tensor4d(initialNoise(seeds.slice(s, e), reference.imageShape), [e - s, ...reference.imageShape])
      return tf.clipByValue(generatorSample(model, z, reference.encodePrompts(prompts.slice(s, e)), reference.schedule, tInit), -1, 1)
    })
    pixels.set((await x.data()) as Float32Array, s * per)
    x.dispose()
  }
  const scored = await scoreImages(alignment, { pixels, count: prompts.length, size }, prompts)
  return { alignment: scored.alignment.reduce((a, b) => a + b, 0) / prompts.length, fd: frechetDistance(scored.features, set.real), images: prompts.length }
}
