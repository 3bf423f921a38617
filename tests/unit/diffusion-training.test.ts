// Denoising training on a tiny DiT: the loss falls when overfitting a handful of images, the tensor
// count stays flat across steps, the EMA follows the weights, and state export/import is exact.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditEps, disposeParams, initDitParams, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { VpSchedule } from '../../src-main/ml/diffusion/schedule.ts'
import { DenoisingTrainer, DEFAULT_TRAIN_HYPER, drawNoise, learningRateAt, minSnrWeights, type NoisedBatch } from '../../src-main/ml/diffusion/training.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

const config: DitConfig = { imageSize: 8, channels: 3, patch: 4, width: 32, depth: 1, heads: 2, mlpRatio: 2, vocabSize: 10, textLength: 4, textWidth: 16 }
const schedule = new VpSchedule()
const IMAGES = 4
const PIXELS = 8 * 8 * 3

/** Four fixed images (flat colours with a bright square) and a caption id per image. */
function dataset(): { x0: Float32Array; tokens: Int32Array } {
  const x0 = new Float32Array(IMAGES * PIXELS)
  for (let i = 0; i < IMAGES; i++) {
    for (let p = 0; p < 64; p++) {
      const inSquare = (p % 8) >= 2 * i % 8 && (p % 8) < 2 * i % 8 + 3 && Math.floor(p / 8) < 4
      for (let c = 0; c < 3; c++) x0[i * PIXELS + p * 3 + c] = inSquare ? 0.9 : (c === i % 3 ? 0.5 : -0.6)
    }
  }
  const tokens = new Int32Array(IMAGES * 4)
  for (let i = 0; i < IMAGES; i++) tokens[i * 4] = i + 1
  return { x0, tokens }
}

function makeTrainer(seed: number, hyper = {}) {
  const params = initDitParams(config, seed)
  const trainer = new DenoisingTrainer(
    (p, x, t, cond) => ditEps(p, config, x, t, cond as tf.Tensor2D), params, schedule,
    { ...DEFAULT_TRAIN_HYPER, learningRate: 3e-3, warmupSteps: 5, totalSteps: 200, ...hyper }, (b) => [b, 4],
  )
  return { params, trainer }
}

function batchAt(step: number, data: { x0: Float32Array; tokens: Int32Array }): NoisedBatch {
  const rng = new Rng(1000 + step)
  const { t, noise } = drawNoise(rng, schedule, IMAGES, PIXELS)
  return { x0: data.x0, t, noise, cond: data.tokens }
}

describe('denoising trainer', () => {
  before(async () => { await initTf() })

  it('the denoising loss falls on a tiny overfit run (4 images)', async () => {
    const data = dataset()
    const { params, trainer } = makeTrainer(1)
    // A fixed evaluation batch (same t and noise every time) measures the loss without sampling noise.
    const evalBatch = batchAt(999_999, data)
    const evalLoss = () => trainer.evaluateLoss(evalBatch, [8, 8, 3])
    const before = await evalLoss()
    for (let step = 0; step < 200; step++) await trainer.trainStep(batchAt(step, data), [8, 8, 3])
    const after = await evalLoss()
    assert.ok(after < 0.7 * before, `loss ${before} -> ${after}`)
    trainer.dispose()
    disposeParams(params)
  })

  it('keeps the tensor count flat across training steps', async () => {
    const data = dataset()
    const { params, trainer } = makeTrainer(2)
    await trainer.trainStep(batchAt(0, data), [8, 8, 3]) // burn-in (first-use caches)
    const count = tf.memory().numTensors
    for (let step = 1; step < 6; step++) await trainer.trainStep(batchAt(step, data), [8, 8, 3])
    assert.equal(tf.memory().numTensors, count)
    trainer.dispose()
    disposeParams(params)
  })

  it('creating and disposing a model and its trainer leaves no tensors behind', () => {
    const before = tf.memory().numTensors
    const { params, trainer } = makeTrainer(4)
    trainer.dispose()
    disposeParams(params)
    assert.equal(tf.memory().numTensors, before)
  })

  it('EMA weights trail the trained weights; export/import of the state is exact and replays identically', async () => {
    const data = dataset()
    const a = makeTrainer(3)
    for (let step = 0; step < 3; step++) await a.trainer.trainStep(batchAt(step, data), [8, 8, 3])
    const state = await a.trainer.exportState()
    const w = state['param/blocks.0.q.w']!, e = state['ema/blocks.0.q.w']!
    assert.notDeepEqual(w, e)
    const b = makeTrainer(99) // different init, overwritten by the imported state
    b.trainer.importState(state, a.trainer.step)
    const ra = await a.trainer.trainStep(batchAt(3, data), [8, 8, 3])
    const rb = await b.trainer.trainStep(batchAt(3, data), [8, 8, 3])
    assert.equal(ra.loss, rb.loss)
    assert.deepEqual(await a.trainer.exportState(), await b.trainer.exportState())
    for (const x of [a, b]) { x.trainer.dispose(); disposeParams(x.params) }
  })

  it('min-SNR weights are min(SNR, gamma) / SNR: 1 at high noise, small at low noise, all 1 when off', () => {
    const t = Int32Array.from([0, 100, 500, 999])
    const w = minSnrWeights(schedule, t, 5)
    const snr = (ti: number) => schedule.alphaBar(ti) / (1 - schedule.alphaBar(ti))
    assert.ok(Math.abs(w[0]! - 5 / snr(0)) < 1e-6 && w[0]! < 0.01)
    assert.ok(Math.abs(w[1]! - Math.fround(5 / snr(100))) < 1e-6)
    assert.equal(w[2], 1)
    assert.equal(w[3], 1)
    assert.deepEqual(minSnrWeights(schedule, t, 0), new Float32Array([1, 1, 1, 1]))
  })

  it('a min-SNR floor raises the high-noise weights to floor / SNR and leaves the rest alone', () => {
    const t = Int32Array.from([0, 100, 500, 700, 950])
    const snr = (ti: number) => schedule.alphaBar(ti) / (1 - schedule.alphaBar(ti))
    const plain = minSnrWeights(schedule, t, 5)
    const floored = minSnrWeights(schedule, t, 5, 1)
    assert.equal(floored[0], plain[0]) // low noise: still min-SNR-5
    assert.equal(floored[1], plain[1])
    assert.ok(snr(950) < 0.01 && Math.abs(floored[4]! - Math.fround(1 / snr(950))) / floored[4]! < 1e-5)
    assert.ok(floored[4]! > 100 && plain[4] === 1)
    assert.ok(snr(700) < 1 && Math.abs(floored[3]! - Math.fround(1 / snr(700))) < 1e-4)
    // floor alone (no upper clamp) leaves high-SNR samples at weight 1
    assert.equal(minSnrWeights(schedule, t, 0, 1)[0], 1)
  })

  it('warms the learning rate up, then decays it by a cosine to the floor', () => {
    const h = { ...DEFAULT_TRAIN_HYPER, learningRate: 1e-3, warmupSteps: 10, totalSteps: 110, minLrFraction: 0.1 }
    assert.ok(Math.abs(learningRateAt(h, 0) - 1e-4) < 1e-12)
    assert.ok(Math.abs(learningRateAt(h, 9) - 1e-3) < 1e-12)
    assert.ok(Math.abs(learningRateAt(h, 60) - 0.55e-3) < 1e-12)
    assert.ok(Math.abs(learningRateAt(h, 110) - 1e-4) < 1e-12)
    assert.ok(learningRateAt(h, 30) > learningRateAt(h, 31))
  })
})
