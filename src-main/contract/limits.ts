// The limits of what people type, in one place: the run config (core/runs/run-config.ts), the live
// sliders of a running DI* job (the renderer's LIVE_CONTROLS), the gallery job and the prompt hints all
// take their bounds and their messages from here, so a form, a slider and the studio's refusal agree.
// zod only (the contract stays browser-safe), and no imports from the rest of the contract.
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

/** The most characters a prompt may have, wherever it is typed (Gallery, Compare, Train prompts). */
export const PROMPT_MAX_CHARS = 300
/** The one message for a prompt over PROMPT_MAX_CHARS: the hint under a prompt box and the refusal say it alike. */
export const PROMPT_TOO_LONG = `a prompt may have at most ${PROMPT_MAX_CHARS} characters`

/** "must be between 0 and 10" */
export function rangeMessage(limit: NumberLimit): string {
  return `must be between ${limit.min} and ${limit.max}`
}

/** A number within `limit`, refused with a message people can read. */
export function boundedNumber(limit: NumberLimit) {
  const say = rangeMessage(limit)
  return z.number({ error: 'must be a number' }).min(limit.min, say).max(limit.max, say)
}

/** A whole number from `min` (to `max`), refused with a message people can read. */
export function wholeNumber(min: number, max?: number) {
  const say = max === undefined ? `must be a whole number, at least ${min}` : `must be a whole number from ${min} to ${max.toLocaleString('en')}`
  const n = z.int({ error: say }).min(min, say)
  return max === undefined ? n : n.max(max, say)
}

/** One prompt, at most PROMPT_MAX_CHARS characters. */
export const PromptText = z.string().max(PROMPT_MAX_CHARS, PROMPT_TOO_LONG)
