// ONNX export of the U-Net (arch 'unet'): TensorFlow.js and onnxruntime-node agree within 1e-4 on random
// inputs and random weights, for both graph kinds ('eps' and the one-step 'generator'), with v output,
// a dynamic batch, and through the model-package path the gallery uses.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditEps, ditParamShapes, paramsFromValues, disposeParams, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_SCHEDULE, VpSchedule } from '../../src-main/ml/diffusion/schedule.ts'
import { exportUnetToOnnx, samePadding } from '../../src-main/ml/onnx/export-unet.ts'
import { exportGenerator, ditSourceFromModel, loadOnnxPackage } from '../../src-main/ml/onnx/model-package.ts'
import { createSession, ort } from '../../src-main/ml/onnx/runtime.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

// three levels (8x8, 4x4, 2x2) with channel changes, attention at two of them, depth 2, v output
const config: DitConfig = {
  arch: 'unet', imageSize: 8, channels: 3, patch: 1, width: 8, depth: 2, heads: 2, mlpRatio: 1,
  vocabSize: 11, textLength: 5, textWidth: 8, channelMults: [1, 2, 3], attentionLevels: [1, 2], normGroups: 4,
  output: 'v', schedule: DEFAULT_SCHEDULE,
}

/**
 * Random values everywhere (the real init zeroes the last convs and attention outputs, which would hide
 * mistakes), scaled by fan-in so activations stay O(1): the head has no normalisation.
 */
function randomValues(seed: number, c: DitConfig = config): Record<string, Float32Array> {
  const rng = new Rng(seed)
  const out: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(c))) {
    const std = shape.length === 1 ? 0.3 : 1 / Math.sqrt(shape.slice(0, -1).reduce((a, b) => a * b, 1))
    const v = rng.normals(shape.reduce((a, b) => a * b, 1))
    for (let i = 0; i < v.length; i++) v[i]! *= std
    out[name] = v
  }
  return out
}

const B = 3
const rng = new Rng(99)
const xt = rng.normals(B * 8 * 8 * 3)
const tValues = new Float32Array([0, 417, 999])
// includes pads (0), a fully empty prompt and the highest id
const tokenValues = new Int32Array([5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 10, 3, 7, 1, 4])

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

let dir = ''
before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'onnx-unet-'))
})
after(async () => { await rm(dir, { recursive: true, force: true }) })

const epsConfig: DitConfig = { ...config, output: 'epsilon', schedule: undefined, depth: 1, attentionLevels: [0] }
for (const [label, c] of [['v output', config], ['eps output, attention at full resolution only, depth 1', epsConfig]] as const) {
  test(`exported U-Net eps network (${label}): TensorFlow.js and onnxruntime-node agree within 1e-4 (dynamic batch)`, async () => {
    const values = randomValues(1, c)
    const params = paramsFromValues(c, values, false)
    const expected = tf.tidy(() => ditEps(params, c, tf.tensor4d(xt, [B, 8, 8, 3]), tf.tensor1d(tValues), tf.tensor2d(tokenValues, [B, 5], 'int32')))
    const tfOut = (await expected.data()) as Float32Array
    expected.dispose()
    disposeParams(params)

    const session = await createSession(exportUnetToOnnx(c, values, { kind: 'eps' }), { providers: ['cpu'], threads: 1 })
    const run = async (rows: number[]) => {
      const n = rows.length
      const pick = <T extends Float32Array | Int32Array>(src: T, per: number): T => {
        const out = new (src.constructor as new (n: number) => T)(n * per)
        rows.forEach((r, i) => out.set(src.subarray(r * per, (r + 1) * per), i * per))
        return out
      }
      const result = await session.run({
        xt: new ort.Tensor('float32', pick(xt, 192), [n, 8, 8, 3]),
        t: new ort.Tensor('float32', pick(tValues, 1), [n]),
        tokens: new ort.Tensor('int32', pick(tokenValues, 5), [n, 5]),
      })
      return result.eps!.data as Float32Array
    }
    const full = await run([0, 1, 2])
    assert.ok(maxAbsDiff(full, tfOut) < 1e-4, `max |tfjs - ort| = ${maxAbsDiff(full, tfOut)}`)
    const single = await run([1])
    assert.ok(maxAbsDiff(single, tfOut.subarray(192, 384)) < 1e-4)
    assert.ok(tfOut.some((v) => Math.abs(v) > 0.1))
  })
}

