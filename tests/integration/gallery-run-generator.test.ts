// A DI* run folder as a gallery model: its newest (or chosen) checkpoint's generator is exported and
// generates exactly what an export of the same weights generates; the run id and step are recorded.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { saveCheckpoint, type NamedTensor } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { ditParamShapes, paramsFromValues, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_SCHEDULE } from '../../src-main/ml/diffusion/schedule.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { OnnxInference } from '../../src-main/ml/onnx/inference.ts'
import { exportGenerator, loadDitSource, loadOnnxPackage } from '../../src-main/ml/onnx/model-package.ts'
import { resolvePackage } from '../../src-main/eval/models.ts'
import { Gallery } from '../../src-main/core/gallery/gallery.ts'
import { generateIntoGallery } from '../../src-main/core/gallery/generate.ts'

let dir: string
const inference = new OnnxInference({ threads: 1 })
let dit: DitConfig

function randomValues(seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed)
  const out: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(dit))) out[name] = Float32Array.from(rng.normals(shape.reduce((a, b) => a * b, 1)), (v) => v * 0.3)
  return out
}

/** A run checkpoint; with `ema`, a version-2 one whose generator EMA (what exports use) differs from the raw weights. */
async function writeRunCheckpoint(runDir: string, step: number, generator: Record<string, Float32Array>, ema?: Record<string, Float32Array>): Promise<void> {
  const tensors: Record<string, NamedTensor> = {}
  const shapes = ditParamShapes(dit)
  for (const [k, v] of Object.entries(generator)) {
    tensors[`generator/${k}`] = { dtype: 'float32', shape: shapes[k]!, data: v }
    if (ema) tensors[`generatorEma/${k}`] = { dtype: 'float32', shape: shapes[k]!, data: ema[k]! }
    tensors[`fake/${k}`] = { dtype: 'float32', shape: shapes[k]!, data: new Float32Array(v.length) }
  }
  await saveCheckpoint(join(runDir, 'checkpoints', `step-${step}`), { config: { kind: 'distar-run-checkpoint', version: ema ? 2 : 1, step }, tensors })
}

before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'gallery-run-'))
  const tokenizer = Tokenizer.build(['red apple', 'black cat'], { maxLength: 5 })
  dit = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8, vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength, output: 'v', schedule: DEFAULT_SCHEDULE }
  const model = new DiffusionModel(dit, DEFAULT_SCHEDULE, tokenizer, paramsFromValues(dit, randomValues(1), false))
  await model.save(join(dir, 'reference'))
  model.dispose()
  const run = join(dir, 'runs', 'run-7')
  await mkdir(run, { recursive: true })
  await writeFile(join(run, 'config.json'), JSON.stringify({ tInit: 250, baseModelDir: join(dir, 'reference') }))
  await writeRunCheckpoint(run, 10, randomValues(10))
  await writeRunCheckpoint(run, 20, randomValues(21), randomValues(20))
})

after(async () => {
  await inference.dispose()
  await rm(dir, { recursive: true, force: true })
})

test('a run folder generates with its newest checkpoint, the same pixels as a direct export of its generator EMA', async () => {
  const gallery = new Gallery(join(dir, 'gallery'))
  await gallery.open()
  const { entries } = await generateIntoGallery(gallery, inference, { models: [{ path: join(dir, 'runs', 'run-7') }], prompts: ['red apple', 'black cat'], seeds: [3] })
  assert.equal(entries[0]!.run, 'run-7')
  assert.equal(entries[0]!.checkpointStep, 20)
  assert.equal(entries[0]!.tInit, 250)
  assert.equal(entries[0]!.model, 'run-7-step-20')
  assert.equal(entries[0]!.sampler, 'one-step')

  const source = { ...(await loadDitSource(join(dir, 'reference'))), values: randomValues(20) }
  await exportGenerator({ source, tInit: 250, name: 'direct', checkpoint: 'test' }, join(dir, 'direct'))
  const direct = await inference.generate(await loadOnnxPackage(join(dir, 'direct')), { prompts: ['red apple', 'black cat'], seeds: [3, 3] })
  for (const [i, e] of entries.entries()) {
    const stored = await gallery.readPixels(e.id)
    const want = Uint8Array.from(direct.pixels.subarray(i * 192, (i + 1) * 192), (v) => Math.round(Math.min(1, Math.max(-1, v)) * 127.5 + 127.5))
    assert.deepEqual(stored.rgb, want)
  }
  // an older step is a different model
  const older = await generateIntoGallery(gallery, inference, { models: [{ path: join(dir, 'runs', 'run-7'), step: 10 }], prompts: ['red apple'], seeds: [3] })
  assert.equal(older.entries[0]!.checkpointStep, 10)
  assert.notDeepEqual((await gallery.readPixels(older.entries[0]!.id)).rgb, (await gallery.readPixels(entries[0]!.id)).rgb)
})

