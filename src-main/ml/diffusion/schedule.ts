// Discrete variance-preserving noise schedule: x_t = alpha_t x0 + sigma_t eps, t = 0..T-1,
// with alpha_t^2 + sigma_t^2 = 1. The tables live in plain Float64Arrays so that per-sample
// coefficients are looked up in JS and handed to tfjs as small tensors (no gather needed,
// which has no gradient on the wasm backend anyway).

export type ScheduleKind = 'cosine' | 'linear'

export interface ScheduleConfig {
  kind: ScheduleKind
  /** number of discrete steps; the project convention is 1000 */
  T: number
}

export const DEFAULT_SCHEDULE: ScheduleConfig = { kind: 'cosine', T: 1000 }

/** Largest per-step beta; clipping keeps the last steps finite for the cosine schedule. */
const MAX_BETA = 0.999

export class VpSchedule {
  readonly config: ScheduleConfig
  readonly T: number
  /** cumulative product of (1 - beta), strictly decreasing from ~1 to ~0 */
  readonly alphaBars: Float64Array
  /** signal scale sqrt(alphaBar) */
  readonly alphas: Float64Array
  /** noise scale sqrt(1 - alphaBar) */
  readonly sigmas: Float64Array

  constructor(config: ScheduleConfig = DEFAULT_SCHEDULE) {
    if (!Number.isInteger(config.T) || config.T < 2) throw new Error(`VpSchedule: T must be an integer >= 2, got ${config.T}`)
    if (config.kind !== 'cosine' && config.kind !== 'linear') throw new Error(`VpSchedule: unknown kind '${String(config.kind)}'`)
    this.config = { ...config }
    this.T = config.T
    const betas = config.kind === 'cosine' ? cosineBetas(config.T) : linearBetas(config.T)
    this.alphaBars = new Float64Array(config.T)
    this.alphas = new Float64Array(config.T)
    this.sigmas = new Float64Array(config.T)
    let prod = 1
    for (let t = 0; t < config.T; t++) {
      prod *= 1 - betas[t]!
      this.alphaBars[t] = prod
      this.alphas[t] = Math.sqrt(prod)
      this.sigmas[t] = Math.sqrt(1 - prod)
    }
  }

  private check(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.T) throw new Error(`VpSchedule: t must be an integer in [0, ${this.T - 1}], got ${t}`)
    return t
  }

  alphaBar(t: number): number { return this.alphaBars[this.check(t)]! }
  alpha(t: number): number { return this.alphas[this.check(t)]! }
  sigma(t: number): number { return this.sigmas[this.check(t)]! }
  /** log signal-to-noise ratio log(alpha/sigma), strictly decreasing in t */
  lambda(t: number): number { return Math.log(this.alpha(t) / this.sigma(t)) }

  /**
   * `count` integer timesteps from T-1 down to 0, evenly spaced (the sampler's grid).
   * Consecutive duplicates are impossible as long as count <= T.
   */
  samplingTimesteps(count: number): number[] {
    if (!Number.isInteger(count) || count < 1 || count > this.T) throw new Error(`VpSchedule: steps must be an integer in [1, ${this.T}], got ${count}`)
    if (count === 1) return [this.T - 1]
    const out: number[] = []
    for (let i = 0; i < count; i++) out.push(Math.round(((this.T - 1) * (count - 1 - i)) / (count - 1)))
    return out
  }
}

/** Nichol & Dhariwal (2021) cosine schedule; step t maps to continuous time (t+1)/T. */
function cosineBetas(T: number): Float64Array {
  const s = 0.008
  const f = (u: number) => Math.cos(((u + s) / (1 + s)) * (Math.PI / 2)) ** 2
  const betas = new Float64Array(T)
  for (let t = 0; t < T; t++) {
    const ab = f((t + 1) / T) / f(0)
    const abPrev = f(t / T) / f(0)
    betas[t] = Math.min(1 - ab / abPrev, MAX_BETA)
  }
  return betas
}

/** Ho et al. (2020) linear betas, rescaled so that any T spans the same noise range as T = 1000. */
function linearBetas(T: number): Float64Array {
  const scale = 1000 / T
  const lo = scale * 1e-4
  const hi = Math.min(scale * 0.02, MAX_BETA)
  const betas = new Float64Array(T)
  for (let t = 0; t < T; t++) betas[t] = lo + ((hi - lo) * t) / (T - 1)
  return betas
}
