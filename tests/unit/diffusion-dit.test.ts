// DiT network: shapes, seeded initialisation, determinism, conditioning, patchify and bad input.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import {
  countParams, ditEps, ditParamShapes, disposeParams, initDitParams, initDitValues, patchify, unpatchify, type DitConfig,
} from '../../src-main/ml/diffusion/dit.ts'
import { VpSchedule } from '../../src-main/ml/diffusion/schedule.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { perturbParams } from '../helpers/dit-params.ts'

const config: DitConfig = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, vocabSize: 12, textLength: 5, textWidth: 8 }

function inputs(B: number, seed: number) {
  const rng = new Rng(seed)
  const x = tf.tensor4d(rng.normals(B * 8 * 8 * 3), [B, 8, 8, 3])
  const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(0, 999)), 'float32')
  const tokens = tf.tensor2d(Array.from({ length: B * 5 }, (_, i) => (i % 5 < 3 ? rng.int(1, 11) : 0)), [B, 5], 'int32')
  return { x, t, tokens }
}

describe('DiT', () => {
  before(async () => { await initTf() })

  it('has the parameter shapes of its config, and counts them', () => {
    const shapes = ditParamShapes(config)
    assert.deepEqual(shapes['patch.w'], [48, 16])
    assert.deepEqual(shapes['pos'], [4, 16])
    assert.deepEqual(shapes['text.embed'], [12, 8])
    assert.deepEqual(shapes['blocks.1.ada.w'], [16, 96])
    assert.deepEqual(shapes['final.w'], [16, 48])
    assert.equal(Object.keys(shapes).filter((k) => k.startsWith('blocks.')).length, 2 * 14)
    const total = Object.values(shapes).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0)
    assert.equal(countParams(config), total)
  })

  it('initialises from a seed: same seed same values, other seed other values; adaLN-zero layers start at 0', () => {
    const a = initDitValues(config, 7), b = initDitValues(config, 7), c = initDitValues(config, 8)
    assert.deepEqual(a['blocks.0.q.w'], b['blocks.0.q.w'])
    assert.notDeepEqual(a['blocks.0.q.w'], c['blocks.0.q.w'])
    assert.ok(a['blocks.0.ada.w']!.every((v) => v === 0))
    assert.ok(a['final.w']!.every((v) => v === 0))
    // patch positions start as distinct 2-D sin-cos codes (4 patches of width 16)
    const pos = a['pos']!
    assert.deepEqual(pos, c['pos'])
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) {
      let d = 0
      for (let k = 0; k < 16; k++) d += (pos[i * 16 + k]! - pos[j * 16 + k]!) ** 2
      assert.ok(d > 0.1, `positions ${i} and ${j} nearly equal`)
    }
  })

  it('maps [B,H,W,C] to [B,H,W,C], deterministically, and starts as the zero function (adaLN-zero)', () => {
    const params = initDitParams(config, 1)
    const { x, t, tokens } = inputs(3, 2)
    const y0 = ditEps(params, config, x, t, tokens)
    assert.deepEqual(y0.shape, [3, 8, 8, 3])
    assert.ok((y0.dataSync() as Float32Array).every((v) => v === 0))
    perturbParams(params, 3)
    const y1 = ditEps(params, config, x, t, tokens).dataSync()
    const y2 = ditEps(params, config, x, t, tokens).dataSync()
    assert.deepEqual(y1, y2)
    assert.ok(y1.some((v) => Math.abs(v) > 1e-4))
    disposeParams(params)
    tf.dispose([x, t, tokens, y0])
  })

  it("with output 'v' it returns eps = sigma_t x_t + alpha_t v (so sigma_t x_t at initialisation)", () => {
    const schedule = new VpSchedule()
    const vConfig: DitConfig = { ...config, output: 'v', schedule: schedule.config }
    const params = initDitParams(vConfig, 1)
    const { x, tokens } = inputs(2, 3)
    const ts = [17, 900]
    const y = ditEps(params, vConfig, x, tf.tensor1d(ts), tokens).arraySync()
    const xs = x.arraySync()
    for (let b = 0; b < 2; b++) {
      const expected = xs[b]![3]![5]![1]! * schedule.sigma(ts[b]!)
      assert.ok(Math.abs(y[b]![3]![5]![1]! - expected) < 1e-5, `image ${b}: ${y[b]![3]![5]![1]} vs ${expected}`)
    }
    perturbParams(params, 8)
    const eps = ditEps(params, vConfig, x, tf.tensor1d(ts), tokens)
    const v = ditEps(params, { ...vConfig, output: 'epsilon' }, x, tf.tensor1d(ts), tokens) // the raw network output
    const a = tf.tensor4d(ts.map((t) => schedule.alpha(t)), [2, 1, 1, 1]), s = tf.tensor4d(ts.map((t) => schedule.sigma(t)), [2, 1, 1, 1])
    const diff = tf.max(tf.abs(tf.sub(eps, tf.add(tf.mul(s, x), tf.mul(a, v))))).dataSync()[0]!
    assert.ok(diff < 1e-5, `v conversion off by ${diff}`)
    assert.throws(() => ditParamShapes({ ...config, output: 'v' }), /needs the schedule/)
    disposeParams(params)
  })

  it('depends on the timestep and on the prompt; the empty prompt (all pads) is a valid condition', () => {
    const params = initDitParams(config, 1)
    perturbParams(params, 4)
    const { x, t, tokens } = inputs(2, 5)
    const base = ditEps(params, config, x, t, tokens).dataSync()
    const otherT = ditEps(params, config, x, tf.tensor1d([10, 20]), tokens).dataSync()
    const empty = tf.zeros([2, 5], 'int32') as tf.Tensor2D
    const nullCond = ditEps(params, config, x, t, empty).dataSync()
    assert.notDeepEqual(base, otherT)
    assert.notDeepEqual(base, nullCond)
    assert.ok(nullCond.every(Number.isFinite))
    disposeParams(params)
    tf.dispose([x, t, tokens, empty])
  })

  it('each image depends only on its own inputs (no mixing across the batch)', () => {
    const params = initDitParams(config, 1)
    perturbParams(params, 6)
    const { x, t, tokens } = inputs(3, 9)
    const all = ditEps(params, config, x, t, tokens)
    const first = ditEps(params, config, tf.slice(x, 0, 1), tf.slice(t, 0, 1), tf.slice(tokens, 0, 1))
    const diff = tf.max(tf.abs(tf.sub(tf.slice(all, 0, 1), first))).dataSync()[0]!
    assert.ok(diff < 1e-5, `batch mixing: ${diff}`)
    disposeParams(params)
    tf.dispose([x, t, tokens, all, first])
  })

  it('with textTokens the caption tokens join the attention: two more params, the rest initialised as without, no batch mixing, a live path', () => {
    const withTokens: DitConfig = { ...config, textTokens: true }
    const shapes = ditParamShapes(withTokens)
    assert.deepEqual(shapes['tok.w'], [8, 16])
    assert.deepEqual(shapes['tok.b'], [16])
    assert.equal(countParams(withTokens) - countParams(config), 8 * 16 + 16)
    const plain = initDitValues(config, 3)
    const tokenValues = initDitValues(withTokens, 3)
    for (const [name, v] of Object.entries(plain)) assert.deepEqual(tokenValues[name], v, name)

    const params = initDitParams(withTokens, 1)
    perturbParams(params, 7)
    const { x, t, tokens } = inputs(3, 11)
    const all = ditEps(params, withTokens, x, t, tokens)
    assert.deepEqual(all.shape, [3, 8, 8, 3])
    const first = ditEps(params, withTokens, tf.slice(x, 0, 1), tf.slice(t, 0, 1), tf.slice(tokens, 0, 1))
    assert.ok(tf.max(tf.abs(tf.sub(tf.slice(all, 0, 1), first))).dataSync()[0]! < 1e-5, 'no mixing across the batch')
    // the same weights without the token path give another output, and tok.w gets a gradient
    const without = ditEps(params, config, x, t, tokens)
    assert.ok(tf.max(tf.abs(tf.sub(all, without))).dataSync()[0]! > 1e-3)
    const grad = tf.grad((w: tf.Tensor) => tf.sum(ditEps({ ...params, 'tok.w': w as tf.Variable }, withTokens, x, t, tokens)))(params['tok.w']!)
    assert.ok(tf.max(tf.abs(grad)).dataSync()[0]! > 0)
    assert.throws(() => ditParamShapes({ ...config, textTokens: 'yes' as unknown as boolean }), /textTokens must be true or false/)
    disposeParams(params)
    tf.dispose([x, t, tokens, all, first, without, grad])
  })

  it('unpatchify inverts patchify, and a patch holds a contiguous p x p block', () => {
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => i), [2, 8, 8, 3])
    const tokens = patchify(x, 4)
    assert.deepEqual(tokens.shape, [8, 48])
    // token 1 of image 0 = rows 0..3, columns 4..7; its first pixel is (0, 4)
    assert.equal(tokens.arraySync()[1]![0], (0 * 8 + 4) * 3)
    assert.equal(tokens.arraySync()[1]![12], (1 * 8 + 4) * 3)
    assert.deepEqual(unpatchify(tokens, 2, 8, 8, 3, 4).dataSync(), x.dataSync())
    tf.dispose([x, tokens])
  })

  it('refuses bad configs and mismatched inputs with clear errors', () => {
    assert.throws(() => ditParamShapes({ ...config, patch: 3 }), /not divisible by patch/)
    assert.throws(() => ditParamShapes({ ...config, heads: 3 }), /not divisible by heads/)
    assert.throws(() => ditParamShapes({ ...config, depth: 0 }), /depth must be a positive integer/)
    const params = initDitParams(config, 1)
    const { x, t, tokens } = inputs(2, 1)
    assert.throws(() => ditEps(params, config, tf.zeros([2, 16, 16, 3]) as tf.Tensor4D, t, tokens), /config expects 8x8x3/)
    assert.throws(() => ditEps(params, config, x, tf.zeros([3]) as tf.Tensor1D, tokens), /batch sizes differ/)
    assert.throws(() => ditEps(params, config, x, t, tf.zeros([2, 4], 'int32') as tf.Tensor2D), /textLength 5/)
    disposeParams(params)
    tf.dispose([x, t, tokens])
  })
})
