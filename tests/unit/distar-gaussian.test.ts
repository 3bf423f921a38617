// The closed-form Gaussian check di-star.md §3.3 requires: with exact Gaussian scores standing in for the
// networks, the Monte-Carlo gradient of each DI* regulariser must equal an independently computed gradient
// of the divergence it claims to minimise.
//
// Generator x0 = mu + s ⊙ z in 4-D (θ = (mu, s)), reference N(m, v) (diagonal), VP diffusion at a fixed t,
// so p_θ,t = N(alpha mu, alpha² s² + sigma²) and every eps is affine: eps(x) = sigma (x - alpha m) / (alpha² v + sigma²).
// - The loss side runs the real code (generatorRegulariser) in tfjs, the fake score being the exact score of
//   p_θ,t at the current θ held fixed (what a perfectly trained s_ψ would be).
// - The reference side is plain float64 JS: central finite differences of D = E[sqrt(|Δ|²+C²) - C] with common
//   random numbers (for "sampling distribution held fixed" only the fake's θ moves; for the full D both move),
//   and the closed-form KL between Gaussians for the KL form.
// Tolerances are statistical: 4.5 combined standard errors of the two Monte-Carlo estimates.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs' // registers every gradient (tfjs-core's CommonJS entry has none)
import { diffuse, generatorRegulariser, pseudoHuberConstant, stopGradient, type NoiseDraw, type RegulariserOptions, type ScoreNets } from '../../src-main/ml/distar/losses.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { linearVpTables } from '../../src-main/ml/distar/toy-models.ts'

before(async () => {
  await tf.setBackend('cpu')
})

const DIM = 4
const MU = [0.5, -0.3, 0.2, 0.8]
const S = [0.6, 1.2, 0.9, 0.4]
const REF_COND = { m: [0.0, 0.2, -0.4, 0.1], v: [1.0, 0.5, 0.8, 1.5] }
const REF_UNCOND = { m: [0.1, 0.0, 0.0, -0.2], v: [1.2, 1.0, 1.0, 1.3] }
const HUBER_C = 0.35 // C = 0.7 in 4-D, the constant of di-star.md §3.3

const SCHEDULE = linearVpTables() // DDPM linear betas 1e-4 .. 0.02, T = 1000

// ---------- float64 reference: the divergence itself ----------

type Gauss = { m: number[]; v: number[] }

/** eps of N(m, v) diffused to (alpha, sigma), at x, dimension i */
function gaussEps(x: number, i: number, g: Gauss, a: number, sg: number): number {
  return (sg * (x - a * g.m[i]!)) / (a * a * g.v[i]! + sg * sg)
}

/** the reference eps in the divergence: conditional, or CFG-guided (an affine mix of the two) */
function refEps(x: number, i: number, a: number, sg: number, cfg: number): number {
  const c = gaussEps(x, i, REF_COND, a, sg)
  if (cfg === 1) return c
  const u = gaussEps(x, i, REF_UNCOND, a, sg)
  return u + cfg * (c - u)
}

/**
 * Per-sample finite-difference derivatives of d = sqrt(|Δ|²+C²) - C w.r.t. each of the 8 parameters
 * θ = (mu, s), averaged over n samples, with their standard errors.
 * `moveSampling`: θ also moves the sampling of x_t (the full D); otherwise only the fake score's θ moves.
 */
