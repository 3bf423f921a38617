// The Bradley-Terry preference head on synthetic choices with a known answer (the 'user' prefers the
// brighter image): held-out accuracy well above chance, the reward ranks brighter images higher and is
// differentiable w.r.t. the images, save/load round-trips, bad input gets clear errors.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { PreferenceModel, preferenceReward, trainBradleyTerry } from '../../src-main/ml/rewards/preference-model.ts'
import type { ImageFeatureExtractor } from '../../src-main/ml/rewards/reward.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

before(async () => {
  await tf.setBackend('cpu')
})

/** per-channel mean and standard deviation: brightness is in there, plus distractors */
const meanStd: ImageFeatureExtractor = {
  name: 'mean-std-rgb',
  dim: 6,
  features: (x) => tf.tidy(() => {
    const { mean, variance } = tf.moments(x, [1, 2])
    return tf.concat([mean, tf.sqrt(tf.add(variance, 1e-6))], 1) as tf.Tensor2D
  }),
}

const SIZE = 8
/** random-coloured noisy images with a random overall brightness */
export function syntheticImages(n: number, seed: number): { pixels: Float32Array; brightness: number[] } {
  const rng = new Rng(seed)
  const pixels = new Float32Array(n * SIZE * SIZE * 3)
  const brightness: number[] = []
  for (let i = 0; i < n; i++) {
    const b = rng.uniform() * 1.4 - 0.7
    const tint = [rng.uniform() - 0.5, rng.uniform() - 0.5, rng.uniform() - 0.5].map((t) => t * 0.4)
    for (let p = 0; p < SIZE * SIZE; p++) {
      for (let c = 0; c < 3; c++) pixels[(i * SIZE * SIZE + p) * 3 + c] = Math.max(-1, Math.min(1, b + tint[c]! + (rng.uniform() - 0.5) * 0.3))
    }
    let sum = 0
    for (let k = i * SIZE * SIZE * 3; k < (i + 1) * SIZE * SIZE * 3; k++) sum += pixels[k]!
    brightness.push(sum / (SIZE * SIZE * 3))
  }
  return { pixels, brightness }
}

function brighterWinsPairs(n: number, seed: number) {
  const { pixels, brightness } = syntheticImages(2 * n, seed)
  const feats = tf.tidy(() => meanStd.features(tf.tensor4d(pixels, [2 * n, SIZE, SIZE, 3])))
  const f = feats.dataSync() as Float32Array
  feats.dispose()
  const winners = new Float32Array(n * 6)
  const losers = new Float32Array(n * 6)
  for (let i = 0; i < n; i++) {
    const [a, b] = [2 * i, 2 * i + 1]
    const [w, l] = brightness[a]! > brightness[b]! ? [a, b] : [b, a]
    winners.set(f.subarray(w * 6, w * 6 + 6), i * 6)
    losers.set(f.subarray(l * 6, l * 6 + 6), i * 6)
  }
  return { winners, losers, count: n, dim: 6 }
}

test('a user who prefers brighter images is learned: held-out accuracy well above chance', () => {
  const before = tf.memory().numTensors
  for (const hidden of [0, 8]) {
    const { model, summary } = trainBradleyTerry(brighterWinsPairs(80, 1), { features: meanStd.name, seed: 2, hidden })
    assert.equal(summary.choices, 80)
    assert.equal(summary.heldOutPairs, 16)
    assert.equal(summary.trainPairs, 64)
    assert.ok(summary.heldOutAccuracy! >= 0.85, `hidden ${hidden}: held-out accuracy ${summary.heldOutAccuracy}`)
    const reward = preferenceReward(model, meanStd)
    const dark = tf.fill([1, SIZE, SIZE, 3], -0.5) as tf.Tensor4D
    const bright = tf.fill([1, SIZE, SIZE, 3], 0.5) as tf.Tensor4D
    const s = tf.tidy(() => reward.score(tf.concat([dark, bright], 0), ['', '']).arraySync() as number[])
    assert.ok(s[1]! > s[0]!, `bright ${s[1]} should beat dark ${s[0]}`)
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(reward.score(x as tf.Tensor4D, ['', ''])))(tf.concat([dark, bright], 0)))
    assert.ok(tf.tidy(() => tf.sum(g).arraySync() as number) > 0, 'the reward gradient points towards brighter pixels')
    tf.dispose([dark, bright, g])
    model.dispose()
  }
  assert.equal(tf.memory().numTensors, before, 'training and scoring leak no tensors')
})

test('random choices stay near chance (the accuracy is not a constant)', () => {
  const pairs = brighterWinsPairs(200, 5)
  const rng = new Rng(9)
  for (let i = 0; i < pairs.count; i++) {
    if (rng.uniform() < 0.5) {
      const w = pairs.winners.slice(i * 6, i * 6 + 6)
      pairs.winners.set(pairs.losers.subarray(i * 6, i * 6 + 6), i * 6)
      pairs.losers.set(w, i * 6)
    }
  }
  const { model, summary } = trainBradleyTerry(pairs, { features: meanStd.name, seed: 2 })
  model.dispose()
  assert.ok(summary.heldOutAccuracy! < 0.75, `coin-flip choices gave held-out accuracy ${summary.heldOutAccuracy}`)
})

test('save/load round trip scores the same; corrupt files and mismatched extractors are refused', async () => {
  const { model, summary } = trainBradleyTerry(brighterWinsPairs(20, 3), { features: meanStd.name, seed: 1 })
  const dir = join(await mkdtemp(join(tmpdir(), 'pref-')), 'model')
  await model.save(dir, summary)
  const loaded = await PreferenceModel.load(dir)
  assert.equal(loaded.config.training?.heldOutAccuracy, summary.heldOutAccuracy)
  const x = tf.randomUniform([3, 6], -1, 1, 'float32', 4) as tf.Tensor2D
  assert.deepEqual(Array.from(loaded.scoreFeatures(x).dataSync()), Array.from(model.scoreFeatures(x).dataSync()))
  assert.throws(() => preferenceReward(loaded, { ...meanStd, dim: 5 }), /trained on 6-dimensional features/)
  // same size, other feature space (e.g. a retrained alignment model): refused, with what to do
  assert.throws(() => preferenceReward(loaded, { ...meanStd, name: 'mean-std-rgb@other-weights' }), /trained on features 'mean-std-rgb'.*retrain/)
  tf.dispose(x)
  model.dispose()
  loaded.dispose()
  const file = join(dir, 'model.safetensors')
  const bytes = await readFile(file)
  bytes[bytes.length - 3] ^= 0x40
  await writeFile(file, bytes)
  await assert.rejects(PreferenceModel.load(dir), /corrupt/)
  assert.throws(() => trainBradleyTerry(brighterWinsPairs(3, 1), { features: 'x' }), /at least 4 choices/)
  const bad = brighterWinsPairs(10, 1)
  bad.winners[0] = NaN
  assert.throws(() => trainBradleyTerry(bad, { features: 'x' }), /NaN/)
})
