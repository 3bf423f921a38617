// prompts.check: which words of the user's prompts a model cannot read, asked while the user types (the
// Gallery form), so an unknown word is flagged before any image is made. Reads only the model's
// tokenizer (a JSON file), never its weights; one reader per tokenizer keeps WordNet's suggestions cached.
// WordNet is searched on disk (ml/text/wordnet.ts), about a millisecond per unknown word, nothing held in memory.
import { existsSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PROMPT_MAX_CHARS, StudioError, type PromptCheck, type PromptCheckParams } from '../contract/index.ts'
import { PromptReader } from '../ml/text/prompt-reading.ts'
import { Tokenizer } from '../ml/text/tokenizer.ts'
import { isShippedModelName } from './runs/generator-init.ts'
import { isRunFolder, readRunBaseModelField, runBaseModelDir } from './runs/run-files.ts'
import type { Workspace } from './workspace.ts'

const MAX_CACHED_TOKENIZERS = 16

export class PromptChecker {
  /** by the file the tokenizer came from, and that file's mtime */
  private readonly readers = new Map<string, { mtimeMs: number; reader: PromptReader | null }>()

  constructor(
    private readonly workspace: Workspace,
    private readonly referenceDir: () => string,
  ) {}

  async check({ model, prompts }: PromptCheckParams): Promise<PromptCheck> {
    const reader = await this.readerFor(model, await this.tokenizerFile(model))
    // a prompt over the limit is refused whatever the model: said here as the refusal will say it
    const tooLong = prompts.filter((p) => p.length > PROMPT_MAX_CHARS)
    if (!reader) return { readsPrompts: false, vocabularySize: 0, maxLength: 0, unknownWords: [], truncated: [], noKnownWords: [], emoji: [], tooLong, notice: null }
    const read = prompts.filter((p) => p.length <= PROMPT_MAX_CHARS)
    const { unknown, truncated, noKnownWords, emoji, notice } = reader.readAll(read)
    const { tokenizer } = reader
    return {
      readsPrompts: true,
      vocabularySize: tokenizer.wordCount,
      maxLength: tokenizer.maxLength,
      unknownWords: unknown,
      truncated,
      noKnownWords,
      emoji,
      tooLong,
      notice,
    }
  }

  /** null for a prompt-free model. */
  private async readerFor(model: string, file: string): Promise<PromptReader | null> {
    let mtimeMs: number
    try {
      mtimeMs = statSync(file).mtimeMs
    } catch {
      throw new StudioError('not-found', `No model at ${model}: ${file} is missing`)
    }
    const cached = this.readers.get(file)
    if (cached && cached.mtimeMs === mtimeMs) return cached.reader
    let json: { tokenizer?: unknown }
    try {
      json = JSON.parse(await readFile(file, 'utf8')) as { tokenizer?: unknown }
    } catch (err) {
      throw new StudioError('invalid-params', `${model}: cannot read ${file} (${(err as Error).message})`)
    }
    let reader: PromptReader | null = null
    // an ONNX manifest without a tokenizer is a prompt-free model; a DiT config always has one
    if (json.tokenizer !== undefined || !file.endsWith('manifest.json')) {
      try {
        reader = new PromptReader(Tokenizer.fromJSON(json.tokenizer))
      } catch (err) {
        throw new StudioError('invalid-params', `${model}: its tokenizer is invalid (${(err as Error).message})`)
      }
    }
    if (this.readers.size >= MAX_CACHED_TOKENIZERS) this.readers.clear()
    this.readers.set(file, { mtimeMs, reader })
    return reader
  }

  /** The JSON file holding the model's tokenizer: a DiT's config.json or an ONNX package's manifest.json. */
  private async tokenizerFile(model: string): Promise<string> {
    if (isShippedModelName(model)) return join(this.referenceDir(), 'config.json')
    const dir = this.workspace.resolve(model) // refuses paths that leave the workspace
    if (existsSync(join(dir, 'manifest.json'))) return join(dir, 'manifest.json')
    if (isRunFolder(dir)) {
      // a DI* run's generator reads prompts with its base model's tokenizer
      const baseModelDir = await readRunBaseModelField(dir)
      return join(runBaseModelDir(baseModelDir, this.referenceDir(), this.workspace.root), 'config.json')
    }
    return join(dir, 'config.json')
  }
}
