// The core's answers to the data channels (gallery, runs, preferences, models): small reads and
// writes on the workspace, done in the main process without loading any ML code. Long work runs as
// jobs. Every path a client names is resolved inside the workspace (Workspace.resolve refuses escapes).
import { existsSync } from 'node:fs'
import { promises as fs } from 'node:fs'
import { join, posix } from 'node:path'
import { StudioError } from '../contract/index.ts'
import type { GalleryEntry, ModelInfo, ParsedParams, PreferenceStatus, RequestResult, RunDetail, RunSummary } from '../contract/index.ts'
import type { GalleryEntry as StoredGalleryEntry } from './gallery/gallery.ts'
import { GalleryService } from './gallery/service.ts'
import { addChoice, PREFERENCE_MODEL_DIR, readChoices, removeChoice } from './preferences/choice-store.ts'
import { readMetrics, readStatus, RUN_FILES } from './runs/run-files.ts'
import { stepMetrics } from './runs/step-metrics.ts'
import type { Workspace } from './workspace.ts'
import { resourcePath } from '../util/resource-path.ts'
import { PromptChecker } from './prompt-check.ts'
import { EMBEDDED_ONE_STEP_MODEL, embeddedGeneratorInitPresent, embeddedGeneratorMissingMessage } from './runs/generator-init.ts'

export const GALLERY_DIR = 'gallery'
export const MODELS_DIR = 'models'
export const RUNS_DIR = 'runs'
/** The shipped reference model's folder (source tree or out/main). */
export function referenceModelDir(): string {
  return resourcePath('resources', 'models', 'reference')
}

export function referenceModelMissingMessage(): string {
  return `The reference model is not installed (expected at ${referenceModelDir()}, committed when pretraining finishes). ` +
    'Choose a model from the workspace models folder instead.'
}

export function referenceModelPresent(): boolean {
  return existsSync(join(referenceModelDir(), 'config.json'))
}

export class StudioData {
  readonly gallery: GalleryService
  /** prompts.check: a model's unknown words, per workspace (model paths are workspace-relative) */
  readonly prompts: PromptChecker

  constructor(
    private readonly workspace: Workspace,
    private readonly warn: (message: string) => void,
  ) {
    this.gallery = new GalleryService(workspace.resolve(GALLERY_DIR), warn)
    this.prompts = new PromptChecker(workspace, referenceModelDir)
  }

  // ---- gallery ---------------------------------------------------------------------------------

  private withPath(entry: StoredGalleryEntry): GalleryEntry {
    return { ...entry, path: `${GALLERY_DIR}/${entry.file}` }
  }

  async listGallery(params: ParsedParams<'gallery.list'>): Promise<RequestResult<'gallery.list'>> {
    const page = await this.gallery.list(params)
    return { total: page.total, entries: page.entries.map((e) => this.withPath(e)) }
  }

  async getGalleryImage({ id }: ParsedParams<'gallery.get'>): Promise<GalleryEntry | null> {
    const entry = await this.gallery.get({ id })
    return entry ? this.withPath(entry) : null
  }

