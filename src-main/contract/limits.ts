// The limits of what people type, in one place: the run config (core/runs/run-config.ts), the live
// sliders of a running DI* job (the renderer's LIVE_CONTROLS), the gallery job and the prompt hints all
// take their bounds and their messages from here, so a form, a slider and the studio's refusal agree.
// zod only (the contract stays browser-safe), and no imports from the rest of the contract. The DI*
// control limits live in ml/ (zod-only too), since the reward spec there uses them and ml/ never imports
// the contract.
import { z } from 'zod'
import { CONTROL_LIMITS, boundedNumber, rangeMessage, type NumberLimit } from '../ml/distar/control-limits.ts'

export { CONTROL_LIMITS, boundedNumber, rangeMessage, type NumberLimit }

/** The most characters a prompt may have, wherever it is typed (Gallery, Compare, Train prompts). */
export const PROMPT_MAX_CHARS = 300
/** The one message for a prompt over PROMPT_MAX_CHARS: the hint under a prompt box and the refusal say it alike. */
export const PROMPT_TOO_LONG = `a prompt may have at most ${PROMPT_MAX_CHARS} characters`

/** A whole number from `min` (to `max`), refused with a message people can read. */
export function wholeNumber(min: number, max?: number) {
  const say = max === undefined ? `must be a whole number, at least ${min}` : `must be a whole number from ${min} to ${max.toLocaleString('en')}`
  const n = z.int({ error: say }).min(min, say)
  return max === undefined ? n : n.max(max, say)
}

/** One prompt, at most PROMPT_MAX_CHARS characters. */
export const PromptText = z.string().max(PROMPT_MAX_CHARS, PROMPT_TOO_LONG)
