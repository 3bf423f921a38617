// Image rewards: known answers on constructed images, and gradients against finite differences.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import {
  brightnessReward,
  colourfulnessReward,
  contrastReward,
  targetColourReward,
} from '../../src-main/ml/rewards/image-rewards.ts'
import { weightedSum, rewardParts, RewardInputError, type Reward } from '../../src-main/ml/rewards/reward.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { initTf } from '../../src-main/ml/backend/init.ts'

before(async () => {
  // The backend that trains (wasm here): the gradients DI* will see are the ones checked.
  await initTf()
})

/** An image batch from per-pixel RGB values in [0, 1] (converted to the [-1, 1] convention). */
function imagesFromUnitRgb(batch: number[][][][]): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.mul(tf.tensor4d(batch), 2), 1) as tf.Tensor4D)
}

function flatImage(size: number, rgb: [number, number, number]): number[][][] {
  return Array.from({ length: size }, () => Array.from({ length: size }, () => [...rgb]))
}

/** Left half one colour, right half another. */
function splitImage(size: number, left: [number, number, number], right: [number, number, number]): number[][][] {
  return Array.from({ length: size }, () => Array.from({ length: size }, (_, x) => [...(x < size / 2 ? left : right)]))
}

function scores(reward: Reward, images: tf.Tensor4D): number[] {
  const s = reward.score(images, Array.from({ length: images.shape[0] }, () => 'a prompt'))
  assert.deepEqual(s.shape, [images.shape[0]], `${reward.name} must return one score per image`)
  assert.equal(s.dtype, 'float32')
  const out = Array.from(s.dataSync())
  s.dispose()
  return out
}

const BLACK: [number, number, number] = [0, 0, 0]
const WHITE: [number, number, number] = [1, 1, 1]
const GREY: [number, number, number] = [0.5, 0.5, 0.5]
const RED: [number, number, number] = [1, 0, 0]

test('brightness: black 0, grey 0.5, white 1', () => {
  const imgs = imagesFromUnitRgb([flatImage(4, BLACK), flatImage(4, GREY), flatImage(4, WHITE)])
  const [b, g, w] = scores(brightnessReward(), imgs)
  assert.ok(Math.abs(b!) < 1e-5)
  assert.ok(Math.abs(g! - 0.5) < 1e-5)
  assert.ok(Math.abs(w! - 1) < 1e-5)
  imgs.dispose()
})

test('contrast: flat images ~0, black|white split scores 1, grey|white in between', () => {
  const imgs = imagesFromUnitRgb([flatImage(4, GREY), splitImage(4, BLACK, WHITE), splitImage(4, GREY, WHITE)])
  const [flat, full, half] = scores(contrastReward(), imgs)
  assert.ok(flat! < 1e-3, `flat image contrast ${flat}`)
  assert.ok(Math.abs(full! - 1) < 1e-4, `black|white contrast ${full}`)
  assert.ok(Math.abs(half! - 0.5) < 1e-4, `grey|white contrast ${half}`)
  imgs.dispose()
})

test('colourfulness: any grey image ~0, pure red matches Hasler-Suesstrunk, colours beat greys', () => {
  const imgs = imagesFromUnitRgb([
    flatImage(4, GREY),
    splitImage(4, BLACK, WHITE),
    flatImage(4, RED),
    splitImage(4, [0, 1, 0], [1, 0, 1]),
  ])
  const [grey, blackWhite, red, greenMagenta] = scores(colourfulnessReward(), imgs)
  assert.ok(grey! < 1e-3, `grey colourfulness ${grey}`)
  assert.ok(blackWhite! < 1e-3, `black|white colourfulness ${blackWhite}`)
  // rg = 1, yb = 0.5, no spread: 0.3 * sqrt(1.25)
  assert.ok(Math.abs(red! - 0.3 * Math.sqrt(1.25)) < 1e-3, `red colourfulness ${red}`)
  // rg = -1|1, yb = 0.5|-0.5: std sqrt(1 + 0.25), mean 0
  assert.ok(Math.abs(greenMagenta! - Math.sqrt(1.25)) < 1e-3, `green|magenta colourfulness ${greenMagenta}`)
  imgs.dispose()
})

test('target colour: exact colour scores 1, the opposite corner of the cube scores 0', () => {
  const imgs = imagesFromUnitRgb([flatImage(4, RED), flatImage(4, [0, 1, 1]), flatImage(4, [1, 0.5, 0])])
  const [exact, opposite, near] = scores(targetColourReward([255, 0, 0]), imgs)
  assert.ok(Math.abs(exact! - 1) < 1e-5)
  assert.ok(Math.abs(opposite!) < 1e-5)
  assert.ok(Math.abs(near! - (1 - 0.25 / 3)) < 1e-5)
  imgs.dispose()
})

