// Errors in plain words, beside the field or the button that caused them. Forms check what they send
// with the contract's own schema first (one schema: the studio refuses exactly what the form refuses),
// and turn each problem into "<field label> <what is wrong>"; a refusal that still comes back from the
// studio ("Invalid params for jobs.start: params.config.controls.cfgScale: ...") is worded the same way.
import type { z } from 'zod'

/** Messages by field key; '' holds what belongs to no field. */
export type FieldErrors<K extends string> = Partial<Record<K | '', string>>

/** Which form field a schema path (joined with '.') is, and that field's label; null when none. */
export type FieldOf<K extends string> = (path: string) => { field: K; label: string } | null

/** A zod message as a sentence ending: zod's own wording for a wrong type becomes "must be a number". */
function plainMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return issue.expected === 'number' || issue.expected === 'int' ? 'must be a number' : `must be a ${issue.expected}`
  return issue.message
}

/** Field messages for a schema's issues: the first problem of each field, "<label> <message>". */
export function fieldErrors<K extends string>(error: z.ZodError, fieldOf: FieldOf<K>): FieldErrors<K> {
  const out: FieldErrors<K> = {}
  for (const issue of error.issues) {
    const path = issue.path.join('.')
    const at = fieldOf(path)
    const key = at?.field ?? ''
    if (out[key] !== undefined) continue
    out[key] = at ? `${at.label} ${plainMessage(issue)}.` : `${path ? `${path}: ` : ''}${plainMessage(issue)}.`
  }
  return out
}

/**
 * A studio refusal in plain words: the request's name and the schema paths are dropped for the field
 * labels `fieldOf` knows (under `prefix`, e.g. 'params.config.'), other messages are kept as they are.
 */
export function plainError<K extends string>(message: string, fieldOf: FieldOf<K>, prefix = ''): string {
  const invalid = /^Invalid params for [\w.]+: (.*)$/s.exec(message)
  if (!invalid) return message
  return invalid[1]!
    .split('; ')
    .map((part) => {
      const colon = /^([\w.]+): (.*)$/s.exec(part)
      if (!colon) return part
      const path = colon[1]!.startsWith(prefix) ? colon[1]!.slice(prefix.length) : colon[1]!
      const at = fieldOf(path)
      return at ? `${at.label} ${colon[2]}` : `${path}: ${colon[2]}`
    })
    .join('; ')
}
