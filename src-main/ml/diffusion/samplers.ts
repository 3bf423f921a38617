// Samplers for an epsilon-prediction VP model: deterministic DDIM (Song et al. 2021, eta = 0) and
// DPM-Solver++(2M) (Lu et al. 2022, multistep second order in log-SNR, data prediction).
// Both take the model as a callback `eps(x_t, t)`, so the same code drives the tfjs DiT, an ONNX
// session or an analytic test model, and classifier-free guidance is one wrapper around it.
// Initial noise comes from one seeded Rng per image, so an image depends only on its own seed.
import * as tf from '@tensorflow/tfjs-core'
import { Rng } from '../util/rng.ts'
import type { VpSchedule } from './schedule.ts'

/** Predicted noise for a batch at one integer timestep t (the same t for every image). */
export type EpsCallback = (xt: tf.Tensor4D, t: number) => tf.Tensor4D

export type SamplerKind = 'ddim' | 'dpmpp-2m'
export const SAMPLER_KINDS: readonly SamplerKind[] = ['ddim', 'dpmpp-2m']

export interface SampleOptions {
  schedule: VpSchedule
  sampler: SamplerKind
  /** model evaluations (1 = a single jump from pure noise to the x0 prediction) */
  steps: number
  /** one seed per image: image i starts from noise drawn by new Rng(seeds[i]) */
  seeds: number[]
  /** [H, W, C] of one image */
  imageShape: [number, number, number]
  /** clip each x0 prediction to [-1, 1] (default true; images live in [-1, 1]) */
  clipDenoised?: boolean
}

/** N(0, I) starting noise, image i from its own seed, NHWC. */
export function initialNoise(seeds: number[], imageShape: [number, number, number]): Float32Array {
  const per = imageShape[0] * imageShape[1] * imageShape[2]
  const out = new Float32Array(seeds.length * per)
  seeds.forEach((seed, i) => {
    if (!Number.isInteger(seed)) throw new Error(`sampler: seeds must be integers, got ${seed}`)
    out.set(new Rng(seed).normals(per), i * per)
  })
  return out
}

/** Runs the sampler and returns images [B, H, W, C] (clipped to [-1, 1] when clipDenoised). */
export function sample(eps: EpsCallback, opts: SampleOptions): tf.Tensor4D {
  if (!(opts.sampler === 'ddim' || opts.sampler === 'dpmpp-2m')) throw new Error(`sampler: unknown kind '${String(opts.sampler)}' (expected ${SAMPLER_KINDS.join(' or ')})`)
  if (opts.seeds.length < 1) throw new Error('sampler: needs at least one seed')
  const { schedule } = opts
  const clip = opts.clipDenoised ?? true
  const ts = schedule.samplingTimesteps(opts.steps)
  let x = tf.tensor4d(initialNoise(opts.seeds, opts.imageShape), [opts.seeds.length, ...opts.imageShape])
  let prevX0: tf.Tensor4D | null = null
  let prevH = 0
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!
    const isLast = i === ts.length - 1
    const a = schedule.alpha(t)
    const s = schedule.sigma(t)
    const [nextX, x0] = tf.tidy(() => {
      const e = eps(x, t)
      let x0 = tf.div(tf.sub(x, tf.mul(e, s)), a) as tf.Tensor4D
      if (clip) x0 = tf.clipByValue(x0, -1, 1)
      if (isLast) return [x0, tf.clone(x0)]
      const tn = ts[i + 1]!
      const an = schedule.alpha(tn)
      const sn = schedule.sigma(tn)
      if (opts.sampler === 'ddim') {
        // re-derive eps from the (possibly clipped) x0 so the update stays on the DDIM trajectory
        const eHat = tf.div(tf.sub(x, tf.mul(x0, a)), s)
        return [tf.add(tf.mul(x0, an), tf.mul(eHat, sn)) as tf.Tensor4D, tf.clone(x0)]
      }
      // DPM-Solver++(2M): x_next = (sn/s) x - an (e^{-h} - 1) D, with D a 2nd-order blend of x0 estimates
      const h = schedule.lambda(tn) - schedule.lambda(t)
      let d: tf.Tensor = x0
      const useSecondOrder = prevX0 !== null && i + 1 < ts.length - 1
      if (useSecondOrder) {
        const r = prevH / h
        d = tf.sub(tf.mul(x0, 1 + 1 / (2 * r)), tf.mul(prevX0!, 1 / (2 * r)))
      }
      return [tf.sub(tf.mul(x, sn / s), tf.mul(d, an * Math.expm1(-h))) as tf.Tensor4D, tf.clone(x0)]
    })
    x.dispose()
    prevX0?.dispose()
    x = nextX
    prevX0 = x0
    if (!isLast) prevH = schedule.lambda(ts[i + 1]!) - schedule.lambda(t)
  }
  prevX0?.dispose()
  return x
}

/**
 * Classifier-free guidance: eps_u + w (eps_c - eps_u), with the conditional and unconditional halves
 * batched into one forward pass. `forward(x, t, cond)` evaluates the model on a batch of size 2B
 * (first half conditional); guidance 1 means plain conditional sampling (one pass of size B).
 */
export function withGuidance(
  forward: (xt: tf.Tensor4D, t: number, useNullCondition: 'cond' | 'both') => tf.Tensor4D,
  guidance: number,
): EpsCallback {
  if (!Number.isFinite(guidance)) throw new Error(`guidance scale must be a finite number, got ${guidance}`)
  if (guidance === 1) return (x, t) => forward(x, t, 'cond')
  return (x, t) => tf.tidy(() => {
    const both = forward(tf.concat([x, x], 0) as tf.Tensor4D, t, 'both')
    const B = x.shape[0]
    const [cond, uncond] = tf.split(both, [B, B], 0) as [tf.Tensor4D, tf.Tensor4D]
    return tf.add(uncond, tf.mul(tf.sub(cond, uncond), guidance)) as tf.Tensor4D
  })
}