test('weightedSum adds weighted parts per image', () => {
  const imgs = imagesFromUnitRgb([flatImage(4, WHITE), splitImage(4, BLACK, WHITE)])
  const combined = weightedSum([
    { reward: brightnessReward(), weight: 2 },
    { reward: contrastReward(), weight: -1 },
  ])
  const [white, split] = scores(combined, imgs)
  assert.ok(Math.abs(white! - 2) < 1e-3)
  assert.ok(Math.abs(split! - (2 * 0.5 - 1)) < 1e-3)
  assert.match(combined.name, /brightness/)
  imgs.dispose()
})

test('rewardParts flattens nested sums with multiplied weights', () => {
  const brightness = brightnessReward()
  const contrast = contrastReward()
  const nested = weightedSum([
    { reward: brightness, weight: 2 },
    { reward: weightedSum([{ reward: contrast, weight: -0.5 }]), weight: 3 },
  ])
  const parts = rewardParts(nested)
  assert.deepEqual(parts.map((p) => [p.reward, p.weight]), [[brightness, 2], [contrast, -1.5]])
  assert.deepEqual(rewardParts(brightness), [{ reward: brightness, weight: 1 }])
})

test('bad input gets a clear RewardInputError', () => {
  const rgba = tf.zeros([1, 4, 4, 4]) as tf.Tensor4D
  const rgb = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D
  assert.throws(() => brightnessReward().score(rgba, ['x']), RewardInputError)
  assert.throws(() => brightnessReward().score(rgb, ['only one prompt']), /one prompt per image/)
  assert.throws(() => targetColourReward([300, 0, 0]), RewardInputError)
  assert.throws(() => weightedSum([{ reward: contrastReward(), weight: Number.NaN }]), /not finite/)
  assert.throws(() => weightedSum([]), RewardInputError)
  rgba.dispose()
  rgb.dispose()
})

/**
 * Compares tf.grad of sum_i c_i r(x)_i (random c, so per-image gradients cannot mix unnoticed)
 * with central finite differences on a few random coordinates.
 */
function checkGradient(reward: Reward, seed: number): void {
  const rng = new Rng(seed)
  const batch = 2
  const size = 4
  const n = batch * size * size * 3
  // Stay inside (-1, 1) and away from flat images, where sqrt terms are steep.
  const x0 = Float32Array.from({ length: n }, () => rng.uniform() * 1.6 - 0.8)
  const coeffs = tf.tensor1d([rng.normal(), rng.normal()])
  const prompts = ['a', 'b']
  const f = (x: tf.Tensor4D): tf.Scalar => tf.sum(tf.mul(reward.score(x, prompts), coeffs))
  const x = tf.tensor4d(x0, [batch, size, size, 3])
  const g = tf.grad(f as (t: tf.Tensor) => tf.Tensor)(x)
  const analytic = g.dataSync()
  const h = 1e-2
  for (let k = 0; k < 12; k++) {
    const i = rng.int(0, n - 1)
    const plus = Float32Array.from(x0)
    const minus = Float32Array.from(x0)
    plus[i]! += h
    minus[i]! -= h
    const fp = tf.tidy(() => f(tf.tensor4d(plus, x.shape)).dataSync()[0]!)
    const fm = tf.tidy(() => f(tf.tensor4d(minus, x.shape)).dataSync()[0]!)
    const numeric = (fp - fm) / (2 * h)
    const err = Math.abs(numeric - analytic[i]!)
    assert.ok(err < 2e-3 + 2e-2 * Math.abs(numeric), `${reward.name} coordinate ${i}: analytic ${analytic[i]} vs numeric ${numeric}`)
  }
  tf.dispose([x, g, coeffs])
}

test('gradients match finite differences', () => {
  checkGradient(brightnessReward(), 1)
  checkGradient(contrastReward(), 2)
  checkGradient(colourfulnessReward(), 3)
  checkGradient(targetColourReward([30, 200, 90]), 4)
  checkGradient(weightedSum([{ reward: colourfulnessReward(), weight: 0.5 }, { reward: contrastReward(), weight: 2 }]), 5)
})

test('scoring leaks no tensors', () => {
  const imgs = tf.randomUniform([2, 8, 8, 3], -1, 1) as tf.Tensor4D
  const reward = weightedSum([
    { reward: colourfulnessReward(), weight: 1 },
    { reward: targetColourReward([0, 0, 255]), weight: 1 },
  ])
  reward.score(imgs, ['a', 'b']).dispose()
  const before = tf.memory().numTensors
  for (let i = 0; i < 3; i++) reward.score(imgs, ['a', 'b']).dispose()
  assert.equal(tf.memory().numTensors, before)
  imgs.dispose()
})
