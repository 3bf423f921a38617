// The samplers' update maths on plain Float32Arrays, one model evaluation at a time, so that an
// asynchronous model (an onnxruntime session) can drive the same DDIM and DPM-Solver++(2M) updates
// as samplers.ts does with a synchronous tfjs callback. samplers.ts can adopt these functions later;
// until then tests/unit/onnx-sampling.test.ts checks that both give the same images within 1e-3.
//
// Usage:
//   const stepper = new SamplerStepper(schedule, 'ddim', 25)
//   let x = initialNoise(seeds, shape)
//   for (const [i, t] of stepper.timesteps.entries()) x = stepper.step(i, x, await eps(x, t))
//   // x now holds the final x0 prediction (clipped to [-1, 1] by default)
import type { VpSchedule } from './schedule.ts'
import type { SamplerKind } from './samplers.ts'

export class SamplerStepper {
  /** integer timesteps, from noisy to clean: evaluate the model at timesteps[i] before step(i) */
  readonly timesteps: number[]
  private prevX0: Float32Array | null = null
  private prevH = 0
  private nextIndex = 0

  constructor(
    private readonly schedule: VpSchedule,
    readonly sampler: SamplerKind,
    steps: number,
    private readonly clipDenoised = true,
  ) {
    if (sampler !== 'ddim' && sampler !== 'dpmpp-2m') throw new Error(`sampler: unknown kind '${String(sampler)}' (expected ddim or dpmpp-2m)`)
    this.timesteps = schedule.samplingTimesteps(steps)
  }

  /**
   * One update from x at timesteps[i] given the model's eps there. Returns x at timesteps[i + 1],
   * or the final x0 prediction after the last step. Steps must be taken in order 0, 1, 2, ...
   */
  step(i: number, x: Float32Array, eps: Float32Array): Float32Array {
    if (i !== this.nextIndex) throw new Error(`sampler: step ${i} taken out of order (expected ${this.nextIndex})`)
    if (x.length !== eps.length) throw new Error(`sampler: x has ${x.length} values but eps has ${eps.length}`)
    this.nextIndex++
    const { schedule, timesteps: ts } = this
    const t = ts[i]!
    const a = schedule.alpha(t)
    const s = schedule.sigma(t)
    const x0 = predictX0(x, eps, a, s, this.clipDenoised)
    if (i === ts.length - 1) return x0
    const tn = ts[i + 1]!
    const an = schedule.alpha(tn)
    const sn = schedule.sigma(tn)
    const next = new Float32Array(x.length)
    if (this.sampler === 'ddim') {
      // re-derive eps from the (possibly clipped) x0 so the update stays on the DDIM trajectory
      for (let k = 0; k < x.length; k++) {
        const eHat = (x[k]! - x0[k]! * a) / s
        next[k] = x0[k]! * an + eHat * sn
      }
      return next
    }
    // DPM-Solver++(2M): x_next = (sn/s) x - an (e^{-h} - 1) D, with D a second-order blend of x0 estimates
    const h = schedule.lambda(tn) - schedule.lambda(t)
    const decay = sn / s
    const jump = an * Math.expm1(-h)
    const prev = this.prevX0
    const secondOrder = prev !== null && i + 1 < ts.length - 1
    const r = this.prevH / h
    for (let k = 0; k < x.length; k++) {
      const d = secondOrder ? x0[k]! * (1 + 1 / (2 * r)) - prev![k]! * (1 / (2 * r)) : x0[k]!
      next[k] = x[k]! * decay - d * jump
    }
    this.prevX0 = x0
    this.prevH = h
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