function divergenceGradientFD(t: number, cfg: number, moveSampling: boolean, n: number, seed: number) {
  const a = SCHEDULE.alphas[t]!
  const sg = SCHEDULE.sigmas[t]!
  const C = pseudoHuberConstant(HUBER_C, [1, 1, DIM])
  const h = 1e-4
  const rng = new Rng(seed)
  const P = 2 * DIM
  const sum = new Float64Array(P)
  const sumSq = new Float64Array(P)
  const z = new Float64Array(DIM)
  const e = new Float64Array(DIM)
  const base = Float64Array.from([...MU, ...S])
  // d at one sample (z, e): x_t drawn with θ `sampling`, fake eps = exact eps of p_θ,t with θ `fake`
  const d = (sampling: Float64Array, fake: Float64Array) => {
    let sq = 0
    for (let i = 0; i < DIM; i++) {
      const x = a * (sampling[i]! + sampling[DIM + i]! * z[i]!) + sg * e[i]!
      const s2 = fake[DIM + i]! * fake[DIM + i]!
      const epsFake = (sg * (x - a * fake[i]!)) / (a * a * s2 + sg * sg)
      const delta = epsFake - refEps(x, i, a, sg, cfg)
      sq += delta * delta
    }
    return Math.sqrt(sq + C * C) - C
  }
  const plus = new Float64Array(P)
  const minus = new Float64Array(P)
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < DIM; i++) { z[i] = rng.normal(); e[i] = rng.normal() }
    for (let p = 0; p < P; p++) {
      plus.set(base); minus.set(base)
      plus[p]! += h; minus[p]! -= h
      const g = moveSampling ? (d(plus, plus) - d(minus, minus)) / (2 * h) : (d(base, plus) - d(base, minus)) / (2 * h)
      sum[p]! += g
      sumSq[p]! += g * g
    }
  }
  const mean = Array.from(sum, (s) => s / n)
  const se = Array.from(sumSq, (s, p) => Math.sqrt(Math.max(s / n - mean[p]! ** 2, 0) / n))
  return { mean, se }
}

/** sigma_t * d/dθ KL(p_θ,t ‖ p_ref,t), by central differences of the closed-form Gaussian KL. */
function klGradientClosedForm(t: number): number[] {
  const a = SCHEDULE.alphas[t]!
  const sg = SCHEDULE.sigmas[t]!
  const kl = (mu: number[], s: number[]) => {
    let total = 0
    for (let i = 0; i < DIM; i++) {
      const m1 = a * mu[i]!, v1 = a * a * s[i]! ** 2 + sg * sg
      const m2 = a * REF_COND.m[i]!, v2 = a * a * REF_COND.v[i]! + sg * sg
      total += 0.5 * (Math.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1)
    }
    return total
  }
  const h = 1e-5
  return Array.from({ length: 2 * DIM }, (_, p) => {
    const plus = [[...MU], [...S]]
    const minus = [[...MU], [...S]]
    plus[p < DIM ? 0 : 1]![p % DIM]! += h
    minus[p < DIM ? 0 : 1]![p % DIM]! -= h
    return (sg * (kl(plus[0]!, plus[1]!) - kl(minus[0]!, minus[1]!))) / (2 * h)
  })
}

// ---------- tfjs side: the project's loss code with exact Gaussian eps networks ----------

function gaussEpsTensor(x: tf.Tensor4D, g: Gauss, a: number, sg: number): tf.Tensor4D {
  const scale = g.v.map((v) => sg / (a * a * v + sg * sg))
  return tf.mul(tf.sub(x, tf.tensor1d(g.m.map((m) => a * m))), tf.tensor1d(scale)) as tf.Tensor4D
}

type LossVariant = (x0: tf.Tensor4D, noise: NoiseDraw, nets: ScoreNets) => tf.Scalar

/**
 * Monte-Carlo gradient of a loss w.r.t. (mu, s): `chunks` independent batches of `n` samples at timestep t,
 * returning the mean over chunks and its standard error.
 */