  async exportGallery({ ids, folder }: ParsedParams<'gallery.export'>): Promise<RequestResult<'gallery.export'>> {
    const target = folder ?? `exports/gallery-${new Date().toISOString().replace(/[:.]/g, '-')}`
    const dir = this.workspace.resolve(target)
    await fs.mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      // a file where the folder (or one of its parents) should be is the client's choice, not a crash
      if (err.code === 'EEXIST' || err.code === 'ENOTDIR') throw new StudioError('conflict', `Cannot export into ${JSON.stringify(target)}: a file of that name is in the way`)
      if (err.code === 'ENAMETOOLONG') throw new StudioError('invalid-params', `Cannot export into ${JSON.stringify(target.slice(0, 100))}…: a folder name is too long for the file system`)
      throw err
    })
    const files: string[] = []
    const missing: string[] = []
    for (const id of ids) {
      const entry = await this.gallery.get({ id })
      if (!entry) {
        missing.push(id)
        continue
      }
      // The PNG carries its metadata in its text chunks, so a plain copy exports both.
      await fs.copyFile(this.workspace.resolve(`${GALLERY_DIR}/${entry.file}`), join(dir, `${entry.id}.png`))
      files.push(posix.join(target, `${entry.id}.png`))
    }
    return { folder: target, exported: files.length, missing, files }
  }

  // ---- runs ------------------------------------------------------------------------------------

  async listRuns(activeJobs: Map<string, string>): Promise<RunSummary[]> {
    let names: string[]
    try {
      names = await fs.readdir(this.workspace.resolve(RUNS_DIR))
    } catch {
      return []
    }
    const runs: RunSummary[] = []
    for (const runId of names) {
      if (!/^[A-Za-z0-9_-]+$/.test(runId)) continue
      // A run folder that is a link out of the workspace is skipped, not allowed to fail the whole list.
      const summary = await skipIfOutside(() => this.runSummary(runId, activeJobs.get(runId)), this.warn)
      if (summary) runs.push(summary)
    }
    return runs.sort((a, b) => (b.updatedAt ?? '').localeCompare(a.updatedAt ?? ''))
  }

  private async runSummary(runId: string, activeJobId?: string): Promise<RunSummary> {
    const dir = this.workspace.resolve(`${RUNS_DIR}/${runId}`)
    const status = await readStatus(dir)
    const config = await readJson(join(dir, RUN_FILES.config))
    const name = typeof config === 'object' && config !== null && 'name' in config && typeof config.name === 'string' ? config.name : undefined
    const interrupted = status !== null && !activeJobId && runProcessGone(status)
    const message = interrupted
      ? `its training ended without saving (the process stopped); Resume continues from ${status.checkpointStep !== undefined ? `the checkpoint at step ${status.checkpointStep}` : 'step 0'}`
      : status?.message
    return {
      runId,
      ...(name ? { name } : {}),
      state: interrupted ? 'interrupted' : status?.state ?? 'unknown',
      step: status?.step ?? 0,
      totalSteps: status?.totalSteps ?? 0,
      ...(message ? { message } : {}),
      ...(status?.checkpointStep !== undefined ? { checkpointStep: status.checkpointStep } : {}),
      ...(status?.updatedAt ? { updatedAt: status.updatedAt } : {}),
      ...(activeJobId ? { activeJobId } : {}),
    }
  }

  async openRun(runId: string, activeJobId?: string): Promise<RunDetail> {
    const dir = this.workspace.resolve(`${RUNS_DIR}/${runId}`)
    if (!existsSync(dir)) throw new StudioError('not-found', `No run named ${runId} in this workspace`)
    const problems: string[] = []
    const config = await readJson(join(dir, RUN_FILES.config))
    if (config === null) problems.push('config.json is missing or unreadable')
    const metrics: RunDetail['metrics'] = []
    const controlChanges: RunDetail['controlChanges'] = []
    for (const line of await readMetrics(dir)) {
      if (line.type === 'controls') controlChanges.push({ step: line.step, changes: line.changes })
      else if (line.type === 'step' && typeof line.step === 'number') metrics.push({ step: line.step, values: stepMetrics(line) })
    }
    const samples: RunDetail['samples'] = []
    try {
      for (const name of await fs.readdir(join(dir, RUN_FILES.samples))) {
        const m = /^step-(\d+)\.png$/.exec(name)
        if (m) samples.push({ step: Number(m[1]), path: `${RUNS_DIR}/${runId}/${RUN_FILES.samples}/${name}` })
      }
    } catch {
      // no samples yet
    }
    samples.sort((a, b) => a.step - b.step)
    return { summary: await this.runSummary(runId, activeJobId), config, metrics, controlChanges, samples, problems }
  }

  /**
   * Deletes runs/<runId> and everything in it (config, metrics, samples, checkpoints). Refused while a
   * job of this studio trains the run, or while another live process (npm run train) writes it; refused
   * for a folder that is a link (even one pointing inside the workspace), so only the run's own folder
   * is ever removed. Gallery images made with the run's generator stay.
   */
  async deleteRun(runId: string, activeJobId?: string): Promise<RequestResult<'runs.delete'>> {
    if (activeJobId) throw new StudioError('conflict', `Run ${runId} is training (job ${activeJobId}): stop it before deleting it`)
    const dir = this.workspace.resolve(`${RUNS_DIR}/${runId}`)
    const stat = await fs.lstat(dir).catch(() => null)
    if (!stat) throw new StudioError('not-found', `No run named ${runId} in this workspace`)
    if (!stat.isDirectory()) throw new StudioError('forbidden', `runs/${runId} is not a run folder of this workspace (a link or a file): not deleted`)
    const status = await readStatus(dir)
    if (status && (status.state === 'starting' || status.state === 'running' || status.state === 'paused') && !runProcessGone(status)) {
      throw new StudioError('conflict', `Run ${runId} is being trained by another process (pid ${status.pid}): stop it before deleting it`)
    }
    await fs.rm(dir, { recursive: true, force: true })
    return { runId, deleted: true }
  }

  // ---- preferences -----------------------------------------------------------------------------

  /**
   * The next pair to judge: two images of one prompt, from different models (or runs, or checkpoints of
   * one run) whenever such a pair is left, since two seeds of one model teach little about which model
   * to prefer; then two seeds of one model. Within that, the prompt judged least so far, never a pair
   * already judged, and pairs the view skipped only when nothing else is left.
   */
  async nextPreferencePair(params: ParsedParams<'preferences.nextPair'> = { skip: [] }): Promise<RequestResult<'preferences.nextPair'>> {
    const all = await this.allGalleryEntries()
    const byPrompt = new Map<string, GalleryEntry[]>()
    for (const e of all) byPrompt.set(e.prompt, [...(byPrompt.get(e.prompt) ?? []), e])
    const { choices } = await readChoices(this.workspace.root)
    const judged = new Set(choices.map((c) => pairKey(c.imageA, c.imageB)))
    const skipped = new Set(params.skip.map((p) => pairKey(p.imageA, p.imageB)))
    const judgedPerPrompt = new Map<string, number>()
    for (const c of choices) judgedPerPrompt.set(c.prompt, (judgedPerPrompt.get(c.prompt) ?? 0) + 1)
    const prompts = [...byPrompt.entries()]
      .filter(([, entries]) => entries.length >= 2)
      .sort(([a], [b]) => (judgedPerPrompt.get(a) ?? 0) - (judgedPerPrompt.get(b) ?? 0) || a.localeCompare(b))
    // passes: two models, not skipped; one model, not skipped; then the skipped ones, in the same order
    for (const [crossModel, allowSkipped] of [[true, false], [false, false], [true, true], [false, true]] as const) {
      for (const [prompt, entries] of prompts) {
        for (let i = 0; i < entries.length; i++) {
          for (let j = i + 1; j < entries.length; j++) {
            const [a, b] = [entries[i]!, entries[j]!]
            const key = pairKey(a.path, b.path)
            if (judged.has(key) || (skipped.has(key) && !allowSkipped) || (!skipped.has(key) && allowSkipped)) continue
            if ((modelOf(a) !== modelOf(b)) !== crossModel) continue
            return { prompt, imageA: a.path, imageB: b.path, idA: a.id, idB: b.id, modelA: modelOf(a), modelB: modelOf(b) }
          }
        }
      }
    }
    return null
  }

  /** Takes back a stored choice by its id (the Prefer view's Undo). */
  async undoPreference({ id }: ParsedParams<'preferences.undo'>): Promise<RequestResult<'preferences.undo'>> {
    const removed = await removeChoice(this.workspace.root, id)
    const { choices } = await readChoices(this.workspace.root)
    return { removed, choices: choices.length }
  }

  async recordPreference(params: ParsedParams<'preferences.choose'>): Promise<RequestResult<'preferences.choose'>> {
    for (const p of [params.imageA, params.imageB]) {
      if (!existsSync(this.workspace.resolve(p))) throw new StudioError('not-found', `Image ${p} is not in the workspace`)
    }
    const stored = await addChoice(this.workspace.root, params)
    const { choices } = await readChoices(this.workspace.root)
    return { id: stored.id, choices: choices.length }
  }

  async preferenceStatus(): Promise<PreferenceStatus> {
    const { choices, problems } = await readChoices(this.workspace.root)
    const config = await readJson(join(this.workspace.resolve(PREFERENCE_MODEL_DIR), 'config.json'))
    const training = typeof config === 'object' && config !== null && 'training' in config ? (config.training as Record<string, unknown>) : null
    const model = training && typeof training.trainAccuracy === 'number'
      ? {
          modelDir: PREFERENCE_MODEL_DIR,
          choices: Number(training.choices ?? 0),
          trainPairs: Number(training.trainPairs ?? 0),
          heldOutPairs: Number(training.heldOutPairs ?? 0),
          trainAccuracy: training.trainAccuracy,
          heldOutAccuracy: typeof training.heldOutAccuracy === 'number' ? training.heldOutAccuracy : null,
          trainedAt: String(training.trainedAt ?? ''),
        }
      : null
    return { choices: choices.length, ties: choices.filter((c) => c.winner === 'tie').length, problems, model }
  }

  // ---- models ----------------------------------------------------------------------------------

  async listModels(): Promise<ModelInfo[]> {
    const present = referenceModelPresent()
    const models: ModelInfo[] = [{
      path: 'reference',
      name: 'Reference (shipped)',
      kind: 'reference',
      available: present,
      detail: present ? 'The embedded 32x32 text-to-image diffusion model' : referenceModelMissingMessage(),
    }]
    const oneStep = embeddedGeneratorInitPresent()
    models.push({
      path: EMBEDDED_ONE_STEP_MODEL,
      name: 'One-step generator (shipped, distilled)',
      kind: 'one-step',
      available: present && oneStep,
      detail: oneStep ? 'The reference distilled into one step (npm run distill); DI* runs start from it' : embeddedGeneratorMissingMessage(),
    })
    let names: string[] = []
    try {
      names = (await fs.readdir(this.workspace.resolve(MODELS_DIR))).sort()
    } catch {
      // no models folder yet
    }
    for (const name of names) {
      const path = `${MODELS_DIR}/${name}`
      const dir = await skipIfOutside(async () => this.workspace.resolve(path), this.warn)
      if (dir === null) continue
      if (existsSync(join(dir, 'manifest.json'))) {
        models.push({ path, name, kind: 'onnx', available: existsSync(join(dir, 'model.onnx')), detail: 'ONNX model package' })
      } else if (existsSync(join(dir, 'config.json'))) {
        models.push({ path, name, kind: 'diffusion', available: existsSync(join(dir, 'model.safetensors')), detail: 'Saved diffusion model (DiT)' })
      }
    }
    // DI* runs with a checkpoint: their trained generator (the gallery exports it once per checkpoint)
    for (const run of await this.listRuns(new Map())) {
      if (run.checkpointStep === undefined) continue
      models.push({
        path: `${RUNS_DIR}/${run.runId}`,
        name: `${run.name ?? run.runId} (DI* step ${run.checkpointStep})`,
        kind: 'run',
        available: true,
        detail: `Generator of DI* run ${run.runId} at its newest checkpoint (step ${run.checkpointStep})`,
        step: run.checkpointStep,
      })
    }
    return models
  }

  private async allGalleryEntries(): Promise<GalleryEntry[]> {
    const out: GalleryEntry[] = []
    for (let offset = 0; ; offset += 1000) {
      const page = await this.listGallery({ order: 'oldest', offset, limit: 1000 })
      out.push(...page.entries)
      if (page.entries.length < 1000) return out
    }
  }
}