test('run folders: a missing step or a checkpoint of another architecture is a clear error', async () => {
  const gallery = new Gallery(join(dir, 'gallery2'))
  await gallery.open()
  await assert.rejects(generateIntoGallery(gallery, inference, { models: [{ path: join(dir, 'runs', 'run-7'), step: 15 }], prompts: ['a'], seeds: [0] }), /no checkpoint at step 15 \(it has 20, 10\)/)
  const other = join(dir, 'runs', 'run-8')
  await mkdir(other, { recursive: true })
  await writeFile(join(other, 'config.json'), JSON.stringify({ tInit: 250, baseModelDir: join(dir, 'reference') }))
  await saveCheckpoint(join(other, 'checkpoints', 'step-1'), { config: {}, tensors: { 'generator/pos': { dtype: 'float32', shape: [1], data: new Float32Array(1) } } })
  await assert.rejects(generateIntoGallery(gallery, inference, { models: [{ path: other }], prompts: ['a'], seeds: [0] }), /generator tensor '.*' is missing/)
  await mkdir(join(dir, 'runs', 'run-9', 'checkpoints'), { recursive: true })
  await writeFile(join(dir, 'runs', 'run-9', 'config.json'), '{}')
  await assert.rejects(generateIntoGallery(gallery, inference, { models: [{ path: join(dir, 'runs', 'run-9') }], prompts: ['a'], seeds: [0] }), /has no checkpoint yet/)
})

test("the eval's init row with a run config's generatorInit exports that folder's generator EMA", async () => {
  const init = join(dir, 'runs', 'run-7', 'checkpoints', 'step-20')
  const pkg = await resolvePackage({ id: 'one-step-init', label: 'One-step, init', kind: 'one-step-init', tInit: 250, generatorInit: init }, join(dir, 'reference'), join(dir, 'eval-cache'))
  assert.equal(pkg.manifest.kind, 'generator')
  const got = await inference.generate(pkg, { prompts: ['red apple', 'black cat'], seeds: [5, 6] })
  const source = { ...(await loadDitSource(join(dir, 'reference'))), values: randomValues(20) }
  await exportGenerator({ source, tInit: 250, name: 'direct-init', checkpoint: 'test' }, join(dir, 'direct-init'))
  const want = await inference.generate(await loadOnnxPackage(join(dir, 'direct-init')), { prompts: ['red apple', 'black cat'], seeds: [5, 6] })
  assert.deepEqual(got.pixels, want.pixels)
  // without generatorInit the row is the reference at t_init: other pixels
  const plain = await resolvePackage({ id: 'one-step-init', label: 'One-step, init', kind: 'one-step-init', tInit: 250 }, join(dir, 'reference'), join(dir, 'eval-cache'))
  assert.notDeepEqual((await inference.generate(plain, { prompts: ['red apple', 'black cat'], seeds: [5, 6] })).pixels, want.pixels)
  await assert.rejects(resolvePackage({ id: 'one-step-init', label: 'x', kind: 'one-step-init', tInit: 250, generatorInit: join(dir, 'nowhere') }, join(dir, 'reference'), join(dir, 'eval-cache')), /generatorInit .*nowhere: no model\.safetensors/)
})
