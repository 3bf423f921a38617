// Pieces both denoisers share (the DiT in dit.ts and the U-Net in unet.ts): the sinusoidal timestep
// embedding, the caption encoder and the v -> eps conversion of the output. They live here so dit.ts
// can dispatch to unet.ts without the two importing each other.
//
// The caption encoder's parameter names and maths are fixed ('text.embed', 'text.pos', 'text.w1/b1/w2/b2':
// masked mean of token embeddings + MLP): text-init.ts fills 'text.embed' from the alignment model.
import * as tf from '@tensorflow/tfjs-core'
import { dense, silu } from '../backend/ops.ts'
import { VpSchedule, type ScheduleConfig } from './schedule.ts'
import type { DitConfig, DitParams } from './dit.ts'

export function param2d(params: DitParams, name: string): tf.Tensor2D {
  const v = params[name]
  if (!v) throw new Error(`DiT params: missing '${name}'`)
  return v as tf.Tensor as tf.Tensor2D
}
export function param1d(params: DitParams, name: string): tf.Tensor1D {
  return param2d(params, name) as tf.Tensor as tf.Tensor1D
}

/** `x @ params[prefix.w] + params[prefix.b]` as one flag-free 2-D matMul. */
export function linear(params: DitParams, prefix: string, x: tf.Tensor): tf.Tensor {
  return dense(x, param2d(params, prefix + '.w'), param1d(params, prefix + '.b'))
}

export function denseNamed(params: DitParams, prefix: string, index: number, x: tf.Tensor): tf.Tensor {
  return dense(x, param2d(params, `${prefix}.w${index}`), param1d(params, `${prefix}.b${index}`))
}

/** Sinusoidal embedding of (float) timesteps, [B] -> [B, dim]. */
export function timestepEmbedding(t: tf.Tensor1D, dim: number): tf.Tensor2D {
  const half = dim / 2
  const freqs = new Float32Array(half)
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / half)
  const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.tensor2d(freqs, [1, half]))
  return tf.concat([tf.sin(args), tf.cos(args)], 1) as tf.Tensor2D
}

/** Word token embeddings + positions, [B, L, textWidth]. */
export function textTokenEmbeddings(params: DitParams, c: DitConfig, tokens: tf.Tensor2D): tf.Tensor {
  const [B, L] = tokens.shape
  if (L !== c.textLength) throw new Error(`DiT: tokens have length ${L}, config says textLength ${c.textLength}`)
  // one-hot @ table instead of gather: gather has no gradient on wasm (no UnsortedSegmentSum)
  const oneHot = tf.cast(tf.oneHot(tf.reshape(tf.cast(tokens, 'int32'), [-1]) as tf.Tensor1D, c.vocabSize), 'float32')
  return tf.add(tf.reshape(dense(oneHot, param2d(params, 'text.embed')), [B, L, c.textWidth]), param2d(params, 'text.pos'))
}

/** Text encoder: token embeddings + positions, masked mean over non-pad tokens, MLP -> [B, width]. */
export function encodeText(params: DitParams, c: DitConfig, tokens: tf.Tensor2D, emb: tf.Tensor = textTokenEmbeddings(params, c, tokens)): tf.Tensor2D {
  const [B, L] = tokens.shape
  const mask = tf.reshape(tf.cast(tf.notEqual(tokens, 0), 'float32'), [B, L, 1])
  const count = tf.maximum(tf.sum(mask, 1), 1)
  const pooled = tf.div(tf.sum(tf.mul(emb, mask), 1), count)
  return denseNamed(params, 'text', 2, silu(denseNamed(params, 'text', 1, pooled))) as tf.Tensor2D
}

/**
 * The network's raw output as eps: unchanged for output 'epsilon'; for 'v',
 * eps = sigma_t x_t + alpha_t v, with alpha_t and sigma_t looked up per image (no gradient needed
 * w.r.t. the tables).
 */
export function outputToEps(c: DitConfig, out: tf.Tensor4D, xt: tf.Tensor4D, t: tf.Tensor1D): tf.Tensor4D {
  if ((c.output ?? 'epsilon') === 'epsilon') return out
  const B = xt.shape[0]
  const { alphas, sigmas } = scheduleTables(c.schedule!)
  const index = tf.cast(t, 'int32')
  const alpha = tf.reshape(tf.gather(tf.tensor1d(alphas), index), [B, 1, 1, 1])
  const sigma = tf.reshape(tf.gather(tf.tensor1d(sigmas), index), [B, 1, 1, 1])
  return tf.add(tf.mul(sigma, xt), tf.mul(alpha, out)) as tf.Tensor4D
}

const tableCache = new Map<string, { alphas: Float32Array; sigmas: Float32Array }>()

function scheduleTables(config: ScheduleConfig): { alphas: Float32Array; sigmas: Float32Array } {
  const key = JSON.stringify(config)
  let tables = tableCache.get(key)
  if (!tables) {
    const s = new VpSchedule(config)
    tables = { alphas: Float32Array.from(s.alphas), sigmas: Float32Array.from(s.sigmas) }
    tableCache.set(key, tables)
  }
  return tables
}
