// The live sliders' scales and the values they show. A slider whose default sits near the bottom of its
// range (the reward weight's 0.1 of 0-10, a learning rate's 1e-4 of 0-0.01) is log-scaled, so the
// default is mid-slider and small changes are reachable; its leftmost position is 0 (the term off, or
// the network frozen), which a log scale cannot reach otherwise.
import { CONTROL_LIMITS } from '../../../src-main/contract/index.ts'

/**
 * The sliders that change a running job (flat `set` control names of the DI* job), over the range the
 * run config accepts (contract/limits.ts), so a slider and the form's field agree.
 */
export const LIVE_CONTROLS = [
  // the reward weight's default (0.1) sits near the bottom of 0-10: a log slider from 1e-3 (leftmost: 0) to the limit
  { key: 'rewardWeight', label: 'Reward weight', min: -3, max: Math.log10(CONTROL_LIMITS.rewardWeight.max), step: 0.05, log: true },
  { key: 'regulariserWeight', label: 'Regulariser weight', ...CONTROL_LIMITS.regulariserWeight, step: 0.1, log: false },
  { key: 'cfgScale', label: 'CFG scale', ...CONTROL_LIMITS.cfgScale, step: 0.1, log: false },
  // learning rate on a log slider: the value is 10^x, from 1e-7 (leftmost: 0, frozen) to the limit
  { key: 'generatorLr', label: 'Learning rate (generator)', min: -7, max: Math.log10(CONTROL_LIMITS.generatorLr.max), step: 0.05, log: true },
] as const


export interface SliderScale {
  /** slider positions: the value itself on a linear scale, log10 of it on a log scale */
  min: number
  max: number
  log: boolean
}

/** The slider position that shows `value`. */
export function toPosition(scale: SliderScale, value: number): number {
  if (!scale.log) return Math.min(scale.max, Math.max(scale.min, value))
  if (!(value > 0)) return scale.min
  return Math.min(scale.max, Math.max(scale.min, Math.log10(value)))
}

/**
 * The value a slider position sets; on a log scale the leftmost position is 0, and values are rounded
 * to 2 significant digits (10^0.7 sets 5, not 5.01), on a linear one to 3.
 */
export function fromPosition(scale: SliderScale, position: number): number {
  if (!scale.log) return Number(position.toPrecision(3))
  if (position <= scale.min) return 0
  return Number((10 ** position).toPrecision(2))
}

/** Whether the value a step reports is the one the user set (a JSON round trip and float noise aside). */
export function sameControlValue(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b))
}

/** A control value for people: "0.3", "5", "4.5", "1e-4"-style for the small and the large. */
export function formatControl(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–'
  if (value === 0) return '0'
  if (Math.abs(value) >= 0.01 && Math.abs(value) < 1000) return String(Number(value.toPrecision(3)))
  return value.toExponential(1)
}
