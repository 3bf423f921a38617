// prompts.emoji: the emoji a model knows, for the prompt helper ("Browse emoji" beside the Gallery, Train
// and Compare prompt boxes). A model knows the training-split emoji of the data it was trained on: the
// styles its config.json lists under training.styles, else the two PNG styles every shipped model and the
// DI* runs from them were trained on. The list is built once per style set, in a worker thread
// (buildCatalog reads big JSON files synchronously), and kept for the life of the core.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StudioError, type KnownEmoji, type KnownEmojiParams } from '../contract/index.ts'
import type { EmojiStyle } from '../ml/data/captions.ts'
import { createWorker } from './jobs/job-manager.ts'
import type { KnownEmojiList } from './known-emoji-list.ts'
import { EMBEDDED_ONE_STEP_MODEL, embeddedGeneratorInitPresent, embeddedGeneratorMissingMessage, isShippedModelName } from './runs/generator-init.ts'
import { isRunFolder, readRunBaseModelField, runBaseModelDir } from './runs/run-files.ts'
import type { Workspace } from './workspace.ts'

/** What a model was trained on: the config.json that says so and its styles, or why nothing is known. */
type Training =
  | { known: true; subject: string; styles: EmojiStyle[]; after?: string }
  | { known: false; detail: string }

export interface KnownEmojiOptions {
  /** The shipped reference's folder. */
  referenceDir: () => string
  /** Whether the shipped reference is installed, and the message when it is not. */
  referenceMissing: () => string | null
  /** Builds one style set's list; default: in a worker thread (tests may build in-process or count calls). */
  build?: (styles: EmojiStyle[]) => Promise<KnownEmojiList>
}

export class KnownEmojiLists {
  /** by style set (styles joined in catalogue order); a failed build is dropped so the next request retries */
  private readonly lists = new Map<string, Promise<KnownEmojiList>>()
  private readonly build: (styles: EmojiStyle[]) => Promise<KnownEmojiList>

  constructor(private readonly options: KnownEmojiOptions) {
    this.build = options.build ?? buildInWorker
  }

  async list({ model }: KnownEmojiParams, workspace: Workspace): Promise<KnownEmoji> {
    const training = await this.training(model, workspace)
    if (!training.known) return { known: false, detail: training.detail, styles: [], count: 0, categories: [] }
    const list = await this.listFor(training.styles)
    const styles = training.styles.join(' and ').replace(/ and (?=.* and )/g, ', ')
    const detail = `The ${list.count.toLocaleString('en')} emoji ${training.subject} was trained on ` +
      `(training split of the ${styles} style${training.styles.length === 1 ? '' : 's'})${training.after ?? ''}.`
    return { known: true, detail, ...list }
  }

  /** The list for one style set: built once, shared by concurrent requests. */
  private listFor(styles: EmojiStyle[]): Promise<KnownEmojiList> {
    const key = styles.join(',')
    let list = this.lists.get(key)
    if (!list) {
      list = this.build(styles)
      this.lists.set(key, list)
      list.catch(() => {
        if (this.lists.get(key) === list) this.lists.delete(key)
      })
    }
    return list
  }

  /** Which config.json tells what `model` was trained on (as prompt-check.ts finds its tokenizer), and its styles. */
  private async training(model: string, workspace: Workspace): Promise<Training> {
    if (isShippedModelName(model)) {
      const missing = this.options.referenceMissing()
      if (missing) throw new StudioError('not-found', missing)
      if (model === EMBEDDED_ONE_STEP_MODEL) {
        if (!embeddedGeneratorInitPresent()) throw new StudioError('not-found', embeddedGeneratorMissingMessage())
        // distilled from the shipped reference on its prompts: it knows what the reference knows
        return { ...(await this.fromConfig(model, join(this.options.referenceDir(), 'config.json'), 'the shipped reference')), after: '; this generator was distilled from it' }
      }
      return this.fromConfig(model, join(this.options.referenceDir(), 'config.json'), 'the shipped reference')
    }
    const dir = workspace.resolve(model) // refuses paths that leave the workspace
    if (!existsSync(dir)) throw new StudioError('not-found', `No model at ${model} in this workspace`)
    if (existsSync(join(dir, 'manifest.json'))) {
      return { known: false, detail: `${model} is an ONNX package, which does not record what it was trained on, so there is no list of the emoji it knows.` }
    }
    if (isRunFolder(dir)) {
      // a DI* run's generator knows what its base model knows
      const baseModelDir = await readRunBaseModelField(dir)
      const referenceDir = this.options.referenceDir()
      const baseDir = runBaseModelDir(baseModelDir, referenceDir, workspace.root)
      const base = baseDir === referenceDir ? 'the shipped reference' : typeof baseModelDir === 'string' ? baseModelDir : baseDir
      return this.fromConfig(model, join(baseDir, 'config.json'), `this run's base model (${base})`)
    }
    const config = join(dir, 'config.json')
    if (!existsSync(config)) throw new StudioError('not-found', `${model} is not a model: it has neither a config.json nor a manifest.json`)
    return this.fromConfig(model, config, 'this model')
  }

  /** training.styles of a model's config.json, else the two PNG styles. */
  private async fromConfig(model: string, file: string, subject: string): Promise<Extract<Training, { known: true }>> {
    let json: unknown
    try {
      json = JSON.parse(await readFile(file, 'utf8'))
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
      throw new StudioError(missing ? 'not-found' : 'invalid-params', `${model}: cannot read ${file} (${(err as Error).message})`)
    }
    const listed = (json as { training?: { styles?: unknown } } | null)?.training?.styles
    const { ALL_STYLES, PNG_STYLES } = await import('../ml/data/emoji-catalog.ts')
    if (listed === undefined) return { known: true, subject, styles: [...PNG_STYLES] }
    const bad = !Array.isArray(listed) || listed.length === 0 ? [JSON.stringify(listed)] : listed.filter((s) => !ALL_STYLES.includes(s as EmojiStyle)).map((s) => JSON.stringify(s))
    if (bad.length > 0) {
      throw new StudioError('invalid-params', `${model}: training.styles in ${file} must list emoji styles (${ALL_STYLES.join(', ')}); it has ${bad.join(', ')}`)
    }
    // one list per set of styles, whatever order the config gives them in
    return { known: true, subject, styles: ALL_STYLES.filter((s) => (listed as unknown[]).includes(s)) }
  }
}

/** The worker script beside this module: known-emoji-worker.ts from source, known-emoji-worker.js in out/main/. */
export function knownEmojiWorkerEntry(): string {
  const self = fileURLToPath(import.meta.url)
  const entry = join(dirname(self), self.endsWith('.ts') ? 'known-emoji-worker.ts' : 'known-emoji-worker.js')
  if (!existsSync(entry)) throw new Error(`The emoji list worker script is missing: ${entry}`)
  return entry
}

function buildInWorker(styles: EmojiStyle[]): Promise<KnownEmojiList> {
  return new Promise((resolve, reject) => {
    const worker = createWorker(knownEmojiWorkerEntry(), { styles })
    worker.once('message', (message: { ok: true; list: KnownEmojiList } | { ok: false; error: string }) => {
      if (message.ok) resolve(message.list)
      else reject(new Error(`Could not list the emoji of the ${styles.join(', ')} styles: ${message.error}`))
    })
    worker.once('error', (err) => reject(new Error(`The emoji list worker failed: ${err.message}`)))
    // after a message this does nothing (the promise is settled)
    worker.once('exit', (code) => reject(new Error(`The emoji list worker exited (code ${code}) before answering`)))
  })
}
