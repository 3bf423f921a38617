// Diff-Instruct* losses, to be read next to docs/di-star.md (the § numbers refer to it).
//
// One canonical space: epsilon. x_t = alpha_t x0 + sigma_t eps, and a network's score is
// s(x_t) = -eps_hat(x_t) / sigma_t. Every regulariser term carries the weighting
//
//     w(t) = sigma_t            (in score units)
//
// which cancels the 1/sigma_t of the scores, so every term is O(1) in epsilon units at every t
// (pitfall 3: no blow-up as t -> 0). With Δ = eps_fake - eps_ref (so y = s_fake - s_ref = -Δ/sigma_t)
// the score-based divergence becomes a pseudo-Huber distance between epsilon predictions:
//
//     w(t) d(y) = sqrt(|Δ|² + C²) - C,    C = huberC * sqrt(dim)
//
// i.e. the score-space constant is c_h = C / sigma_t: set per dimension and per sigma_t (§7.4, pitfall 4),
// so `huberC` means the same thing at every t and every image size.
// Norms |.| run over all dimensions of one sample; every loss is averaged over the batch.
import * as tf from '@tensorflow/tfjs-core'
import { Rng } from '../util/rng.ts'
import type { EpsModel, ScheduleTables } from './types.ts'

export type RegulariserKind = 'score' | 'kl'
export type CfgPlacement = 'in' | 'out'

/** One draw of the forward process for a batch: timesteps and the coefficients and noise that go with them. */
export interface NoiseDraw {
  /** integer timesteps as float32, [B] */
  t: tf.Tensor1D
  /** alpha_t and sigma_t per sample, [B, 1, 1, 1] */
  alpha: tf.Tensor4D
  sigma: tf.Tensor4D
  /** standard normal noise, [B, H, W, C] */
  eps: tf.Tensor4D
}

/** A NoiseDraw as plain arrays (what travels to data-parallel workers); alpha and sigma are per sample. */
export interface NoiseArrays {
  t: Float32Array
  alpha: Float32Array
  sigma: Float32Array
  eps: Float32Array
}

/** Draws t uniformly from the integers in [tMin, tMax] and eps ~ N(0, I), all from the seeded `rng`. */
export function drawNoiseArrays(rng: Rng, schedule: ScheduleTables, shape: [number, number, number, number], tRange: readonly [number, number]): NoiseArrays {
  const [B] = shape
  const t = new Float32Array(B)
  const alpha = new Float32Array(B)
  const sigma = new Float32Array(B)
  for (let i = 0; i < B; i++) {
    const ti = rng.int(tRange[0], tRange[1])
    t[i] = ti
    alpha[i] = schedule.alphas[ti]!
    sigma[i] = schedule.sigmas[ti]!
  }
  return { t, alpha, sigma, eps: rng.normals(shape[0] * shape[1] * shape[2] * shape[3]) }
}

/** drawNoiseArrays as tensors. */
export function drawNoise(rng: Rng, schedule: ScheduleTables, shape: [number, number, number, number], tRange: readonly [number, number]): NoiseDraw {
  const n = drawNoiseArrays(rng, schedule, shape, tRange)
  const B = shape[0]
  return {
    t: tf.tensor1d(n.t),
    alpha: tf.tensor4d(n.alpha, [B, 1, 1, 1]),
    sigma: tf.tensor4d(n.sigma, [B, 1, 1, 1]),
    eps: tf.tensor4d(n.eps, shape),
  }
}

/** x_t = alpha_t x0 + sigma_t eps. */
export function diffuse(x0: tf.Tensor4D, noise: NoiseDraw): tf.Tensor4D {
  return tf.add(tf.mul(noise.alpha, x0), tf.mul(noise.sigma, noise.eps))
}

/**
 * The one-step generator, DMD2's convention (§1): z is fed as x_t at t_init, the network predicts eps,
 * and g(z, c) = (z - sigma_tinit * eps_theta(z, t_init, c)) / alpha_tinit.
 * No clipping: it would cut the gradient; rewards read the pixels as they are.
 */
export function generatorSample(generator: EpsModel, z: tf.Tensor4D, cond: tf.Tensor, schedule: ScheduleTables, tInit: number): tf.Tensor4D {
  const alpha = schedule.alphas[tInit]
  const sigma = schedule.sigmas[tInit]
  if (alpha === undefined || sigma === undefined || !(alpha > 0)) {
    throw new Error(`generatorSample: t_init must be an integer timestep with alpha > 0, got ${tInit}`)
  }
  return tf.tidy(() => {
    const t = tf.fill([z.shape[0]], tInit) as tf.Tensor1D
    const epsHat = generator.eps(generator.params, z, t, cond)
    checkSameShape('generator eps network output', epsHat, z)
    return tf.div(tf.sub(z, tf.mul(epsHat, sigma)), alpha) as tf.Tensor4D
  })
}

