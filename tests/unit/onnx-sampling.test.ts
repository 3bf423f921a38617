// The ORT inference pipeline against the tfjs reference: export parity of a saved v-output model
// (eps and one-step generator), the async SamplerStepper loop vs samplers.ts within 1e-3, seeded
// reproducibility and batch independence.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditParamShapes, paramsFromValues, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_SCHEDULE } from '../../src-main/ml/diffusion/schedule.ts'
import { initialNoise } from '../../src-main/ml/diffusion/samplers.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { OnnxInference } from '../../src-main/ml/onnx/inference.ts'
import { resolveModelFolder, exportGenerator, loadOnnxPackage, ditSourceFromModel } from '../../src-main/ml/onnx/model-package.ts'

const PROMPTS = ['red apple', 'black cat', 'smiling face', '']

/** A tiny v-output model with random weights everywhere (the real init zeroes layers that would hide mistakes). */
function tinyModel(seed: number): DiffusionModel {
  const tokenizer = Tokenizer.build(['red apple', 'black cat smiling face', 'green tree'], { maxLength: 6 })
  const dit: DitConfig = {
    imageSize: 8, channels: 3, patch: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, textWidth: 8,
    vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength, output: 'v', schedule: DEFAULT_SCHEDULE,
  }
  const rng = new Rng(seed)
  const values: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(dit))) {
    const v = rng.normals(shape.reduce((a, b) => a * b, 1))
    for (let i = 0; i < v.length; i++) v[i]! *= 0.2
    values[name] = v
  }
  return new DiffusionModel(dit, DEFAULT_SCHEDULE, tokenizer, paramsFromValues(dit, values, false), { steps: 123 })
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

let dir: string
let model: DiffusionModel
const inference = new OnnxInference({ threads: 1 })

before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'onnx-sampling-'))
  model = tinyModel(5)
  await model.save(join(dir, 'model'))
})

after(async () => {
  model.dispose()
  await inference.dispose()
  await rm(dir, { recursive: true, force: true })
})

for (const [sampler, steps, guidance] of [['ddim', 6, 3], ['dpmpp-2m', 5, 2.5], ['ddim', 4, 1]] as const) {
  test(`ORT ${sampler} ${steps} steps, CFG ${guidance}: same images as the tfjs sampler within 1e-3`, async () => {
    const pkg = await resolveModelFolder(join(dir, 'model'), { cacheDir: join(dir, 'cache') })
    assert.equal(pkg.manifest.kind, 'eps')
    assert.equal(pkg.manifest.source.step, 123)
    const seeds = [0, 1, 2, 3]
    const ort = await inference.generate(pkg, { prompts: PROMPTS, seeds, sampling: { sampler, steps, guidance }, batchSize: 3 })
    const loaded = await DiffusionModel.load(join(dir, 'model'))
    const images = loaded.generate(PROMPTS, { steps, sampler, guidance, seeds })
    const expected = (await images.data()) as Float32Array
    images.dispose()
    loaded.dispose()
    const diff = maxAbsDiff(ort.pixels, expected)
    assert.ok(diff < 1e-3, `max |tfjs - ort| = ${diff}`)
    assert.ok(expected.some((v) => Math.abs(v) > 0.05), 'images are not trivially zero')
  })
}

test('saved model exported as a one-step generator agrees with generatorSample maths in tfjs within 1e-4', async () => {
  const tInit = 399
  const pkg = await resolveModelFolder(join(dir, 'model'), { cacheDir: join(dir, 'cache'), generatorTInit: tInit })
  assert.equal(pkg.manifest.kind, 'generator')
  assert.equal(pkg.manifest.tInit, tInit)
  const seeds = [7, 8, 9, 10]
  const got = await inference.generate(pkg, { prompts: PROMPTS, seeds, batchSize: 4 })
  const a = model.schedule.alpha(tInit), s = model.schedule.sigma(tInit)
  const expected = tf.tidy(() => {
    const z = tf.tensor4d(initialNoise(seeds, [8, 8, 3]), [4, 8, 8, 3])
    const eps = model.eps(z, tf.fill([4], tInit) as tf.Tensor1D, model.encodePrompts(PROMPTS))
    return tf.clipByValue(tf.div(tf.sub(z, tf.mul(eps, s)), a), -1, 1)
  })
  const want = (await expected.data()) as Float32Array
  expected.dispose()
  assert.ok(maxAbsDiff(got.pixels, want) < 1e-4, `max diff ${maxAbsDiff(got.pixels, want)}`)
})

test('generation is seeded: same seeds give identical images whatever the batch size; other seeds differ', async () => {
  const out = join(dir, 'gen')
  await exportGenerator({ source: ditSourceFromModel(model), tInit: 500, name: 'tiny-gen', checkpoint: 'test', step: 1 }, out)
  const pkg = await loadOnnxPackage(out)
  const seeds = [3, 1, 4, 1]
  const a = await inference.generate(pkg, { prompts: PROMPTS, seeds, batchSize: 4 })
  const b = await inference.generate(pkg, { prompts: PROMPTS, seeds, batchSize: 1 })
  assert.deepEqual(a.pixels, b.pixels)
  const c = await inference.generate(pkg, { prompts: PROMPTS, seeds: [5, 9, 2, 6], batchSize: 4 })
  assert.ok(maxAbsDiff(a.pixels, c.pixels) > 0.01)
  // multi-step too
  const eps = await resolveModelFolder(join(dir, 'model'), { cacheDir: join(dir, 'cache') })
  const sampling = { sampler: 'dpmpp-2m' as const, steps: 4, guidance: 2 }
  const m1 = await inference.generate(eps, { prompts: PROMPTS, seeds, sampling, batchSize: 4 })
  const m2 = await inference.generate(eps, { prompts: PROMPTS, seeds, sampling, batchSize: 2 })
  assert.deepEqual(m1.pixels, m2.pixels)
})

test('one session per model file, reused across calls', async () => {
  const pkg = await resolveModelFolder(join(dir, 'model'), { cacheDir: join(dir, 'cache') })
  const again = await resolveModelFolder(join(dir, 'model'), { cacheDir: join(dir, 'cache') }) // cached export, loaded anew
  assert.equal(await inference.session(pkg), await inference.session(again))
  assert.deepEqual(inference.providers.chosen, ['cpu'])
})

test('a cancelled generation stops with a clear error', async () => {
  const pkg = await resolveModelFolder(join(dir, 'model'), { cacheDir: join(dir, 'cache') })
  const ac = new AbortController()
  await assert.rejects(
    inference.generate(pkg, { prompts: PROMPTS, seeds: [0, 1, 2, 3], batchSize: 1, signal: ac.signal, onProgress: (done) => { if (done === 1) ac.abort() } }),
    /cancelled/,
  )
})
