// The gallery job runners against a recording JobContext on a real workspace: generate with progress,
// regenerate, import, cancel, and the core's GalleryService seeing the worker's writes.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile, copyFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditParamShapes, paramsFromValues, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_SCHEDULE } from '../../src-main/ml/diffusion/schedule.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { JobCancelledError, type JobContext } from '../../src-main/core/jobs/job-context.ts'
import { generateGalleryJob, galleryRegenerateJob, onnxImportJob } from '../../src-main/core/jobs/kinds/generate-gallery.ts'
import { GalleryService } from '../../src-main/core/gallery/service.ts'
import { GenerateGalleryJobParams } from '../../src-main/core/gallery/schemas.ts'

let dir: string
let workspace: Workspace

function fakeContext(opts: { cancelAfterProgress?: number } = {}) {
  const abort = new AbortController()
  const progress: [number, number][] = []
  const logs: string[] = []
  const ctx: JobContext = {
    jobId: 'test', signal: abort.signal, workspace,
    progress: (done, total) => {
      progress.push([done, total])
      if (opts.cancelAfterProgress !== undefined && progress.length >= opts.cancelAfterProgress) abort.abort()
    },
    metrics: () => {}, log: (m) => { logs.push(m) }, artifact: () => {}, onControl: () => () => {},
    checkpoint: async () => { if (abort.signal.aborted) throw new JobCancelledError() },
  }
  return { ctx, progress, logs }
}

before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'gallery-job-'))
  workspace = await Workspace.open({ root: join(dir, 'ws'), source: 'flag' })
  const tokenizer = Tokenizer.build(['red apple', 'black cat'], { maxLength: 5 })
  const dit: DitConfig = {
    imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8,
    vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength,
  }
  const rng = new Rng(11)
  const values: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(dit))) values[name] = Float32Array.from(rng.normals(shape.reduce((a, b) => a * b, 1)), (v) => v * 0.3)
  const model = new DiffusionModel(dit, DEFAULT_SCHEDULE, tokenizer, paramsFromValues(dit, values, false))
  await model.save(join(workspace.root, 'runs', 'r1', 'generator'))
  model.dispose()
})

after(async () => { await rm(dir, { recursive: true, force: true }) })

test('generate job: progress to the end, images in the workspace gallery, visible to the core service', async () => {
  const { ctx, progress, logs } = fakeContext()
  const params = GenerateGalleryJobParams.parse({
    models: [{ path: 'runs/r1/generator', tInit: 399, name: 'r1-gen', run: 'r1' }, { path: 'runs/r1/generator', name: 'r1-eps' }],
    prompts: ['red apple', 'black cat'], seeds: [0, 1, 2], steps: 3, cfg: 2, batchSize: 4,
  })
  const service = new GalleryService(workspace.resolve('gallery'))
  assert.equal((await service.facets()).total, 0)
  const result = await generateGalleryJob.run(ctx, params)
  assert.equal(result.images, 12)
  assert.deepEqual(progress.at(-1), [12, 12])
  assert.ok(logs.some((l) => /execution providers: cpu/.test(l)))
  const page = await service.list({ model: 'r1-eps', text: 'cat' })
  assert.equal(page.total, 3)
  assert.equal(page.entries[0]!.steps, 3)
  assert.deepEqual(await service.facets(), { models: ['r1-eps', 'r1-gen'], runs: ['r1'], total: 12 })
  await assert.rejects(service.list({ limit: -1 }), /too_small|>=1/)

  const reg = fakeContext()
  const out = await galleryRegenerateJob.run(reg.ctx, { ids: [page.entries[0]!.id], save: true })
  assert.equal(out.regenerated.length, 1)
  assert.equal((await service.facets()).total, 13)
  assert.deepEqual((await service.delete({ ids: [out.regenerated[0]!.id!] })), { deleted: 1 })
})

test('generate job: cancel stops between batches; paths outside the workspace are refused', async () => {
  const { ctx } = fakeContext({ cancelAfterProgress: 1 })
  const params = GenerateGalleryJobParams.parse({ models: [{ path: 'runs/r1/generator', tInit: 100 }], prompts: ['a', 'b', 'c'], seeds: [0, 1], batchSize: 2 })
  await assert.rejects(generateGalleryJob.run(ctx, params), (e: Error) => e instanceof JobCancelledError || /cancelled/.test(e.message))
  await assert.rejects(generateGalleryJob.run(fakeContext().ctx, { ...params, models: [{ path: '../../etc' }] }), /outside the workspace/)
})

test('regenerate job refuses a PNG whose metadata names a model outside the workspace', async () => {
  const service = new GalleryService(workspace.resolve('gallery'))
  const [entry] = (await service.list({ limit: 1 })).entries
  const indexPath = join(workspace.resolve('gallery'), 'index.json')
  const index = JSON.parse(await readFile(indexPath, 'utf8'))
  index.entries.find((e: { id: string }) => e.id === entry!.id).modelPath = '/etc'
  // an index written before entries carried a checksum (still accepted), so the edit is read, not repaired
  delete index.entriesSha256
  await writeFile(indexPath, JSON.stringify(index))
  await assert.rejects(galleryRegenerateJob.run(fakeContext().ctx, { ids: [entry!.id], save: false }), /outside the workspace/)
})

test('import job: an exported generator imports; garbage is refused with a clear error', async () => {
  const first = (await new GalleryService(workspace.resolve('gallery')).list({ model: 'r1-gen', limit: 1 })).entries[0]!
  await copyFile(join(first.modelPath, 'model.onnx'), join(workspace.root, 'mine.onnx'))
  const { manifest, path } = await onnxImportJob.run(fakeContext().ctx, { file: 'mine.onnx', name: 'mine', tokenizerFrom: 'runs/r1/generator' })
  assert.equal(path, join('models', 'mine'))
  assert.equal(manifest.source.imported, true)
  const gen = await generateGalleryJob.run(fakeContext().ctx, GenerateGalleryJobParams.parse({ models: [{ path: 'models/mine' }], prompts: ['red apple'], seeds: [0] }))
  assert.equal(gen.images, 1)
  await writeFile(join(workspace.root, 'junk.onnx'), 'junk')
  await assert.rejects(onnxImportJob.run(fakeContext().ctx, { file: 'junk.onnx', name: 'junk', tokenizerFrom: 'runs/r1/generator' }), /not a valid ONNX model/)
})

test('generate job: the shipped model names (reference, one-step-init) load the embedded models, not workspace folders', { timeout: 300_000 }, async () => {
  // The Gallery's default model is 'one-step-init'; the job once resolved it as a workspace folder and failed.
  const params = GenerateGalleryJobParams.parse({ models: [{ path: 'one-step-init' }, { path: 'reference' }], prompts: ['red apple'], seeds: [0], steps: 1 })
  const result = await generateGalleryJob.run(fakeContext().ctx, params)
  assert.equal(result.images, 2)
  assert.deepEqual(result.perModel.map((m) => [m.model, m.kind]), [['one-step-init', 'generator'], ['reference', 'eps']])
  const service = new GalleryService(workspace.resolve('gallery'))
  const [image] = (await service.list({ model: 'one-step-init' })).entries
  assert.equal(image!.sampler, 'one-step')
  assert.ok(image!.modelPath.startsWith(workspace.root), 'the exported package is cached inside the workspace')
})