/** Classifier-free guidance on the reference only (never on the fake score, pitfall 5): eps_∅ + w (eps_c - eps_∅). */
export function cfgEps(epsUncond: tf.Tensor4D, epsCond: tf.Tensor4D, scale: number): tf.Tensor4D {
  return tf.add(epsUncond, tf.mul(tf.sub(epsCond, epsUncond), scale))
}

/** C = huberC * sqrt(dim): the pseudo-Huber constant in epsilon units for samples of shape [H, W, C]. */
export function pseudoHuberConstant(huberC: number, sampleShape: readonly number[]): number {
  return huberC * Math.sqrt(sampleShape.reduce((a, b) => a * b, 1))
}

/**
 * §3.1 score-based (DI*) regulariser, batch mean of
 *     L = w(t) * -d'(y)ᵀ (s_fake - ∇log q(x_t|x0)) = -Δᵀ(eps_fake - eps) / sqrt(|Δ|² + C²)
 * and with `fullDivergence` (§3.3) also + w(t) d(y) = sqrt(|Δ|² + C²) - C.
 * Stop-gradients (§3.2): none here. eps_fake and eps_ref must come from networks evaluated on x_t with the
 * graph kept, and d'(y) stays differentiable: its gradient through x_t is part of the estimator.
 * The Monte-Carlo gradient then equals ∇θ of D with the sampling distribution held fixed (the full ∇θ D with
 * `fullDivergence`); tests/unit/distar-gaussian.test.ts checks both on Gaussians.
 */
export function scoreRegulariser(epsFake: tf.Tensor4D, epsRef: tf.Tensor4D, eps: tf.Tensor4D, C: number, fullDivergence: boolean): tf.Scalar {
  return tf.tidy(() => {
    const delta = tf.sub(epsFake, epsRef)
    const root = tf.sqrt(tf.add(perSampleSum(tf.square(delta)), C * C))
    let perSample = tf.neg(tf.div(perSampleSum(tf.mul(delta, tf.sub(epsFake, eps))), root))
    if (fullDivergence) perSample = tf.add(perSample, tf.sub(root, C))
    return tf.mean(perSample)
  })
}

/**
 * §3.4 KL (Diff-Instruct / DI++) regulariser, batch mean of
 *     L = w(t) sg[s_fake - s_ref]ᵀ x_t = -sg[Δ]ᵀ x_t
 * whose gradient is ∇θ ∫ KL(p_θ,t ‖ p_ref,t) at the sampled t (times w(t)).
 * Both epsilon inputs MUST be constants (see `constantOf`): no backprop through either network.
 */
export function klRegulariser(epsFakeConst: tf.Tensor4D, epsRefConst: tf.Tensor4D, xt: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.neg(perSampleSum(tf.mul(tf.sub(epsFakeConst, epsRefConst), xt)))))
}

/**
 * §3.5 CFG outside the divergence: DI++'s implicit reward. With ∇log p_t(c|x_t) = -(eps_c - eps_∅)/sigma_t,
 *     L = -w(t) (cfg - 1) sg[∇log p_t(c|x_t)]ᵀ x_t = (cfg - 1) sg[eps_c - eps_∅]ᵀ x_t.
 * Added to a KL regulariser against the unguided reference it gives exactly the KL against the guided one.
 */
export function cfgImplicitReward(epsCondConst: tf.Tensor4D, epsUncondConst: tf.Tensor4D, xt: tf.Tensor4D, cfgScale: number): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.mean(perSampleSum(tf.mul(tf.sub(epsCondConst, epsUncondConst), xt))), cfgScale - 1))
}

/** Fake-score denoising loss (§3.1 ψ-step): mean over all elements of (eps_fake(x_t) - eps)², x0 detached by the caller. */
export function fakeScoreLoss(epsFake: tf.Tensor4D, eps: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(epsFake, eps))))
}

/** The reward term of the generator loss: -alpha * sum_k mix_k * mean_batch r_k. */
export function rewardLoss(meanScores: tf.Scalar[], mix: number[], alpha: number): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0)
    meanScores.forEach((s, k) => { total = tf.add(total, tf.mul(s, mix[k]!)) })
    return tf.mul(total, -alpha)
  })
}