/** Runs `read`; a 'forbidden' refusal (a link leading out of the workspace) is logged and gives null. */
async function skipIfOutside<T>(read: () => Promise<T>, warn: (message: string) => void): Promise<T | null> {
  try {
    return await read()
  } catch (err) {
    if (!(err instanceof StudioError) || err.code !== 'forbidden') throw err
    warn(`Skipped: ${err.message}`)
    return null
  }
}

/** What made a gallery image, as the Prefer view names it: the model, its run and checkpoint step. */
function modelOf(e: GalleryEntry): string {
  return [e.model, e.run, e.checkpointStep === undefined ? undefined : `step ${e.checkpointStep}`].filter((x) => x !== undefined && x !== '').join(' · ')
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(path, 'utf8')) as unknown
  } catch {
    return null
  }
}

/**
 * True when a run's status.json says it is starting, running or paused but nothing trains it: no job of
 * this studio does (the caller checked), and the process that wrote it is this one (a job of ours that
 * ended without saving, e.g. its thread was terminated), or is gone (killed, or a studio that quit), or
 * is not recorded (written before status.json named its process). A live other process (`npm run train`)
 * is still training it.
 */
export function runProcessGone(status: { state: string; pid?: number }): boolean {
  if (status.state !== 'starting' && status.state !== 'running' && status.state !== 'paused') return false
  if (status.pid === undefined || status.pid === process.pid) return true
  try {
    process.kill(status.pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'EPERM' // EPERM: alive, owned by someone else
  }
}
