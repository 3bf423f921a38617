// The live controls of a DI* run: a plain object the trainer reads (and validates) at the start of every
// step, so a caller may change any of them between steps; each step's result records the values it used.
import type { CfgPlacement, RegulariserKind } from './losses.ts'

export interface DiStarControls {
  /** α: weight of the reward term -α Σ_k mix_k r_k */
  rewardWeight: number
  /** relative weight of each reward by name (missing names weigh 1) */
  rewardMix: Record<string, number>
  /** weight of the regulariser (divergence to the reference, plus the CFG-out term) */
  regulariserWeight: number
  /** 'score' = DI* pseudo-Huber score divergence (default), 'kl' = Diff-Instruct / DI++ integral KL */
  regulariser: RegulariserKind
  /** score form only: also follow the divergence's dependence on the sampling distribution (§3.3); default false */
  fullDivergence: boolean
  /** pseudo-Huber constant per dimension in epsilon units (C = huberC * sqrt(H*W*C)); > 0 */
  huberC: number
  /** reference CFG scale w: 1 = conditional reference, 0 = unconditional; never applied to the fake score */
  cfgScale: number
  /** CFG inside the divergence (DI*-IN) or outside as DI++'s implicit reward (DI*-OUT) */
  cfgPlacement: CfgPlacement
  generatorLr: number
  fakeLr: number
  /** integer timesteps [tMin, tMax], both ends included, for the regulariser and the fake-score updates */
  tRange: [number, number]
  /** K: fake-score updates per generator update (0 allowed: the fake score stays as it is) */
  fakeStepsPerGeneratorStep: number
  /** clip each update's global gradient norm to this value (0 = no clipping) */
  maxGradNorm: number
}

/** Defaults for the embedded 32x32 model (di-star.md §4; the pseudo-Huber constant is this project's choice). */
export const DEFAULT_CONTROLS: DiStarControls = {
  rewardWeight: 1,
  rewardMix: {},
  regulariserWeight: 1,
  regulariser: 'score',
  fullDivergence: false,
  huberC: 0.03,
  cfgScale: 4.5,
  cfgPlacement: 'in',
  generatorLr: 1e-5,
  fakeLr: 1e-5,
  tRange: [20, 980],
  fakeStepsPerGeneratorStep: 1,
  maxGradNorm: 10,
}

export class DiStarControlError extends Error {
  override name = 'DiStarControlError'
}

/**
 * A validated copy of `input` (missing fields from `base`); throws DiStarControlError naming the field
 * for anything out of range, so a bad slider value never reaches the maths.
 */
export function validateControls(input: unknown, T: number, base: DiStarControls = DEFAULT_CONTROLS): DiStarControls {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new DiStarControlError('DI* controls must be an object')
  const c = { ...base, ...(input as Partial<DiStarControls>) }
  const known = new Set(Object.keys(DEFAULT_CONTROLS))
  for (const key of Object.keys(input)) if (!known.has(key)) throw new DiStarControlError(`unknown DI* control '${key}'`)

  const finite = (name: keyof DiStarControls, min = -Infinity) => {
    const v = c[name]
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new DiStarControlError(`${name} must be a finite number >= ${min}, got ${String(v)}`)
  }
  finite('rewardWeight')
  finite('regulariserWeight', 0)
  finite('cfgScale')
  finite('generatorLr', 0)
  finite('fakeLr', 0)
  finite('maxGradNorm', 0)
  if (typeof c.huberC !== 'number' || !(c.huberC > 0) || !Number.isFinite(c.huberC)) throw new DiStarControlError(`huberC must be a finite number > 0, got ${String(c.huberC)}`)
  if (c.regulariser !== 'score' && c.regulariser !== 'kl') throw new DiStarControlError(`regulariser must be 'score' or 'kl', got ${String(c.regulariser)}`)
  if (c.cfgPlacement !== 'in' && c.cfgPlacement !== 'out') throw new DiStarControlError(`cfgPlacement must be 'in' or 'out', got ${String(c.cfgPlacement)}`)
  if (typeof c.fullDivergence !== 'boolean') throw new DiStarControlError('fullDivergence must be true or false')
  const K = c.fakeStepsPerGeneratorStep
  if (!Number.isInteger(K) || K < 0 || K > 100) throw new DiStarControlError(`fakeStepsPerGeneratorStep must be an integer in [0, 100], got ${String(K)}`)
  const r = c.tRange
  if (!Array.isArray(r) || r.length !== 2 || !Number.isInteger(r[0]) || !Number.isInteger(r[1]) || r[0] < 1 || r[1] > T - 1 || r[0] > r[1]) {
    // t = 0 is excluded: sigma_0 is tiny and the regulariser's scores there are meaningless (pitfall 3)
    throw new DiStarControlError(`tRange must be two integers 1 <= tMin <= tMax <= ${T - 1}, got ${JSON.stringify(r)}`)
  }
  if (c.rewardMix === null || typeof c.rewardMix !== 'object' || Array.isArray(c.rewardMix)) throw new DiStarControlError('rewardMix must be an object of name -> weight')
  for (const [name, w] of Object.entries(c.rewardMix)) {
    if (typeof w !== 'number' || !Number.isFinite(w)) throw new DiStarControlError(`rewardMix['${name}'] must be a finite number, got ${String(w)}`)
  }
  return { ...c, tRange: [r[0], r[1]], rewardMix: { ...c.rewardMix } }
}
