// Gallery generation as a service: prompts x seeds x models through the ONNX inference pipeline,
// each image saved as a PNG carrying its metadata, with progress and cancellation; and re-generation
// of an image from its metadata (same model file, prompt, seed and settings -> the same pixels).
// The job runner (core/jobs/kinds/generate-gallery.ts) and the CLI (cli/generate.ts) both use this.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { OnnxInference, DEFAULT_SAMPLING, InferenceAbortedError, type SamplingSettings } from '../../ml/onnx/inference.ts'
import { loadOnnxPackage, resolveModelFolder, MANIFEST_FILE, ONNX_FILE, type LoadedPackage } from '../../ml/onnx/model-package.ts'
import { atomicWriteFile } from '../../util/atomic-write.ts'
import { resourcePath } from '../../util/resource-path.ts'
import { Gallery, GalleryError, type GalleryEntry } from './gallery.ts'
import { exportCheckpointGenerator, resolveRunGenerator } from './run-generator.ts'
import { isRunFolder } from '../runs/run-files.ts'
import { EMBEDDED_ONE_STEP_MODEL, embeddedGeneratorInitDir, embeddedGeneratorMissingMessage } from '../runs/generator-init.ts'
import type { ImageMeta } from './image-meta.ts'
import { PromptReader, promptNotice, type UnknownWord } from '../../ml/text/prompt-reading.ts'

/** Where the shipped reference model lives (resources/models/reference). */
export const REFERENCE_MODEL_DIR = resourcePath('resources', 'models', 'reference')

export interface ModelChoice {
  /** an ONNX package folder, a saved diffusion model folder, a DI* run folder (its generator), 'reference' or 'one-step-init' */
  path: string
  /** for a DI* run folder: the checkpoint step (default: the newest) */
  step?: number
  /** treat a saved DiT folder as a one-step generator with this t_init (DI*'s generator weights) */
  tInit?: number
  /** display name (default: the folder name) */
  name?: string
  /** DI* run id, recorded in the metadata for filtering */
  run?: string
}

export interface GalleryGenerationRequest {
  models: ModelChoice[]
  prompts: string[]
  seeds: number[]
  /** for multi-step ('eps') models; one-step generators ignore it */
  sampling?: SamplingSettings
  /** images per onnxruntime call (default 16) */
  batchSize?: number
}

export interface GenerationProgress {
  done: number
  total: number
  model: string
}

/** What the models made of the prompts: told to the user, since a word a model does not know is otherwise silent. */
export interface PromptReport {
  /** words some model's tokenizer does not know (each once), with a related known word to try */
  unknownWords: UnknownWord[]
  /** prompts longer than a model's prompt length (their tail is ignored) */
  truncated: string[]
  /** prompts in which some model knows no word at all ("!!!", an emoji it has no name for) */
  noKnownWords?: string[]
  /** one sentence for the user, or null when every word was read */
  notice: string | null
}

export interface GalleryGenerationResult {
  entries: GalleryEntry[]
  perModel: { model: string; kind: 'generator' | 'eps'; images: number; msPerImage: number }[]
  prompts: PromptReport
}

export interface RunOptions {
  signal?: AbortSignal
  onProgress?: (p: GenerationProgress) => void
  /** where DiffusionModel folders are exported to ONNX once (default <gallery>/.models) */
  cacheDir?: string
  /** awaited before each batch: a job passes ctx.checkpoint here (waits while paused, throws when cancelled) */
  beforeBatch?: () => Promise<void>
  /** where a run config's relative baseModelDir is resolved from (the workspace root in a job) */
  runBaseDir?: string
}

const MAX_IMAGES = 100_000
const INDEX_COMMIT_MS = 1000

export async function resolveModelChoice(choice: ModelChoice, cacheDir: string, runBaseDir?: string): Promise<LoadedPackage> {
  if (choice.path === EMBEDDED_ONE_STEP_MODEL) return embeddedOneStepPackage(cacheDir, choice.name)
  if (choice.path !== 'reference' && isRunFolder(choice.path)) {
    return resolveRunGenerator(choice.path, {
      cacheDir, referenceDir: REFERENCE_MODEL_DIR,
      ...(choice.step !== undefined ? { step: choice.step } : {}), ...(runBaseDir !== undefined ? { baseDir: runBaseDir } : {}),
    })
  }
  const path = choice.path === 'reference' ? REFERENCE_MODEL_DIR : choice.path
  if (choice.path === 'reference' && !existsSync(join(path, 'config.json'))) {
    throw new GalleryError(`the reference model is not installed (expected at ${path}); choose a model folder instead`)
  }
  return resolveModelFolder(path, {
    cacheDir,
    ...(choice.tInit !== undefined ? { generatorTInit: choice.tInit } : {}),
    ...(choice.name !== undefined ? { name: choice.name } : choice.path === 'reference' ? { name: 'reference' } : {}),
  })
}

