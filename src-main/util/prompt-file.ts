// Prompt files, one prompt a line: the training prompts of a run config, the showcase and validation lists
// under resources/prompts, `npm run generate -- --prompts`. Every reader splits them the same way: lines are
// trimmed, blank lines and lines starting with '#' (comments) are dropped, CRLF files read like LF ones.
import { readFileSync } from 'node:fs'

export class PromptFileError extends Error {
  override name = 'PromptFileError'
}

/** The prompts of a prompt file's text. */
export function parsePromptText(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'))
}

/** Reads a prompt file; a missing, unreadable or empty one (comments only) is a PromptFileError naming it. */
export function readPromptFile(path: string): string[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new PromptFileError(`Cannot read the prompt file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  const prompts = parsePromptText(text)
  if (prompts.length === 0) throw new PromptFileError(`The prompt file ${path} has no prompts (only blank or # comment lines)`)
  return prompts
}
