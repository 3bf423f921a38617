// Gallery jobs, run in a job worker: generate (prompts x seeds x models), re-generate from metadata,
// and import a user's ONNX generator. Each uses one OnnxInference, so a model's onnxruntime session is
// created once per job and reused for every batch. Their params schemas (core/gallery/schemas.ts) are part
// of the job contract (contract/jobs.ts); kinds/index.ts registers the runners.
import { relative, isAbsolute, join } from 'node:path'
import { Gallery } from '../../gallery/gallery.ts'
import { generateIntoGallery, regenerateImage, REFERENCE_MODEL_DIR, type GalleryGenerationResult, type ModelChoice, type PromptReport } from '../../gallery/generate.ts'
import { GalleryRegenerateJobParams, GenerateGalleryJobParams, OnnxImportJobParams } from '../../gallery/schemas.ts'
import { importOnnxGenerator, loadDitSource, type OnnxModelManifest } from '../../../ml/onnx/model-package.ts'
import { isShippedModelName } from '../../runs/generator-init.ts'
import type { JobContext } from '../job-context.ts'
import { newJobInference } from '../job-engines.ts'
import type { Workspace } from '../../workspace.ts'

/** Workspace folder for imported and exported ONNX models. */
export const MODELS_DIR = 'models'

async function openGallery(ctx: JobContext): Promise<Gallery> {
  const gallery = new Gallery(ctx.workspace.resolve('gallery'))
  const report = await gallery.open()
  for (const p of report.problems) ctx.log(`gallery: ${p}`, 'warn')
  return gallery
}

/** A model path stored in a PNG must lie inside the workspace (or be the shipped reference). */
function workspaceModelPath(workspace: Workspace): (path: string) => string {
  return (path) => {
    if (!isAbsolute(path)) return workspace.resolve(path)
    const rel = relative(workspace.root, path)
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new Error(`the image names a model outside the workspace (${path}); re-generation refused`)
    return workspace.resolve(rel)
  }
}

export const generateGalleryJob = {
  async run(ctx: JobContext, input: GenerateGalleryJobParams): Promise<{ images: number; perModel: GalleryGenerationResult['perModel']; firstIds: string[]; prompts: PromptReport }> {
    const params = GenerateGalleryJobParams.parse(input) // idempotent; fills defaults when a caller skipped the contract
    const gallery = await openGallery(ctx)
    const inference = await newJobInference(ctx)
    try {
      const models: ModelChoice[] = params.models.map((m) => ({
        path: isShippedModelName(m.path) ? m.path : ctx.workspace.resolve(m.path),
        ...(m.tInit !== undefined ? { tInit: m.tInit } : {}),
        ...(m.step !== undefined ? { step: m.step } : {}),
        ...(m.name !== undefined ? { name: m.name } : {}),
        ...(m.run !== undefined ? { run: m.run } : {}),
      }))
      const result = await generateIntoGallery(gallery, inference, {
        models, prompts: params.prompts, seeds: params.seeds, batchSize: params.batchSize,
        sampling: { sampler: params.sampler, steps: params.steps, guidance: params.cfg },
      }, {
        signal: ctx.signal,
        runBaseDir: ctx.workspace.root,
        beforeBatch: () => ctx.checkpoint(),
        onProgress: (p) => ctx.progress(p.done, p.total, `${p.model}: ${p.done} of ${p.total} images`),
      })
      result.perModel.forEach((m, i) => ctx.metrics(i, { msPerImage: m.msPerImage }))
      for (const m of result.perModel) ctx.log(`${m.model} (${m.kind}): ${m.images} images, ${m.msPerImage.toFixed(1)} ms per image`)
      if (result.prompts.notice) ctx.log(`prompts: ${result.prompts.notice}`, 'warn')
      return { images: result.entries.length, perModel: result.perModel, firstIds: result.entries.slice(0, 100).map((e) => e.id), prompts: result.prompts }
    } finally {
      await inference.dispose()
    }
  },
}

export const galleryRegenerateJob = {
  async run(ctx: JobContext, input: GalleryRegenerateJobParams): Promise<{ regenerated: { from: string; id?: string }[] }> {
    const params = GalleryRegenerateJobParams.parse(input)
    const gallery = await openGallery(ctx)
    const inference = await newJobInference(ctx)
    const check = workspaceModelPath(ctx.workspace)
    const regenerated: { from: string; id?: string }[] = []
    try {
      for (const [i, id] of params.ids.entries()) {
        await ctx.checkpoint()
        const out = await regenerateImage(gallery, inference, id, { save: params.save, checkModelPath: check })
        regenerated.push({ from: id, ...(out.entry ? { id: out.entry.id } : {}) })
        ctx.progress(i + 1, params.ids.length)
      }
      return { regenerated }
    } finally {
      await inference.dispose()
    }
  },
}

export const onnxImportJob = {
  async run(ctx: JobContext, input: OnnxImportJobParams): Promise<{ path: string; manifest: OnnxModelManifest }> {
    const params = OnnxImportJobParams.parse(input)
    const file = ctx.workspace.resolve(params.file)
    const tokenizerDir = params.tokenizerFrom === 'reference' ? REFERENCE_MODEL_DIR : ctx.workspace.resolve(params.tokenizerFrom)
    ctx.progress(0, 2, 'loading the tokenizer')
    const { tokenizer, schedule: vp } = await loadDitSource(tokenizerDir) // no TensorFlow.js needed
    const schedule = vp.config
    await ctx.checkpoint()
    ctx.progress(1, 2, 'checking the ONNX file')
    const relPath = join(MODELS_DIR, params.name)
    const { manifest, signature } = await importOnnxGenerator(file, ctx.workspace.resolve(relPath), { name: params.name, tokenizer, schedule })
    ctx.log(`imported ${params.name}: ${signature.imageSize}x${signature.imageSize}, ${signature.textLength === undefined ? 'prompt-free' : `tokens of length ${signature.textLength}`}`)
    ctx.progress(2, 2)
    return { path: relPath, manifest }
  },
}