/** The embedded distilled generator, exported once (cached by its weights) like a run's generator. */
async function embeddedOneStepPackage(cacheDir: string, name = EMBEDDED_ONE_STEP_MODEL): Promise<LoadedPackage> {
  const dir = embeddedGeneratorInitDir()
  let tInit: unknown
  try {
    tInit = (JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { tInit?: unknown }).tInit
  } catch {
    throw new GalleryError(embeddedGeneratorMissingMessage())
  }
  if (typeof tInit !== 'number') throw new GalleryError(`${dir}/config.json names no tInit`)
  return exportCheckpointGenerator(dir, { referenceDir: REFERENCE_MODEL_DIR, tInit, name, cacheDir, what: 'the distilled one-step generator' })
}

/**
 * Writes a model choice as a standalone ONNX model folder (model.onnx + manifest.json), e.g. a DI*
 * run's trained generator for use outside the studio. The export goes through cacheDir as usual.
 */
export async function exportModelChoice(choice: ModelChoice, outDir: string, cacheDir: string, runBaseDir?: string): Promise<LoadedPackage> {
  const pkg = await resolveModelChoice(choice, cacheDir, runBaseDir)
  await atomicWriteFile(join(outDir, ONNX_FILE), pkg.onnx)
  await atomicWriteFile(join(outDir, MANIFEST_FILE), JSON.stringify(pkg.manifest, null, 2))
  return loadOnnxPackage(outDir) // re-reads and verifies what was written
}

export function checkGenerationRequest(req: GalleryGenerationRequest): void {
  if (req.models.length === 0) throw new GalleryError('generate: choose at least one model')
  if (req.prompts.length === 0) throw new GalleryError('generate: give at least one prompt')
  if (req.seeds.length === 0) throw new GalleryError('generate: give at least one seed')
  for (const s of req.seeds) if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new GalleryError(`generate: seeds must be integers in 0..4294967295, got ${s}`)
  const total = req.models.length * req.prompts.length * req.seeds.length
  if (total > MAX_IMAGES) throw new GalleryError(`generate: ${total} images requested, at most ${MAX_IMAGES} per job`)
}

/** Generates every (model, prompt, seed) into the gallery; the index is written after each batch. */
export async function generateIntoGallery(gallery: Gallery, inference: OnnxInference, req: GalleryGenerationRequest, opts: RunOptions = {}): Promise<GalleryGenerationResult> {
  checkGenerationRequest(req)
  const cacheDir = opts.cacheDir ?? join(gallery.root, '.models')
  const sampling = req.sampling ?? DEFAULT_SAMPLING
  const batchSize = req.batchSize ?? 16
  // every model is loaded (and checked) before the first image, so a bad folder fails fast
  const packages: LoadedPackage[] = []
  for (const m of req.models) packages.push(await resolveModelChoice(m, cacheDir, opts.runBaseDir))
  const perModelCount = req.prompts.length * req.seeds.length
  const total = packages.length * perModelCount
  const jobs: { prompt: string; seed: number }[] = []
  for (const prompt of req.prompts) for (const seed of req.seeds) jobs.push({ prompt, seed })
  const result: GalleryGenerationResult = { entries: [], perModel: [], prompts: readPrompts(packages, req.prompts) }
  // the index (which grows with the gallery) is rewritten at most about once a second, not per batch
  let lastCommit = Date.now()
  try {
    for (const [mi, pkg] of packages.entries()) {
      const choice = req.models[mi]!
      let modelMs = 0
      for (let start = 0; start < jobs.length; start += batchSize) {
        await opts.beforeBatch?.()
        if (opts.signal?.aborted) throw new InferenceAbortedError()
        const batch = jobs.slice(start, start + batchSize)
        const images = await inference.generate(pkg, {
          prompts: batch.map((j) => j.prompt), seeds: batch.map((j) => j.seed), sampling, batchSize, ...(opts.signal ? { signal: opts.signal } : {}),
        })
        modelMs += images.elapsedMs
        const createdAt = new Date().toISOString()
        const metas = batch.map((j) => describeImage(pkg, choice, j.prompt, j.seed, sampling, createdAt, images.elapsedMs / batch.length))
        result.entries.push(...(await gallery.addImages(images.pixels, metas, { deferIndex: true })))
        if (Date.now() - lastCommit > INDEX_COMMIT_MS) {
          await gallery.commit()
          lastCommit = Date.now()
        }
        opts.onProgress?.({ done: mi * perModelCount + start + batch.length, total, model: pkg.manifest.name })
      }
      result.perModel.push({ model: pkg.manifest.name, kind: pkg.manifest.kind, images: jobs.length, msPerImage: modelMs / jobs.length })
    }
  } catch (err) {
    // on cancel or error the images made so far are kept and listed; the original error wins
    await gallery.commit().catch(() => {})
    throw err
  }
  await gallery.commit()
  return result
}

