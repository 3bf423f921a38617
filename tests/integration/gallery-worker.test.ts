// The registered gallery job in a real worker thread through the JobManager: a tiny saved model in the
// workspace, generate with progress to 100 %, then cancel a second job mid-way.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { EventPayload, StudioEvent } from '../../src-main/contract/index.ts'
import { JobManager } from '../../src-main/core/jobs/job-manager.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { GalleryService } from '../../src-main/core/gallery/service.ts'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditParamShapes, paramsFromValues, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_SCHEDULE } from '../../src-main/ml/diffusion/schedule.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { recordingLogger, tempDir } from '../helpers/studio-fixtures.ts'

let dir: Awaited<ReturnType<typeof tempDir>>
let workspace: Workspace
let manager: JobManager
const events: StudioEvent[] = []

function done(jobId: string): Promise<EventPayload<'job.done'>> {
  return new Promise((resolve) => {
    const check = (e: StudioEvent) => e.channel === 'job.done' && e.payload.jobId === jobId
    const seen = events.find(check)
    if (seen) return resolve(seen.payload as EventPayload<'job.done'>)
    const off = manager.onEvent((e) => check(e) && (off(), resolve(e.payload as EventPayload<'job.done'>)))
  })
}

before(async () => {
  await initTf()
  dir = await tempDir()
  workspace = await Workspace.open({ root: dir.path, source: 'flag' })
  const tokenizer = Tokenizer.build(['red apple', 'black cat'], { maxLength: 5 })
  const dit: DitConfig = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8, vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength }
  const rng = new Rng(5)
  const values: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(dit))) values[name] = Float32Array.from(rng.normals(shape.reduce((a, b) => a * b, 1)), (v) => v * 0.3)
  const model = new DiffusionModel(dit, DEFAULT_SCHEDULE, tokenizer, paramsFromValues(dit, values, false))
  await model.save(join(workspace.root, 'models', 'tiny'))
  model.dispose()
  manager = new JobManager({ workspace: workspace.info, logger: recordingLogger().logger, cancelGraceMs: 10_000 })
  manager.onEvent((e) => events.push(e))
})

after(async () => {
  await manager.shutdown()
  await dir.remove()
})

test('generate-gallery runs in a worker: progress to 100 %, images visible to the core', async () => {
  const { jobId } = manager.start({
    kind: 'generate-gallery',
    params: { models: [{ path: 'models/tiny', name: 'tiny' }], prompts: ['red apple', 'black cat'], seeds: [0, 1, 2], sampler: 'ddim', steps: 3, cfg: 2, batchSize: 2 },
  })
  const result = await done(jobId)
  assert.equal(result.status, 'succeeded', JSON.stringify(result))
  assert.equal((result.result as { images: number }).images, 6)
  const progress = events.filter((e) => e.channel === 'job.progress' && e.payload.jobId === jobId).map((e) => (e.payload as EventPayload<'job.progress'>).fraction)
  assert.equal(progress.at(-1), 1)
  const page = await new GalleryService(workspace.resolve('gallery')).list({ model: 'tiny' })
  assert.equal(page.total, 6)
})

test('a generate-gallery job can be cancelled', async () => {
  const { jobId } = manager.start({
    kind: 'generate-gallery',
    params: { models: [{ path: 'models/tiny' }], prompts: Array.from({ length: 40 }, (_, i) => `prompt ${i}`), seeds: [0, 1, 2, 3, 4], sampler: 'ddim', steps: 50, cfg: 3, batchSize: 1 },
  })
  await new Promise<void>((resolve) => {
    const off = manager.onEvent((e) => e.channel === 'job.progress' && e.payload.jobId === jobId && (off(), resolve()))
  })
  manager.cancel(jobId)
  const result = await done(jobId)
  assert.equal(result.status, 'cancelled')
})
