// Noise schedulers as a model's scheduler/scheduler_config.json names them, following diffusers'
// published code (src/diffusers/schedulers/):
//   scheduling_euler_discrete.py            EulerDiscreteScheduler
//   scheduling_euler_ancestral_discrete.py  EulerAncestralDiscreteScheduler
//   scheduling_ddim.py                      DDIMScheduler
// and the config fields they read: num_train_timesteps, beta_start, beta_end, beta_schedule ("linear",
// "scaled_linear", "squaredcos_cap_v2"), trained_betas, prediction_type ("epsilon", "v_prediction"),
// timestep_spacing ("leading", "trailing", "linspace"), steps_offset, set_alpha_to_one, clip_sample,
// clip_sample_range. Settings this file does not implement (Karras sigmas, zero-SNR rescaling,
// thresholding, continuous timesteps, "sample" prediction) are refused by name rather than ignored.
//
// Formulas (diffusers):
//   betas  scaled_linear: linspace(sqrt(beta_start), sqrt(beta_end), T)^2; linear: linspace(beta_start, beta_end, T)
//   alphas_cumprod[t] = prod_{s<=t} (1 - betas[s]);  sigma(t) = sqrt((1 - alphas_cumprod[t]) / alphas_cumprod[t])
//   timesteps for N steps:  linspace  linspace(0, T-1, N) reversed (Euler keeps fractions; DDIM rounds)
//                           leading   (arange(N) * (T // N)).round() reversed + steps_offset
//                           trailing  round(arange(T, 0, -T / N)) - 1
//   Euler: sigmas = interp(timesteps, arange(T), sigma) + [0]; init_noise_sigma = max sigma for
//     linspace/trailing, sqrt(max^2 + 1) for leading; model input x / sqrt(sigma^2 + 1);
//     x0 = x - sigma eps (epsilon) or eps * (-sigma / sqrt(sigma^2+1)) + x / (sigma^2+1) (v_prediction);
//     Euler:     x_next = x + (x - x0) / sigma * (sigma_next - sigma)
//     ancestral: sigma_up = sqrt(sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2), sigma_down = sqrt(sigma_next^2 - sigma_up^2),
//                x_next = x + (x - x0) / sigma * (sigma_down - sigma) + noise * sigma_up
//   DDIM (eta = 0): prev_t = t - T // N; a = alphas_cumprod[t]; a_prev = alphas_cumprod[prev_t], or
//     final_alpha_cumprod (1 if set_alpha_to_one else alphas_cumprod[0]) when prev_t < 0;
//     x0 = (x - sqrt(1-a) eps) / sqrt(a) (epsilon) or sqrt(a) x - sqrt(1-a) v (v_prediction, eps = sqrt(a) v + sqrt(1-a) x);
//     x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps.
// Turbo models (SD-Turbo, SDXL-Turbo) ship EulerAncestralDiscreteScheduler with timestep_spacing
// "trailing": one step is t = 999, sigma_next = 0, so the step returns x0 (guidance off).
import type { Rng } from '../util/rng.ts'

export interface SchedulerConfig {
  _class_name?: string
  num_train_timesteps?: number
  beta_start?: number
  beta_end?: number
  beta_schedule?: string
  trained_betas?: number[] | null
  prediction_type?: string
  timestep_spacing?: string
  steps_offset?: number
  set_alpha_to_one?: boolean
  clip_sample?: boolean
  clip_sample_range?: number
  use_karras_sigmas?: boolean
  use_exponential_sigmas?: boolean
  use_beta_sigmas?: boolean
  rescale_betas_zero_snr?: boolean
  thresholding?: boolean
  timestep_type?: string
  interpolation_type?: string
  final_sigmas_type?: string
  [key: string]: unknown
}

export const SUPPORTED_SCHEDULERS = ['EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler', 'DDIMScheduler'] as const
export type SchedulerName = (typeof SUPPORTED_SCHEDULERS)[number]

export class SchedulerError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SchedulerError'
  }
}

export interface Scheduler {
  readonly name: SchedulerName
  /** the timestep values given to the UNet, one per step */
  readonly timesteps: number[]
  /** the standard deviation of the initial noise */
  readonly initNoiseSigma: number
  /** the UNet's input at step i (Euler divides by sqrt(sigma^2 + 1)) */
  scaleModelInput(sample: Float32Array, step: number): Float32Array
  /** the next sample from the model output at step i; `rng` draws the ancestral noise */
  step(modelOutput: Float32Array, step: number, sample: Float32Array, rng: Rng): Float32Array
}