test('exported U-Net one-step generator matches (z - sigma eps(z, t_init)) / alpha in TensorFlow.js', async () => {
  const values = randomValues(2)
  const params = paramsFromValues(config, values, false)
  const schedule = new VpSchedule(DEFAULT_SCHEDULE)
  const tInit = 800, alpha = schedule.alpha(tInit), sigma = schedule.sigma(tInit)
  const expected = tf.tidy(() => {
    const z = tf.tensor4d(xt, [B, 8, 8, 3])
    const eps = ditEps(params, config, z, tf.fill([B], tInit) as tf.Tensor1D, tf.tensor2d(tokenValues, [B, 5], 'int32'))
    return tf.div(tf.sub(z, tf.mul(eps, sigma)), alpha)
  })
  const tfOut = (await expected.data()) as Float32Array
  expected.dispose()
  disposeParams(params)
  const session = await createSession(exportUnetToOnnx(config, values, { kind: 'generator', tInit, alpha, sigma }), { providers: ['cpu'] })
  const result = await session.run({ z: new ort.Tensor('float32', xt, [B, 8, 8, 3]), tokens: new ort.Tensor('int32', tokenValues, [B, 5]) })
  const out = result.x0!.data as Float32Array
  assert.ok(maxAbsDiff(out, tfOut) < 1e-4, `max |tfjs - ort| = ${maxAbsDiff(out, tfOut)}`)
})

test('the gallery path (exportGenerator from a DiffusionModel) picks the U-Net export', async () => {
  const tokenizer = Tokenizer.build(['red apple', 'dog face', 'rocket'], { maxLength: 5 })
  const { vocabSize: _v, textLength: _l, schedule: _s, ...arch } = config
  const model = DiffusionModel.create(arch, DEFAULT_SCHEDULE, tokenizer, 1)
  const source = ditSourceFromModel(model)
  for (const name of Object.keys(source.values)) source.values[name] = randomValues(3, model.dit)[name]!
  await exportGenerator({ source, tInit: 800, name: 'unet', checkpoint: 'memory' }, join(dir, 'g'))
  const pkg = await loadOnnxPackage(join(dir, 'g'))
  assert.equal(pkg.manifest.kind, 'generator')
  const session = await createSession(pkg.onnx, { providers: ['cpu'] })
  assert.deepEqual([...session.inputNames].sort(), ['tokens', 'z'])
  const ids = tokenizer.encodeBatch(['red apple', ''])
  const result = await session.run({ z: new ort.Tensor('float32', xt.subarray(0, 2 * 192), [2, 8, 8, 3]), tokens: new ort.Tensor('int32', ids, [2, 5]) })
  assert.deepEqual(result.x0!.dims, [2, 8, 8, 3])
  assert.ok((result.x0!.data as Float32Array).every(Number.isFinite))
  model.dispose()
})

test("'same' padding as TensorFlow.js computes it (stride 2 pads after only on even sizes)", () => {
  assert.deepEqual(samePadding(32, 3, 1), [1, 1])
  assert.deepEqual(samePadding(32, 3, 2), [0, 1])
  assert.deepEqual(samePadding(7, 3, 2), [1, 1])
})

test('export refuses parameters of the wrong shape and a DiT config', () => {
  const values = randomValues(3)
  values['mid.attn.q.w'] = new Float32Array(3)
  assert.throws(() => exportUnetToOnnx(config, values, { kind: 'eps' }), /mid\.attn\.q\.w/)
  assert.throws(() => exportUnetToOnnx({ ...config, arch: 'dit' }, values, { kind: 'eps' }), /arch 'unet'/)
})