function lossGradientMC(t: number, loss: LossVariant, n: number, chunks: number, seed: number) {
  const a = SCHEDULE.alphas[t]!
  const sg = SCHEDULE.sigmas[t]!
  const mu = tf.variable(tf.tensor1d(MU), true)
  const s = tf.variable(tf.tensor1d(S), true)
  // the exact fake score: p_θ,t's eps at the current θ, held fixed (a perfectly trained s_ψ)
  const fakeGauss = { m: MU, v: S.map((x) => x * x) }
  const nets: ScoreNets = {
    fake: (x) => gaussEpsTensor(x, fakeGauss, a, sg),
    reference: (x, _t, withUncond) => ({
      cond: gaussEpsTensor(x, REF_COND, a, sg),
      uncond: withUncond ? gaussEpsTensor(x, REF_UNCOND, a, sg) : null,
    }),
  }
  const rng = new Rng(seed)
  const estimates: number[][] = []
  for (let c = 0; c < chunks; c++) {
    const grads = tf.tidy(() => {
      const z = tf.tensor4d(rng.normals(n * DIM), [n, 1, 1, DIM])
      const noise: NoiseDraw = {
        t: tf.fill([n], t) as tf.Tensor1D,
        alpha: tf.fill([n, 1, 1, 1], a) as tf.Tensor4D,
        sigma: tf.fill([n, 1, 1, 1], sg) as tf.Tensor4D,
        eps: tf.tensor4d(rng.normals(n * DIM), [n, 1, 1, DIM]),
      }
      const { grads } = tf.variableGrads(() => loss(tf.add(mu, tf.mul(s, z)) as tf.Tensor4D, noise, nets), [mu, s])
      return tf.concat([grads[mu.name]!, grads[s.name]!])
    })
    estimates.push(Array.from(grads.dataSync()))
    grads.dispose()
  }
  mu.dispose()
  s.dispose()
  const mean = estimates[0]!.map((_, p) => estimates.reduce((acc, e) => acc + e[p]!, 0) / chunks)
  const se = mean.map((m, p) => Math.sqrt(estimates.reduce((acc, e) => acc + (e[p]! - m) ** 2, 0) / (chunks - 1) / chunks))
  return { mean, se }
}

const regulariser = (opts: Partial<RegulariserOptions>): LossVariant => (x0, noise, nets) =>
  generatorRegulariser(x0, noise, nets, { kind: 'score', fullDivergence: false, huberC: HUBER_C, cfgScale: 1, cfgPlacement: 'in', ...opts }).loss

/** The wrong variant §3.3 warns about: d'(y) detached, everything else as the recommended form. */
const detachedHuberDerivative: LossVariant = (x0, noise, nets) => tf.tidy(() => {
  const xt = diffuse(x0, noise)
  const epsFake = nets.fake(xt, noise.t)
  const delta = tf.sub(epsFake, nets.reference(xt, noise.t, false).cond)
  const C = pseudoHuberConstant(HUBER_C, [1, 1, DIM])
  const dPrime = stopGradient(tf.div(delta, tf.sqrt(tf.add(tf.sum(tf.square(delta), [1, 2, 3], true), C * C))))
  return tf.mean(tf.neg(tf.sum(tf.mul(dPrime, tf.sub(epsFake, noise.eps)), [1, 2, 3])))
})

const N_LOSS = 20_000
const CHUNKS = 8
const N_REF = 150_000

function assertMatches(label: string, got: { mean: number[]; se: number[] }, want: { mean: number[]; se: number[] }) {
  if (process.env.DISTAR_DEBUG) console.log(label, '\n got', fmt(got.mean), '\n  se', fmt(got.se), '\nwant', fmt(want.mean), '\n  se', fmt(want.se))
  for (let p = 0; p < got.mean.length; p++) {
    const tol = 4.5 * Math.hypot(got.se[p]!, want.se[p]!) + 1e-4
    assert.ok(
      Math.abs(got.mean[p]! - want.mean[p]!) <= tol,
      `${label}: parameter ${p}: loss gradient ${got.mean[p]!.toFixed(5)} vs divergence gradient ${want.mean[p]!.toFixed(5)} (tolerance ${tol.toFixed(5)})\n got ${fmt(got.mean)}\nwant ${fmt(want.mean)}`,
    )
  }
}

