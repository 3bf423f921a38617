// The user's pairwise choices, one JSON line each in <workspace>/preferences/choices.jsonl.
// Appends are fsynced (a choice the UI confirmed survives a crash); a line torn by a crash, damaged on
// disk (each line has a checksum) or edited by hand is reported with its line number and skipped, never fatal.
import { createHash, randomUUID } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import { atomicWriteFile } from '../../util/atomic-write.ts'

/** Where preference training saves the model, inside the workspace (the reward spec's modelDir). */
export const PREFERENCE_MODEL_DIR = 'preferences/model'

export const CHOICES_FILE = join('preferences', 'choices.jsonl')

const ImagePath = z.string().min(1).max(1024).refine((p) => !p.includes('\0'), 'path must not contain NUL characters')

/** What the Prefer view sends: two images of one prompt (workspace-relative PNG paths) and the winner. */
export const NewChoice = z.strictObject({
  prompt: z.string().max(1000),
  imageA: ImagePath,
  imageB: ImagePath,
  winner: z.enum(['A', 'B', 'tie']),
}).refine((c) => c.imageA !== c.imageB, { message: 'imageA and imageB must be different images', path: ['imageB'] })
export type NewChoice = z.output<typeof NewChoice>

export const StoredChoice = z.strictObject({
  id: z.string().min(1),
  time: z.string(),
  prompt: z.string(),
  imageA: ImagePath,
  imageB: ImagePath,
  /** 'tie': neither image is better; kept, and left out of training */
  winner: z.enum(['A', 'B', 'tie']),
})
export type StoredChoice = z.output<typeof StoredChoice>

export class ChoiceError extends Error {
  override name = 'ChoiceError'
}

/** Validates and appends one choice (fsynced); returns it with its id and time. */
export async function addChoice(workspaceRoot: string, input: unknown): Promise<StoredChoice> {
  const parsed = NewChoice.safeParse(input)
  if (!parsed.success) throw new ChoiceError(`Invalid preference choice:\n${z.prettifyError(parsed.error)}`)
  const choice: StoredChoice = { id: randomUUID(), time: new Date().toISOString(), ...parsed.data }
  const path = join(workspaceRoot, CHOICES_FILE)
  await fs.mkdir(dirname(path), { recursive: true })
  const handle = await fs.open(path, 'a+')
  try {
    // a file whose last line was torn by a crash gets a newline first, so this choice stays readable
    const { size } = await handle.stat()
    let prefix = ''
    if (size > 0) {
      const last = Buffer.alloc(1)
      await handle.read(last, 0, 1, size - 1)
      if (last[0] !== 0x0a) prefix = '\n'
    }
    await handle.appendFile(prefix + JSON.stringify({ ...choice, sum: lineChecksum(choice) }) + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
  return choice
}

/**
 * Takes back the choice with this id (the Prefer view's Undo): the file is rewritten without its line,
 * atomically; every other line stays byte for byte, unreadable ones included. False when no line has it.
 */
export async function removeChoice(workspaceRoot: string, id: string): Promise<boolean> {
  const path = join(workspaceRoot, CHOICES_FILE)
  let text: string
  try {
    text = await fs.readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
  const lines = text.split('\n')
  const index = lines.findIndex((line) => {
    try {
      const json = JSON.parse(line) as { id?: unknown }
      return json.id === id
    } catch {
      return false
    }
  })
  if (index < 0) return false
  lines.splice(index, 1)
  await atomicWriteFile(path, lines.join('\n'))
  return true
}

/**
 * Each stored line carries `sum`: the first 16 hex digits of the sha256 of the line's JSON without it
 * (JSON.parse keeps the key order, so the reader re-serialises exactly what was written). A bit flipped
 * on disk that leaves valid JSON (a winner A turned into B, a changed path) is caught by it.
 */
function lineChecksum(fields: object): string {
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 16)
}

export interface ChoiceList {
  choices: StoredChoice[]
  /** one message per skipped line, e.g. "line 7: not JSON" */
  problems: string[]
}

export async function readChoices(workspaceRoot: string): Promise<ChoiceList> {
  let text: string
  try {
    text = await fs.readFile(join(workspaceRoot, CHOICES_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { choices: [], problems: [] }
    throw err
  }
  const choices: StoredChoice[] = []
  const problems: string[] = []
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      problems.push(`line ${i + 1}: not JSON (torn or edited), skipped`)
      return
    }
    // Lines written before checksums existed have no `sum` and are read as they are.
    if (typeof json === 'object' && json !== null && 'sum' in json) {
      const { sum, ...fields } = json as Record<string, unknown>
      if (sum !== lineChecksum(fields)) {
        problems.push(`line ${i + 1}: checksum mismatch (damaged or edited), skipped`)
        return
      }
      json = fields
    }
    const parsed = StoredChoice.safeParse(json)
    if (parsed.success) choices.push(parsed.data)
    else problems.push(`line ${i + 1}: not a choice (${parsed.error.issues.map((x) => `${x.path.join('.') || 'line'}: ${x.message}`).join('; ')}), skipped`)
  })
  return { choices, problems }
}
