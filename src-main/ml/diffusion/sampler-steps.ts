// The samplers' update maths, once, as plain numbers: every DDIM and DPM-Solver++(2M) step is a linear
// combination of the current x, this step's x0 prediction and the previous step's x0 prediction,
//     x_next = cx * x + cx0 * x0 + cPrev * x0_prev,     x0 = clip((x - sigma_t eps) / alpha_t),
// with coefficients that depend only on the schedule and the step grid. samplerPlan() computes them;
// SamplerStepper applies them to Float32Arrays one model evaluation at a time, so an asynchronous model
// (an onnxruntime session) drives the same sampler as samplers.ts does with a synchronous tfjs callback.
// samplers.ts can adopt samplerPlan() for its tensor updates; until then tests hold the two to 1e-4
// (tests/unit/onnx-sampler-steps.test.ts) and the ORT pipeline to the tfjs one within 1e-3.
//
// Usage:
//   const stepper = new SamplerStepper(schedule, 'ddim', 25)
//   let x = initialNoise(seeds, shape)
//   for (const [i, t] of stepper.timesteps.entries()) x = stepper.step(i, x, await eps(x, t))
//   // x now holds the final x0 prediction (clipped to [-1, 1] by default)
import type { VpSchedule } from './schedule.ts'
import type { SamplerKind } from './samplers.ts'

export interface SamplerStepPlan {
  /** the model is evaluated at this integer timestep */
  t: number
  alpha: number
  sigma: number
  /** true on the last step: its result is x0 itself */
  final: boolean
  cx: number
  cx0: number
  /** weight of the previous step's x0 (DPM-Solver++ second order); 0 otherwise */
  cPrev: number
}

/** The coefficients of every step of a sampler run (see the header for the update they define). */
export function samplerPlan(schedule: VpSchedule, sampler: SamplerKind, steps: number): SamplerStepPlan[] {
  if (sampler !== 'ddim' && sampler !== 'dpmpp-2m') throw new Error(`sampler: unknown kind '${String(sampler)}' (expected ddim or dpmpp-2m)`)
  const ts = schedule.samplingTimesteps(steps)
  let prevH = 0
  return ts.map((t, i) => {
    const alpha = schedule.alpha(t)
    const sigma = schedule.sigma(t)
    if (i === ts.length - 1) return { t, alpha, sigma, final: true, cx: 0, cx0: 1, cPrev: 0 }
    const tn = ts[i + 1]!
    const an = schedule.alpha(tn)
    const sn = schedule.sigma(tn)
    if (sampler === 'ddim') {
      // x_next = an x0 + sn eHat with eHat = (x - a x0) / s re-derived from the (possibly clipped) x0
      return { t, alpha, sigma, final: false, cx: sn / sigma, cx0: an - (alpha * sn) / sigma, cPrev: 0 }
    }
    // DPM-Solver++(2M): x_next = (sn/s) x - an (e^{-h} - 1) D, D = x0, or (1 + 1/2r) x0 - (1/2r) x0_prev
    // with r = h_prev / h once a previous x0 exists (and not on the step into the final jump)
    const h = schedule.lambda(tn) - schedule.lambda(t)
    const jump = an * Math.expm1(-h)
    const secondOrder = i > 0 && i + 1 < ts.length - 1
    const r = prevH / h
    prevH = h
    return secondOrder
      ? { t, alpha, sigma, final: false, cx: sn / sigma, cx0: -jump * (1 + 1 / (2 * r)), cPrev: jump / (2 * r) }
      : { t, alpha, sigma, final: false, cx: sn / sigma, cx0: -jump, cPrev: 0 }
  })
}

export class SamplerStepper {
  /** integer timesteps, from noisy to clean: evaluate the model at timesteps[i] before step(i) */
  readonly timesteps: number[]
  private readonly plan: SamplerStepPlan[]
  private prevX0: Float32Array | null = null
  private nextIndex = 0

  constructor(schedule: VpSchedule, readonly sampler: SamplerKind, steps: number, private readonly clipDenoised = true) {
    this.plan = samplerPlan(schedule, sampler, steps)
    this.timesteps = this.plan.map((p) => p.t)
  }

  /**
   * One update from x at timesteps[i] given the model's eps there. Returns x at timesteps[i + 1],
   * or the final x0 prediction after the last step. Steps must be taken in order 0, 1, 2, ...
   */
  step(i: number, x: Float32Array, eps: Float32Array): Float32Array {
    if (i !== this.nextIndex) throw new Error(`sampler: step ${i} taken out of order (expected ${this.nextIndex})`)
    if (x.length !== eps.length) throw new Error(`sampler: x has ${x.length} values but eps has ${eps.length}`)
    this.nextIndex++
    const p = this.plan[i]!
    const x0 = predictX0(x, eps, p.alpha, p.sigma, this.clipDenoised)
    if (p.final) return x0
    const prev = p.cPrev !== 0 ? this.prevX0! : null
    const next = new Float32Array(x.length)
    for (let k = 0; k < x.length; k++) next[k] = p.cx * x[k]! + p.cx0 * x0[k]! + (prev ? p.cPrev * prev[k]! : 0)
    this.prevX0 = x0
    return next
  }
}

/** x0 = (x - sigma eps) / alpha, optionally clipped to [-1, 1]. */
export function predictX0(x: Float32Array, eps: Float32Array, alpha: number, sigma: number, clip: boolean): Float32Array {
  const out = new Float32Array(x.length)
  for (let k = 0; k < x.length; k++) {
    const v = (x[k]! - sigma * eps[k]!) / alpha
    out[k] = clip ? Math.min(1, Math.max(-1, v)) : v
  }
  return out
}

/** Classifier-free guidance on flat arrays: eps_u + w (eps_c - eps_u). */
export function guideEps(cond: Float32Array, uncond: Float32Array, guidance: number): Float32Array {
  if (cond.length !== uncond.length) throw new Error(`guidance: conditional has ${cond.length} values, unconditional ${uncond.length}`)
  const out = new Float32Array(cond.length)
  for (let k = 0; k < cond.length; k++) out[k] = uncond[k]! + guidance * (cond[k]! - uncond[k]!)
  return out
}
