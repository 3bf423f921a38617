import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditEps, ditParamShapes, paramsFromValues, disposeParams, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { exportDitToOnnx } from '../../src-main/ml/onnx/export-dit.ts'
import { createSession, ort } from '../../src-main/ml/onnx/runtime.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

const baseConfig: DitConfig = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, vocabSize: 11, textLength: 5, textWidth: 8 }

/** Random values everywhere (the real init zeroes adaLN and the output layer, which would hide mistakes). */
function randomValues(seed: number, c: DitConfig = baseConfig): Record<string, Float32Array> {
  const rng = new Rng(seed)
  const out: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(c))) {
    const v = rng.normals(shape.reduce((a, b) => a * b, 1))
    for (let i = 0; i < v.length; i++) v[i]! *= 0.3
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

before(async () => {
  await initTf()
})

for (const [label, config] of [['', baseConfig], [', caption tokens in the attention', { ...baseConfig, textTokens: true }]] as const) test(`exported eps network${label}: TensorFlow.js and onnxruntime-node agree within 1e-4 (dynamic batch)`, async () => {
  const values = randomValues(1, config)
  const params = paramsFromValues(config, values, false)
  const expected = tf.tidy(() =>
    ditEps(params, config, tf.tensor4d(xt, [B, 8, 8, 3]), tf.tensor1d(tValues), tf.tensor2d(tokenValues, [B, 5], 'int32')),
  )
  const tfOut = (await expected.data()) as Float32Array
  expected.dispose()
  disposeParams(params)

  const session = await createSession(exportDitToOnnx(config, values, { kind: 'eps' }), { providers: ['cpu'], threads: 1 })
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
  // batch 1 through the same session gives the same rows
  const single = await run([1])
  assert.ok(maxAbsDiff(single, tfOut.subarray(192, 384)) < 1e-4)
  // the outputs are not trivially zero
  assert.ok(tfOut.some((v) => Math.abs(v) > 0.1))
})

const config = baseConfig

test('exported one-step generator matches (z - sigma eps(z, t_init)) / alpha in TensorFlow.js', async () => {
  const values = randomValues(2)
  const params = paramsFromValues(config, values, false)
  const tInit = 399, alpha = 0.8, sigma = 0.6
  const expected = tf.tidy(() => {
    const z = tf.tensor4d(xt, [B, 8, 8, 3])
    const eps = ditEps(params, config, z, tf.fill([B], tInit) as tf.Tensor1D, tf.tensor2d(tokenValues, [B, 5], 'int32'))
    return tf.div(tf.sub(z, tf.mul(eps, sigma)), alpha)
  })
  const tfOut = (await expected.data()) as Float32Array
  expected.dispose()
  disposeParams(params)
  const session = await createSession(exportDitToOnnx(config, values, { kind: 'generator', tInit, alpha, sigma }), { providers: ['cpu'] })
  const result = await session.run({
    z: new ort.Tensor('float32', xt, [B, 8, 8, 3]),
    tokens: new ort.Tensor('int32', tokenValues, [B, 5]),
  })
  const out = result.x0!.data as Float32Array
  assert.ok(maxAbsDiff(out, tfOut) < 1e-4, `max |tfjs - ort| = ${maxAbsDiff(out, tfOut)}`)
})

test('export refuses parameters of the wrong shape', () => {
  const values = randomValues(3)
  values['blocks.1.q.w'] = new Float32Array(3)
  assert.throws(() => exportDitToOnnx(config, values, { kind: 'eps' }), /blocks\.1\.q\.w/)
})
