// Export parity on saved model folders: the eps graph of a v-output DiT (the reference's default)
// within 1e-4 of TensorFlow.js, and the shipped reference model itself once it is committed.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditParamShapes, paramsFromValues, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { resolveModelFolder } from '../../src-main/ml/onnx/model-package.ts'
import { OnnxInference } from '../../src-main/ml/onnx/inference.ts'
import { createSession, ort } from '../../src-main/ml/onnx/runtime.ts'
import { REFERENCE_MODEL_DIR } from '../../src-main/core/gallery/generate.ts'

let dir: string
before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'onnx-export-model-'))
})
after(async () => { await rm(dir, { recursive: true, force: true }) })

/** eps of `model` in tfjs and through the exported graph for random x_t, t across the range, real prompts. */
async function epsParity(modelDir: string, prompts: string[]): Promise<number> {
  const model = await DiffusionModel.load(modelDir)
  const pkg = await resolveModelFolder(modelDir, { cacheDir: join(dir, 'cache') })
  const B = prompts.length
  const S = model.dit.imageSize
  const xt = new Rng(4).normals(B * S * S * 3)
  const ts = Float32Array.from({ length: B }, (_, i) => Math.round((999 * i) / Math.max(1, B - 1)))
  const tokens = model.tokenizer.encodeBatch(prompts)
  const expected = tf.tidy(() => model.eps(tf.tensor4d(xt, [B, S, S, 3]), tf.tensor1d(ts), tf.tensor2d(tokens, [B, model.tokenizer.maxLength], 'int32')))
  const want = (await expected.data()) as Float32Array
  expected.dispose()
  model.dispose()
  const session = await createSession(pkg.onnx, { threads: 1 })
  const got = (await session.run({
    xt: new ort.Tensor('float32', xt, [B, S, S, 3]), t: new ort.Tensor('float32', ts, [B]), tokens: new ort.Tensor('int32', tokens, [B, model.tokenizer.maxLength]),
  })).eps!.data as Float32Array
  await session.release()
  let m = 0
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(want[i]! - got[i]!))
  assert.ok(want.some((v) => Math.abs(v) > 0.1), 'outputs are not trivially small')
  return m
}

test('v-output DiT from a saved folder: exported eps graph agrees with tfjs within 1e-4', async () => {
  const tokenizer = Tokenizer.build(['red apple', 'black cat'], { maxLength: 5 })
  const dit: DitConfig = {
    imageSize: 8, channels: 3, patch: 2, width: 16, depth: 2, heads: 4, mlpRatio: 2, textWidth: 8,
    vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength, output: 'v', schedule: { kind: 'linear', T: 1000 },
  }
  const rng = new Rng(9)
  const values: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(dit))) values[name] = Float32Array.from(rng.normals(shape.reduce((a, b) => a * b, 1)), (v) => v * 0.3)
  const model = new DiffusionModel(dit, { kind: 'linear', T: 1000 }, tokenizer, paramsFromValues(dit, values, false))
  await model.save(join(dir, 'v-model'))
  model.dispose()
  const diff = await epsParity(join(dir, 'v-model'), ['red apple', 'black cat', '', 'unknown words here'])
  assert.ok(diff < 1e-4, `max |tfjs - ort| = ${diff}`)
})

const referenceMissing = existsSync(join(REFERENCE_MODEL_DIR, 'model.safetensors')) ? false : 'resources/models/reference is not committed yet'

test('the shipped reference model exports with eps parity within 1e-4', { skip: referenceMissing }, async () => {
  const diff = await epsParity(REFERENCE_MODEL_DIR, ['grinning face', 'red apple', '', 'flag of france'])
  assert.ok(diff < 1e-4, `max |tfjs - ort| = ${diff}`)
})

test('the shipped reference: ORT DPM-Solver++ with CFG gives the tfjs sampler\'s images within 1e-3', { skip: referenceMissing }, async () => {
  const prompts = ['grinning face', 'red apple']
  const seeds = [1, 2]
  const sampling = { sampler: 'dpmpp-2m' as const, steps: 8, guidance: 3 }
  const pkg = await resolveModelFolder(REFERENCE_MODEL_DIR, { cacheDir: join(dir, 'cache') })
  const inference = new OnnxInference({ threads: 1 })
  const got = (await inference.generate(pkg, { prompts, seeds, sampling })).pixels
  await inference.dispose()
  const model = await DiffusionModel.load(REFERENCE_MODEL_DIR)
  const images = model.generate(prompts, { seeds, sampler: sampling.sampler, steps: sampling.steps, guidance: sampling.guidance })
  const want = (await images.data()) as Float32Array
  images.dispose()
  model.dispose()
  let m = 0
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(want[i]! - got[i]!))
  assert.ok(m < 1e-3, `max |tfjs - ort| = ${m}`)
})

