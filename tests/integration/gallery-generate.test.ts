// Gallery generation end to end on files: a saved tiny diffusion model, exported on the fly to ONNX,
// generated one-step and multi-step into a gallery, searched, re-generated from metadata (same pixels).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditParamShapes, paramsFromValues, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_SCHEDULE } from '../../src-main/ml/diffusion/schedule.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { OnnxInference } from '../../src-main/ml/onnx/inference.ts'
import { Gallery } from '../../src-main/core/gallery/gallery.ts'
import { generateIntoGallery, regenerateImage } from '../../src-main/core/gallery/generate.ts'
import { toRgb8, readPngText } from '../../src-main/core/gallery/png-text.ts'

let dir: string
const inference = new OnnxInference({ threads: 1 })

before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'gallery-generate-'))
  const tokenizer = Tokenizer.build(['red apple', 'black cat smiling face'], { maxLength: 6 })
  const dit: DitConfig = {
    imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8,
    vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength, output: 'v', schedule: DEFAULT_SCHEDULE,
  }
  const rng = new Rng(3)
  const values: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(dit))) values[name] = Float32Array.from(rng.normals(shape.reduce((a, b) => a * b, 1)), (v) => v * 0.3)
  const model = new DiffusionModel(dit, DEFAULT_SCHEDULE, tokenizer, paramsFromValues(dit, values, false), { steps: 42 })
  await model.save(join(dir, 'tiny'))
  model.dispose()
})

after(async () => {
  await inference.dispose()
  await rm(dir, { recursive: true, force: true })
})

test('prompts x seeds x models into the gallery, with progress; searchable; regenerate gives the same pixels', async () => {
  const gallery = new Gallery(join(dir, 'gallery'))
  await gallery.open()
  const progress: number[] = []
  const result = await generateIntoGallery(gallery, inference, {
    models: [{ path: join(dir, 'tiny'), name: 'tiny-ref' }, { path: join(dir, 'tiny'), tInit: 399, name: 'tiny-gen', run: 'run-a' }],
    prompts: ['red apple', 'black cat'], seeds: [0, 1, 2],
    sampling: { sampler: 'dpmpp-2m', steps: 4, guidance: 2 }, batchSize: 4,
  }, { onProgress: (p) => progress.push(p.done) })
  assert.equal(result.entries.length, 12)
  assert.deepEqual(progress, [4, 6, 10, 12])
  assert.deepEqual(result.prompts, { unknownWords: [], truncated: [], notice: null }, 'every word is known')
  assert.deepEqual(result.perModel.map((m) => [m.model, m.kind, m.images]), [['tiny-ref', 'eps', 6], ['tiny-gen', 'generator', 6]])

  assert.equal(gallery.list({ model: 'tiny-gen' }).total, 6)
  assert.equal(gallery.list({ run: 'run-a', text: 'cat', seed: 2 }).total, 1)
  const ref = gallery.list({ model: 'tiny-ref', text: 'apple', seed: 1 }).entries[0]!
  assert.equal(ref.sampler, 'dpmpp-2m')
  assert.equal(ref.steps, 4)
  assert.equal(ref.cfg, 2)
  assert.equal(ref.checkpointStep, 42)
  const text = readPngText(await readFile(gallery.pathOf(ref.id)))
  assert.match(text.parameters!, /^red apple\nSteps: 4, Sampler: DPM\+\+ 2M, CFG scale: 2, Seed: 1, Size: 8x8/)

  for (const entry of [ref, gallery.list({ model: 'tiny-gen', seed: 0 }).entries[0]!]) {
    const again = await regenerateImage(gallery, inference, entry.id)
    const stored = await gallery.readPixels(entry.id)
    assert.deepEqual(toRgb8(again.pixels, 8, 8), stored.rgb, `${entry.model}: regenerated pixels differ`)
  }
  // images differ between seeds (the test would pass trivially on constant images otherwise)
  const [a, b] = gallery.list({ model: 'tiny-ref', text: 'apple', order: 'oldest' }).entries
  assert.notDeepEqual((await gallery.readPixels(a!.id)).rgb, (await gallery.readPixels(b!.id)).rgb)

  // save the regenerated image as a new entry
  const saved = await regenerateImage(gallery, inference, ref.id, { save: true })
  assert.equal(gallery.size, 13)
  assert.equal(saved.entry!.seed, 1)
})

test('words the model does not know, and words past its prompt length, are reported with the images', async () => {
  const gallery = new Gallery(join(dir, 'gallery-unknown'))
  await gallery.open()
  const long = 'red apple black cat smiling face red apple'
  const result = await generateIntoGallery(gallery, inference, {
    models: [{ path: join(dir, 'tiny'), tInit: 399 }, { path: join(dir, 'tiny'), name: 'same vocabulary' }],
    prompts: ['red kangaroo', 'Kangaroo, qwzx!', long], seeds: [0], sampling: { sampler: 'ddim', steps: 2, guidance: 1 },
  })
  assert.equal(result.entries.length, 6, 'the images are made all the same')
  assert.deepEqual(result.prompts.unknownWords.map((u) => u.word), ['kangaroo', 'qwzx'], 'each word once, across prompts and models')
  assert.deepEqual(result.prompts.truncated, [long])
  assert.deepEqual(result.prompts.noKnownWords, ['Kangaroo, qwzx!'], 'a prompt the model cannot follow at all')
  assert.match(result.prompts.notice ?? '', /^no word the model knows in "Kangaroo, qwzx!", so it cannot follow that prompt; not in the model's vocabulary, so read as unknown tokens: kangaroo, qwzx; 1 prompt is longer than 6 words/)
  // the image keeps the prompt as typed
  assert.deepEqual(result.entries.map((e) => e.prompt).slice(0, 3), ['red kangaroo', 'Kangaroo, qwzx!', long])
})

test('regenerate refuses when the model file changed; cancel stops a job; bad requests are refused', async () => {
  const gallery = new Gallery(join(dir, 'gallery2'))
  await gallery.open()
  const [entry] = (await generateIntoGallery(gallery, inference, { models: [{ path: join(dir, 'tiny'), tInit: 300 }], prompts: ['red apple'], seeds: [5] })).entries
  const manifestPath = join(entry!.modelPath, 'manifest.json')
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'))
  await writeFile(manifestPath, JSON.stringify({ ...manifest, onnxSha256: 'c'.repeat(64) }))
  // an edited manifest is now refused by its own checksum, before the model hash is compared
  await assert.rejects(regenerateImage(gallery, inference, entry!.id), /damaged or was (replaced|edited)/)
  await writeFile(manifestPath, JSON.stringify(manifest))

  const ac = new AbortController()
  await assert.rejects(
    generateIntoGallery(gallery, inference, { models: [{ path: join(dir, 'tiny') }], prompts: ['a', 'b'], seeds: [0, 1, 2, 3], batchSize: 2, sampling: { sampler: 'ddim', steps: 3, guidance: 1 } },
      { signal: ac.signal, onProgress: () => ac.abort() }),
    /cancelled/,
  )
  assert.equal(gallery.size, 3, 'the first batch was kept, nothing after the cancel')
  await assert.rejects(generateIntoGallery(gallery, inference, { models: [{ path: join(dir, 'nowhere') }], prompts: ['a'], seeds: [0] }), /neither an ONNX model folder/)
  await assert.rejects(generateIntoGallery(gallery, inference, { models: [{ path: join(dir, 'tiny') }], prompts: ['a'], seeds: [-1] }), /seeds must be integers/)
  await assert.rejects(regenerateImage(gallery, inference, 'missing'), /no image with id/)
})