function linspace(a: number, b: number, n: number): number[] {
  if (n === 1) return [a]
  return Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1))
}

/** numpy's round: half to even */
function roundHalfEven(x: number): number {
  const r = Math.round(x)
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r
}

export function makeBetas(config: SchedulerConfig): Float64Array {
  const T = config.num_train_timesteps ?? 1000
  if (config.trained_betas && config.trained_betas.length > 0) return Float64Array.from(config.trained_betas)
  const start = config.beta_start ?? 0.0001
  const end = config.beta_end ?? 0.02
  switch (config.beta_schedule ?? 'linear') {
    case 'linear':
      return Float64Array.from(linspace(start, end, T))
    case 'scaled_linear':
      return Float64Array.from(linspace(Math.sqrt(start), Math.sqrt(end), T), (v) => v * v)
    case 'squaredcos_cap_v2': {
      // betas_for_alpha_bar with the cosine alpha_bar, max_beta 0.999
      const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2
      return Float64Array.from({ length: T }, (_, i) => Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999))
    }
    default:
      throw new SchedulerError(`beta_schedule "${config.beta_schedule}" is not supported (linear, scaled_linear, squaredcos_cap_v2)`)
  }
}

export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length)
  let p = 1
  for (let i = 0; i < betas.length; i++) {
    p *= 1 - betas[i]!
    out[i] = p
  }
  return out
}

/** The timesteps for `steps` inference steps, as floats (Euler keeps linspace fractions). */
export function spacedTimesteps(config: SchedulerConfig, steps: number): number[] {
  const T = config.num_train_timesteps ?? 1000
  const spacing = config.timestep_spacing ?? 'leading'
  const offset = config.steps_offset ?? 0
  if (!Number.isInteger(steps) || steps < 1 || steps > T) throw new SchedulerError(`steps must be an integer from 1 to ${T}, got ${steps}`)
  switch (spacing) {
    case 'linspace':
      return linspace(0, T - 1, steps).reverse()
    case 'leading': {
      const ratio = Math.floor(T / steps)
      return Array.from({ length: steps }, (_, i) => roundHalfEven(i * ratio) + offset).reverse()
    }
    case 'trailing': {
      const ratio = T / steps
      const out: number[] = []
      // numpy arange(T, 0, -ratio): T - k ratio while > 0
      for (let k = 0; T - k * ratio > 1e-9; k++) out.push(roundHalfEven(T - k * ratio) - 1)
      return out
    }
    default:
      throw new SchedulerError(`timestep_spacing "${spacing}" is not supported (leading, trailing, linspace)`)
  }
}

function checkUnsupported(config: SchedulerConfig, name: string): void {
  const refuse = (what: string) => {
    throw new SchedulerError(`${name}: ${what} is not supported yet`)
  }
  if (config.use_karras_sigmas) refuse('use_karras_sigmas')
  if (config.use_exponential_sigmas) refuse('use_exponential_sigmas')
  if (config.use_beta_sigmas) refuse('use_beta_sigmas')
  if (config.rescale_betas_zero_snr) refuse('rescale_betas_zero_snr')
  if (config.thresholding) refuse('thresholding')
  if (config.timestep_type && config.timestep_type !== 'discrete') refuse(`timestep_type "${config.timestep_type}"`)
  if (config.interpolation_type && config.interpolation_type !== 'linear') refuse(`interpolation_type "${config.interpolation_type}"`)
  if (config.final_sigmas_type && config.final_sigmas_type !== 'zero') refuse(`final_sigmas_type "${config.final_sigmas_type}"`)
  const pred = config.prediction_type ?? 'epsilon'
  if (pred !== 'epsilon' && pred !== 'v_prediction') refuse(`prediction_type "${pred}" (epsilon and v_prediction are)`)
}

/** sigma at a (possibly fractional) timestep: numpy.interp over the integer timesteps */
function interpSigma(sigmas: Float64Array, t: number): number {
  if (t <= 0) return sigmas[0]!
  if (t >= sigmas.length - 1) return sigmas[sigmas.length - 1]!
  const i = Math.floor(t)
  const f = t - i
  return sigmas[i]! * (1 - f) + sigmas[i + 1]! * f
}

class EulerScheduler implements Scheduler {
  readonly timesteps: number[]
  readonly sigmas: number[]
  readonly initNoiseSigma: number
  private readonly vPrediction: boolean

