// A DiT denoising step as a data-parallel model module (see ml/backend/data-parallel.ts), for the
// threads benchmark and its test. The batch carries the noised images, so every thread computes the
// same function of the same rows whichever thread they land on.
import * as tf from '@tensorflow/tfjs-core'
import { ditEps, initDitParams, type DitConfig } from '../../ml/diffusion/dit.ts'
import type { DataParallelModel } from '../../ml/backend/data-parallel.ts'
import { Rng } from '../../ml/util/rng.ts'

/** The reference network's size from the measurements: patch 4, width 128, depth 4. */
export const BENCH_DIT: DitConfig = {
  imageSize: 32,
  channels: 3,
  patch: 4,
  width: 128,
  depth: 4,
  heads: 4,
  mlpRatio: 4,
  vocabSize: 2000,
  textLength: 16,
  textWidth: 128,
}

export function createDataParallelModel(config: unknown): DataParallelModel {
  const c = (config as DitConfig | undefined) ?? BENCH_DIT
  const params = initDitParams(c, 1)
  return {
    params,
    loss(batch, name, context) {
      const pred = ditEps(params, c, batch.xt as tf.Tensor4D, batch.t as tf.Tensor1D, batch.tokens as tf.Tensor2D)
      const error = tf.sub(pred, batch.eps)
      // 'default' is the denoising loss; 'l1' exists so tests can select a second loss by name
      if (name === 'default') return tf.mean(tf.square(error)) as tf.Scalar
      if (name === 'l1') return tf.mean(tf.abs(error)) as tf.Scalar
      if (name === 'weighted') {
        // for the protocol's test: rows weighted by the length of their caption (texts.caption),
        // scaled by options.scale, reporting the plain loss and the mean caption length as metrics
        const captions = context.texts.caption ?? []
        const perRow = tf.mean(tf.square(error), [1, 2, 3])
        const lengths = tf.tensor1d(captions.map((s) => s.length))
        const scale = (context.options as { scale?: number } | undefined)?.scale ?? 1
        return {
          loss: tf.mul(tf.mean(tf.mul(perRow, lengths)), scale) as tf.Scalar,
          metrics: { plain: tf.mean(perRow) as tf.Scalar, captionLength: tf.mean(lengths) as tf.Scalar },
        }
      }
      throw new Error(`dit-denoise: unknown loss "${name}"`)
    },
  }
}

/** A seeded synthetic batch in the shapes the DiT trains on. */
export function syntheticBatch(c: DitConfig, rows: number, seed: number) {
  const rng = new Rng(seed)
  const pixels = rows * c.imageSize * c.imageSize * c.channels
  const image = [rows, c.imageSize, c.imageSize, c.channels]
  const tokens = new Int32Array(rows * c.textLength)
  for (let i = 0; i < tokens.length; i++) tokens[i] = i % c.textLength < 5 ? rng.int(1, c.vocabSize - 1) : 0
  return {
    xt: { data: Float32Array.from({ length: pixels }, () => rng.normal()), shape: image },
    eps: { data: Float32Array.from({ length: pixels }, () => rng.normal()), shape: image },
    t: { data: Float32Array.from({ length: rows }, () => rng.int(0, 999)), shape: [rows] },
    tokens: { data: tokens, shape: [rows, c.textLength] },
  }
}