/** Each prompt as every prompt-reading model's tokenizer sees it (models that share a vocabulary are read once). */
export function readPrompts(packages: readonly LoadedPackage[], prompts: readonly string[]): PromptReport {
  const unknown = new Map<string, UnknownWord>()
  const truncated = new Set<string>()
  const noKnownWords = new Set<string>()
  const readVocabularies = new Set<string>()
  let maxLength = Infinity
  for (const pkg of packages) {
    if (!pkg.tokenizer) continue // a prompt-free model reads no words
    const key = JSON.stringify(pkg.tokenizer.toJSON())
    if (readVocabularies.has(key)) continue
    readVocabularies.add(key)
    maxLength = Math.min(maxLength, pkg.tokenizer.maxLength)
    const read = new PromptReader(pkg.tokenizer).readAll(prompts)
    for (const u of read.unknown) if (!unknown.has(u.word)) unknown.set(u.word, u)
    for (const p of read.truncated) truncated.add(p)
    for (const p of read.noKnownWords) noKnownWords.add(p)
  }
  const unknownWords = [...unknown.values()]
  const notice = promptNotice(unknownWords, [...truncated], maxLength, [...noKnownWords])
  return { unknownWords, truncated: [...truncated], ...(noKnownWords.size > 0 ? { noKnownWords: [...noKnownWords] } : {}), notice }
}

function describeImage(pkg: LoadedPackage, choice: ModelChoice, prompt: string, seed: number, s: SamplingSettings, createdAt: string, ms: number): ImageMeta {
  const m = pkg.manifest
  const oneStep = m.kind === 'generator'
  const meta: ImageMeta = {
    prompt, seed, model: choice.name ?? m.name, modelPath: pkg.dir, modelSha256: m.onnxSha256, modelKind: m.kind,
    sampler: oneStep ? 'one-step' : s.sampler, steps: oneStep ? 1 : s.steps, cfg: oneStep ? 1 : s.guidance,
    width: m.imageSize, height: m.imageSize, createdAt, generationMs: ms,
  }
  if (m.source.step !== undefined) meta.checkpointStep = m.source.step
  if (m.tInit !== undefined) meta.tInit = m.tInit
  const run = choice.run ?? (isRunFolder(choice.path) ? basename(choice.path) : undefined)
  if (run !== undefined) meta.run = run
  return meta
}

/**
 * Re-generates one gallery image from its metadata: the same model file (checked by sha256), prompt,
 * seed, sampler, steps and CFG. Returns NHWC pixels in [-1, 1]; `save` also adds them as a new entry.
 */
export async function regenerateImage(
  gallery: Gallery, inference: OnnxInference, id: string,
  opts: { save?: boolean; /** vets the model path a PNG names (a job refuses paths outside the workspace) */ checkModelPath?: (path: string) => string } = {},
): Promise<{ pixels: Float32Array; meta: ImageMeta; entry?: GalleryEntry }> {
  const entry = gallery.get(id)
  if (!entry) throw new GalleryError(`regenerate: no image with id '${id}'`)
  const modelPath = opts.checkModelPath ? opts.checkModelPath(entry.modelPath) : entry.modelPath
  let pkg: LoadedPackage
  try {
    pkg = await loadOnnxPackage(modelPath)
  } catch (err) {
    throw new GalleryError(`regenerate: the model that made this image is not available: ${(err as Error).message}`)
  }
  if (pkg.manifest.onnxSha256 !== entry.modelSha256) {
    throw new GalleryError(`regenerate: ${entry.modelPath} now holds a different model (sha256 ${pkg.manifest.onnxSha256.slice(0, 12)}…, the image was made with ${entry.modelSha256.slice(0, 12)}…)`)
  }
  const sampling: SamplingSettings = entry.sampler === 'one-step' ? DEFAULT_SAMPLING : { sampler: entry.sampler, steps: entry.steps, guidance: entry.cfg }
  const images = await inference.generate(pkg, { prompts: [entry.prompt], seeds: [entry.seed], sampling, batchSize: 1 })
  const { id: _id, file: _file, ...meta } = entry
  const fresh: ImageMeta = { ...meta, createdAt: new Date().toISOString(), generationMs: images.elapsedMs }
  if (!opts.save) return { pixels: images.pixels, meta: fresh }
  const [saved] = await gallery.addImages(images.pixels, [fresh])
  return { pixels: images.pixels, meta: fresh, entry: saved! }
}