  constructor(readonly name: 'EulerDiscreteScheduler' | 'EulerAncestralDiscreteScheduler', config: SchedulerConfig, steps: number) {
    checkUnsupported(config, name)
    const ac = alphasCumprod(makeBetas(config))
    const trainSigmas = ac.map((a) => Math.sqrt((1 - a) / a))
    this.timesteps = spacedTimesteps(config, steps)
    this.sigmas = [...this.timesteps.map((t) => interpSigma(trainSigmas, t)), 0]
    const max = Math.max(...this.sigmas)
    const spacing = config.timestep_spacing ?? 'leading'
    this.initNoiseSigma = spacing === 'linspace' || spacing === 'trailing' ? max : Math.sqrt(max * max + 1)
    this.vPrediction = config.prediction_type === 'v_prediction'
  }

  scaleModelInput(sample: Float32Array, step: number): Float32Array {
    const s = this.sigmas[step]!
    const k = 1 / Math.sqrt(s * s + 1)
    return sample.map((v) => v * k)
  }

  step(modelOutput: Float32Array, step: number, sample: Float32Array, rng: Rng): Float32Array {
    const sigma = this.sigmas[step]!
    const next = this.sigmas[step + 1]!
    const out = new Float32Array(sample.length)
    let sigmaUp = 0
    let target = next
    if (this.name === 'EulerAncestralDiscreteScheduler') {
      sigmaUp = Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma))
      target = Math.sqrt(next * next - sigmaUp * sigmaUp)
    }
    const dt = target - sigma
    const c = 1 / Math.sqrt(sigma * sigma + 1)
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!
      const e = modelOutput[i]!
      const x0 = this.vPrediction ? e * (-sigma * c) + x / (sigma * sigma + 1) : x - sigma * e
      out[i] = x + ((x - x0) / sigma) * dt
    }
    if (sigmaUp > 0) for (let i = 0; i < out.length; i++) out[i]! += rng.normal() * sigmaUp
    return out
  }
}

class DdimScheduler implements Scheduler {
  readonly name = 'DDIMScheduler' as const
  readonly timesteps: number[]
  readonly initNoiseSigma = 1
  private readonly ac: Float64Array
  private readonly finalAlpha: number
  private readonly stride: number
  private readonly vPrediction: boolean
  private readonly clip: number | null

  constructor(config: SchedulerConfig, steps: number) {
    checkUnsupported(config, 'DDIMScheduler')
    this.ac = alphasCumprod(makeBetas(config))
    this.finalAlpha = config.set_alpha_to_one === false ? this.ac[0]! : 1
    const T = config.num_train_timesteps ?? 1000
    // scheduling_ddim.py set_timesteps: linspace is rounded to integers
    this.timesteps = spacedTimesteps(config, steps).map((t) => ((config.timestep_spacing ?? 'leading') === 'linspace' ? roundHalfEven(t) : t))
    this.stride = Math.floor(T / steps)
    this.vPrediction = config.prediction_type === 'v_prediction'
    // diffusers' DDIMScheduler defaults clip_sample to true; SD configs set it false
    this.clip = (config.clip_sample ?? true) ? (config.clip_sample_range ?? 1) : null
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample
  }

  step(modelOutput: Float32Array, step: number, sample: Float32Array): Float32Array {
    const t = this.timesteps[step]!
    const prev = t - this.stride
    const a = this.ac[t]!
    const aPrev = prev >= 0 ? this.ac[prev]! : this.finalAlpha
    const sa = Math.sqrt(a)
    const sb = Math.sqrt(1 - a)
    const out = new Float32Array(sample.length)
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!
      const m = modelOutput[i]!
      let x0 = this.vPrediction ? sa * x - sb * m : (x - sb * m) / sa
      const eps = this.vPrediction ? sa * m + sb * x : m
      if (this.clip !== null) x0 = Math.min(this.clip, Math.max(-this.clip, x0))
      out[i] = Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps
    }
    return out
  }
}

/** The scheduler a model's scheduler_config.json names, set up for `steps` steps. */
export function createScheduler(config: SchedulerConfig, steps: number): Scheduler {
  const name = config._class_name ?? ''
  switch (name) {
    case 'EulerDiscreteScheduler':
    case 'EulerAncestralDiscreteScheduler':
      return new EulerScheduler(name, config, steps)
    case 'DDIMScheduler':
      return new DdimScheduler(config, steps)
    default:
      throw new SchedulerError(`scheduler "${name || '(no _class_name)'}" is not supported (${SUPPORTED_SCHEDULERS.join(', ')})`)
  }
}
