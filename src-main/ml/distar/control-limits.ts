// The bounds of the DI* controls people set (forms, live sliders, run configs), with the messages that
// refuse a value outside them. zod only: the IPC contract re-exports this file (contract/limits.ts), and
// the reward spec (ml/rewards/reward-spec.ts) uses it, so it may import nothing else.
import { z } from 'zod'

/** Inclusive bounds of a number people set. */
export interface NumberLimit {
  min: number
  max: number
}

/**
 * The DI* controls a form and a live slider both set. Weights are never negative (a weight of 0 turns a
 * term off); the learning rates stop where a step diverges on the shipped models; CFG up to 10.
 */
export const CONTROL_LIMITS = {
  /** scales the whole reward mix */
  rewardWeight: { min: 0, max: 10 },
  /** one reward's share of the mix (the per-reward weights of the Train form, rewardMix.<reward> live) */
  rewardPartWeight: { min: 0, max: 10 },
  regulariserWeight: { min: 0, max: 10 },
  cfgScale: { min: 0, max: 10 },
  /** 0 freezes the network; the live slider is log-scaled from 1e-7 */
  generatorLr: { min: 0, max: 0.01 },
  fakeLr: { min: 0, max: 0.01 },
} as const satisfies Record<string, NumberLimit>

/** "must be between 0 and 10" */
export function rangeMessage(limit: NumberLimit): string {
  return `must be between ${limit.min} and ${limit.max}`
}

/** A number within `limit`, refused with a message people can read. */
export function boundedNumber(limit: NumberLimit) {
  const say = rangeMessage(limit)
  return z.number({ error: 'must be a number' }).min(limit.min, say).max(limit.max, say)
}