/** The fake and reference networks as the regulariser queries them, conditioning already bound. */
export interface ScoreNets {
  fake: (xt: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D
  /** conditional eps and, when asked, the empty-prompt eps (implementations may batch both in one call) */
  reference: (xt: tf.Tensor4D, t: tf.Tensor1D, withUncond: boolean) => { cond: tf.Tensor4D; uncond: tf.Tensor4D | null }
}

export interface RegulariserOptions {
  kind: RegulariserKind
  /** score form only: add d(y) for the gradient of the full divergence (§3.3) */
  fullDivergence: boolean
  /** pseudo-Huber constant per dimension, epsilon units (C = huberC sqrt(dim)) */
  huberC: number
  /** CFG scale w of the reference; 1 = plain conditional reference, 0 = unconditional */
  cfgScale: number
  cfgPlacement: CfgPlacement
}

export interface RegulariserTerms {
  /** what the generator minimises (times the regulariser weight): divergence surrogate + CFG-out term */
  loss: tf.Scalar
  /** the CFG-out implicit-reward part of `loss` (0 when CFG is inside) */
  cfgOut: tf.Scalar
  /** batch mean of sqrt(|Δ|² + C²) - C: the pseudo-Huber divergence itself, for display */
  divergence: tf.Scalar
  /** batch mean of |Δ| / sqrt(dim): RMS gap between fake and reference epsilon */
  scoreGap: tf.Scalar
}

/**
 * The generator's regulariser at x0 = g_θ(z, c), with the §3.2 stop-gradient table built in:
 * - score form: the fake and reference networks run on x_t with the graph kept, so gradients flow through
 *   x_t into both (their parameters are not updated: the caller differentiates w.r.t. generator variables only);
 * - KL form: both networks run inside `constantOf`, so nothing is recorded and no gradient passes through them;
 * - CFG out: the implicit-reward term always uses constant epsilons.
 */
export function generatorRegulariser(x0: tf.Tensor4D, noise: NoiseDraw, nets: ScoreNets, opts: RegulariserOptions): RegulariserTerms {
  return tf.tidy(() => {
    const xt = diffuse(x0, noise)
    const C = pseudoHuberConstant(opts.huberC, x0.shape.slice(1))
    const guided = opts.cfgScale !== 1
    // §3.2: the KL form treats both networks' outputs as constants; the score form keeps their graphs
    const constant = opts.kind === 'kl'

    const epsFake = constant ? constantOf(xt, (x) => nets.fake(x, noise.t)) : nets.fake(xt, noise.t)
    const ref = referenceEps(nets, xt, noise.t, guided, constant)
    // the reference inside the divergence: guided (CFG in) or plain conditional (CFG out)
    const epsRef = guided && opts.cfgPlacement === 'in' ? cfgEps(ref.uncond!, ref.cond, opts.cfgScale) : ref.cond

    const cfgOut = guided && opts.cfgPlacement === 'out'
      ? cfgImplicitReward(stopGradient(ref.cond), stopGradient(ref.uncond!), xt, opts.cfgScale)
      : tf.scalar(0)
    const divergenceTerm = opts.kind === 'kl'
      ? klRegulariser(epsFake, epsRef, xt)
      : scoreRegulariser(epsFake, epsRef, noise.eps, C, opts.fullDivergence)

    // display values only: computed as constants, so no backward pass runs through them
    // (and no 0 * inf from the gradient of sqrt at |Δ| = 0, which happens when the fake equals the reference)
    const dim = x0.size / x0.shape[0]
    const display = constantOf(tf.sub(epsFake, epsRef), (delta) => {
      const norm = tf.sqrt(perSampleSum(tf.square(delta)))
      return tf.stack([tf.mean(tf.sub(tf.sqrt(tf.add(tf.square(norm), C * C)), C)), tf.div(tf.mean(norm), Math.sqrt(dim))])
    })
    const [divergence, scoreGap] = tf.unstack(display) as [tf.Scalar, tf.Scalar]
    return { loss: tf.add(divergenceTerm, cfgOut) as tf.Scalar, cfgOut, divergence, scoreGap }
  })
}

/** Reference epsilons, cond and (optionally) uncond, either with the graph kept or as constants. */
function referenceEps(nets: ScoreNets, xt: tf.Tensor4D, t: tf.Tensor1D, withUncond: boolean, constant: boolean) {
  if (!constant) return nets.reference(xt, t, withUncond)
  const B = xt.shape[0]
  const both = constantOf(xt, (x) => {
    const r = nets.reference(x, t, withUncond)
    return withUncond ? tf.concat([r.cond, r.uncond!], 0) : r.cond
  })
  if (!withUncond) return { cond: both, uncond: null }
  const [cond, uncond] = tf.split(both, [B, B], 0) as [tf.Tensor4D, tf.Tensor4D]
  return { cond, uncond }
}

/**
 * f(x) evaluated as a constant: its ops are not recorded on the gradient tape (they run inside a
 * custom-gradient forward) and x receives a zero gradient. Unlike stopGradient(f(x)) this skips the
 * backward pass through f entirely, which is what makes the KL form cheap (pitfall 2).
 */
export function constantOf<T extends tf.Tensor>(x: tf.Tensor, f: (x: tf.Tensor4D) => T): T {
  return tf.customGrad((input) => ({
    value: f(input as tf.Tensor4D),
    gradFunc: (dy: T) => tf.zerosLike(input as tf.Tensor),
  }))(x) as T
}

/** sg[x]: the value of x, with no gradient flowing back into it. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return constantOf(x, (v) => v.clone()) as unknown as T
}

/** Sum over every axis but the batch axis: [B, ...] -> [B]. */
function perSampleSum(x: tf.Tensor): tf.Tensor1D {
  return tf.sum(x, x.shape.slice(1).map((_, i) => i + 1)) as tf.Tensor1D
}

function checkSameShape(what: string, got: tf.Tensor, want: tf.Tensor): void {
  if (got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) {
    throw new Error(`${what} has shape [${got.shape.join(', ')}], expected [${want.shape.join(', ')}]`)
  }
}
