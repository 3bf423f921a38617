// Small stand-ins for the DiT, so DI* can be checked on problems whose answer is known: a tiny MLP
// epsilon network on "images" of shape [1, 1, D], and the exact epsilon of a diffused Gaussian.
// Conditioning is a float tensor [B, 1]: 1 = the prompt, 0 = the empty prompt.
import * as tf from '@tensorflow/tfjs-core'
import { Rng } from '../util/rng.ts'
import type { EpsFn, ScheduleTables } from './types.ts'

export interface ToyMlpConfig {
  /** data dimension D (samples are [1, 1, D]) */
  dim: number
  hidden: number
  /** T of the schedule, to scale the time features */
  T: number
}

const TIME_FREQS = [1, 2, 4, 8]

/** Parameters of the toy MLP, initialised from `seed` (the output layer starts at zero: eps_hat = 0). */
export function initToyMlp(config: ToyMlpConfig, seed: number, trainable = true): Record<string, tf.Variable> {
  const rng = new Rng(seed)
  const { dim, hidden } = config
  const inputs = dim + 2 * TIME_FREQS.length + 1
  const dense = (fanIn: number, fanOut: number, scale = 1) =>
    tf.variable(tf.tensor2d(rng.normals(fanIn * fanOut).map((v) => (v * scale) / Math.sqrt(fanIn)), [fanIn, fanOut]), trainable)
  // inside tidy: tf.variable keeps its initial tensor alive otherwise (tidy never disposes variables)
  return tf.tidy(() => ({
    w1: dense(inputs, hidden),
    b1: tf.variable(tf.zeros([hidden]), trainable),
    w2: dense(hidden, hidden),
    b2: tf.variable(tf.zeros([hidden]), trainable),
    w3: dense(hidden, dim, 0),
    b3: tf.variable(tf.zeros([dim]), trainable),
  }))
}

/** The toy MLP as an EpsFn: eps_hat = MLP([x, time features, cond]). */
export function toyMlpEps(config: ToyMlpConfig): EpsFn {
  return (params, xt, t, cond) => tf.tidy(() => {
    const B = xt.shape[0]
    const x = tf.reshape(xt, [B, config.dim])
    const phase = tf.mul(tf.reshape(tf.div(t, config.T), [B, 1]), tf.tensor2d([TIME_FREQS.map((f) => f * Math.PI)]))
    const input = tf.concat([x, tf.sin(phase), tf.cos(phase), tf.reshape(tf.cast(cond, 'float32'), [B, 1])], 1)
    const h1 = tf.relu(tf.add(tf.matMul(input, params.w1!), params.b1!))
    const h2 = tf.relu(tf.add(tf.matMul(h1, params.w2!), params.b2!))
    return tf.reshape(tf.add(tf.matMul(h2, params.w3!), params.b3!), xt.shape) as tf.Tensor4D
  })
}

/** A Gaussian N(mean, diag(variance)) per condition: `cond` for the prompt, `uncond` for the empty prompt. */
export interface ToyGaussians {
  cond: { mean: number[]; variance: number[] }
  uncond: { mean: number[]; variance: number[] }
}

/**
 * The exact eps of the diffused Gaussian: eps(x_t) = sigma_t (x_t - alpha_t m) / (alpha_t² v + sigma_t²),
 * with (m, v) picked per sample by its conditioning. A reference whose every score is known; it has no parameters.
 */
export function gaussianEps(g: ToyGaussians, schedule: ScheduleTables): EpsFn {
  const alphas = tf.tensor1d(Float32Array.from(schedule.alphas as ArrayLike<number>))
  const sigmas = tf.tensor1d(Float32Array.from(schedule.sigmas as ArrayLike<number>))
  tf.keep(alphas)
  tf.keep(sigmas)
  return (_params, xt, t, cond) => tf.tidy(() => {
    const B = xt.shape[0]
    const idx = tf.cast(t, 'int32')
    const a = tf.reshape(tf.gather(alphas, idx), [B, 1, 1, 1])
    const s = tf.reshape(tf.gather(sigmas, idx), [B, 1, 1, 1])
    const c = tf.reshape(tf.cast(cond, 'float32'), [B, 1, 1, 1])
    const pick = (u: number[], v: number[]) => tf.add(tf.mul(c, tf.tensor1d(u)), tf.mul(tf.sub(1, c), tf.tensor1d(v)))
    const mean = pick(g.cond.mean, g.uncond.mean)
    const variance = pick(g.cond.variance, g.uncond.variance)
    const num = tf.mul(s, tf.sub(xt, tf.mul(a, mean)))
    return tf.div(num, tf.add(tf.mul(tf.square(a), variance), tf.square(s))) as tf.Tensor4D
  })
}

/** A copy of a parameter record (new variables), e.g. the fake score and generator initialised from the reference. */
export function cloneParams(params: Record<string, tf.Variable>, trainable: boolean): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {}
  for (const [k, v] of Object.entries(params)) out[k] = tf.variable(v, trainable)
  return out
}

/** DDPM's linear-beta VP schedule (1e-4 .. 0.02), for tests that should not depend on ml/diffusion. */
export function linearVpTables(T = 1000): { alphas: Float64Array; sigmas: Float64Array } {
  const alphas = new Float64Array(T)
  const sigmas = new Float64Array(T)
  let prod = 1
  for (let t = 0; t < T; t++) {
    prod *= 1 - (1e-4 + ((0.02 - 1e-4) * t) / (T - 1))
    alphas[t] = Math.sqrt(prod)
    sigmas[t] = Math.sqrt(1 - prod)
  }
  return { alphas, sigmas }
}