/** The two estimates are far apart: their difference vector has a norm of many combined standard errors. */
function assertMismatch(label: string, got: { mean: number[]; se: number[] }, want: { mean: number[]; se: number[] }) {
  let z2 = 0
  for (let p = 0; p < got.mean.length; p++) z2 += ((got.mean[p]! - want.mean[p]!) / Math.hypot(got.se[p]!, want.se[p]!)) ** 2
  assert.ok(Math.sqrt(z2) > 20, `${label}: expected a clear mismatch, got a z-norm of ${Math.sqrt(z2).toFixed(1)}\n got ${fmt(got.mean)}\nwant ${fmt(want.mean)}`)
}

const fmt = (v: number[]) => v.map((x) => x.toFixed(4)).join(' ')

for (const t of [150, 400]) {
  test(`score form at t=${t}: gradient = ∇θ D with the sampling distribution held fixed; detaching d'(y) does not match`, () => {
    const want = divergenceGradientFD(t, 1, false, N_REF, 11)
    const got = lossGradientMC(t, regulariser({}), N_LOSS, CHUNKS, 12)
    assertMatches('recommended form', got, want)
    const detached = lossGradientMC(t, detachedHuberDerivative, N_LOSS, CHUNKS, 12)
    assertMismatch("detached d'(y) vs held-fixed gradient", detached, want)
    assertMismatch("detached d'(y) vs full gradient", detached, divergenceGradientFD(t, 1, true, N_REF, 11))
  })

  test(`score form at t=${t}, fullDivergence: gradient = full ∇θ D`, () => {
    const want = divergenceGradientFD(t, 1, true, N_REF, 13)
    const got = lossGradientMC(t, regulariser({ fullDivergence: true }), N_LOSS, CHUNKS, 14)
    assertMatches('full form', got, want)
    // and the two targets really are different here, so the two checks are not the same check
    assertMismatch('full vs held-fixed', got, divergenceGradientFD(t, 1, false, N_REF, 13))
  })
}

test('score form with CFG inside (w = 3): the guided reference sits inside the divergence', () => {
  const t = 300
  assertMatches('CFG in, held fixed', lossGradientMC(t, regulariser({ cfgScale: 3 }), N_LOSS, CHUNKS, 16), divergenceGradientFD(t, 3, false, N_REF, 15))
  assertMatches('CFG in, full', lossGradientMC(t, regulariser({ cfgScale: 3, fullDivergence: true }), N_LOSS, CHUNKS, 18), divergenceGradientFD(t, 3, true, N_REF, 17))
})

for (const t of [150, 400]) {
  test(`KL form at t=${t}: gradient = sigma_t ∇θ KL(p_θ,t ‖ p_ref,t) in closed form`, () => {
    const want = { mean: klGradientClosedForm(t), se: new Array(2 * DIM).fill(0) }
    const got = lossGradientMC(t, regulariser({ kind: 'kl' }), N_LOSS, CHUNKS, 20)
    assertMatches('KL form', got, want)
    // the score-form estimator is a different gradient (of a different divergence)
    assertMismatch('score vs KL', lossGradientMC(t, regulariser({}), N_LOSS, CHUNKS, 20), want)
  })
}

test('KL form: CFG outside (unguided KL + implicit reward) gives the same gradient as CFG inside', () => {
  const t = 300
  const inside = lossGradientMC(t, regulariser({ kind: 'kl', cfgScale: 4, cfgPlacement: 'in' }), 20_000, 3, 30)
  const outside = lossGradientMC(t, regulariser({ kind: 'kl', cfgScale: 4, cfgPlacement: 'out' }), 20_000, 3, 30)
  for (let p = 0; p < inside.mean.length; p++) {
    assert.ok(Math.abs(inside.mean[p]! - outside.mean[p]!) < 1e-4 * (1 + Math.abs(inside.mean[p]!)), `parameter ${p}: ${inside.mean[p]} vs ${outside.mean[p]}`)
  }
  // and the guidance changes the gradient at all (w = 4 vs w = 1)
  const plain = lossGradientMC(t, regulariser({ kind: 'kl' }), 20_000, 3, 30)
  assert.ok(inside.mean.some((g, p) => Math.abs(g - plain.mean[p]!) > 0.05), 'CFG scale 4 should change the KL gradient')
})
