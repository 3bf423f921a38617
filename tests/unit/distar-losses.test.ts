// Small known-answer checks of the DI* building blocks: the noise draw, the one-step generator formula,
// CFG, the pseudo-Huber constant and the values (not just gradients) of the losses.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs' // registers every gradient (tfjs-core's CommonJS entry has none)
import {
  cfgEps, cfgImplicitReward, constantOf, diffuse, drawNoise, fakeScoreLoss, generatorSample, klRegulariser,
  pseudoHuberConstant, rewardLoss, scoreRegulariser, stopGradient,
} from '../../src-main/ml/distar/losses.ts'
import { linearVpTables } from '../../src-main/ml/distar/toy-models.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

before(async () => {
  await tf.setBackend('cpu')
})

const S = linearVpTables()
const close = (a: number, b: number, tol = 1e-5) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b))

test('drawNoise: t inside the range, alpha and sigma of that t, standard normal noise, reproducible', () => {
  const draw = () => drawNoise(new Rng(3), S, [4000, 1, 1, 2], [100, 200])
  const a = draw()
  const t = a.t.dataSync() as Float32Array, al = a.alpha.dataSync(), sg = a.sigma.dataSync(), e = a.eps.dataSync() as Float32Array
  for (let i = 0; i < t.length; i++) {
    assert.ok(Number.isInteger(t[i]) && t[i]! >= 100 && t[i]! <= 200)
    assert.ok(close(al[i]!, S.alphas[t[i]!]!) && close(sg[i]!, S.sigmas[t[i]!]!))
  }
  assert.ok(t.includes(100) && t.includes(200), 'both ends of the range are drawn')
  const mean = e.reduce((s, v) => s + v, 0) / e.length
  const variance = e.reduce((s, v) => s + (v - mean) ** 2, 0) / e.length
  assert.ok(Math.abs(mean) < 0.05 && Math.abs(variance - 1) < 0.05, `noise mean ${mean}, variance ${variance}`)
  const b = draw()
  assert.deepEqual(b.eps.dataSync(), a.eps.dataSync())
  tf.dispose([a.t, a.alpha, a.sigma, a.eps, b.t, b.alpha, b.sigma, b.eps])
})

test('generatorSample is (z - sigma_tinit * eps(z, t_init)) / alpha_tinit, fed t_init', () => {
  const seen: number[] = []
  const generator = {
    params: {},
    eps: (_p: unknown, x: tf.Tensor4D, t: tf.Tensor1D) => { seen.push(...t.dataSync()); return tf.mul(tf.onesLike(x), 0.5) as tf.Tensor4D },
  }
  const z = tf.tensor4d([1, -2, 3, 0.25], [2, 1, 1, 2])
  const x0 = generatorSample(generator, z, tf.zeros([2, 1]), S, 399)
  const want = [1, -2, 3, 0.25].map((v) => (v - S.sigmas[399]! * 0.5) / S.alphas[399]!)
  x0.dataSync().forEach((v, i) => assert.ok(close(v, want[i]!), `${v} vs ${want[i]}`))
  assert.deepEqual(seen, [399, 399])
  assert.throws(() => generatorSample({ params: {}, eps: () => tf.zeros([2, 1, 1, 3]) as tf.Tensor4D }, z, tf.zeros([2, 1]), S, 399), /generator eps network output has shape \[2, 1, 1, 3\], expected \[2, 1, 1, 2\]/)
  assert.throws(() => generatorSample(generator, z, tf.zeros([2, 1]), S, 1000), /t_init/)
})

test('cfgEps, pseudo-Huber constant, diffuse', () => {
  const u = tf.tensor4d([1, 2], [1, 1, 1, 2]), c = tf.tensor4d([3, 0], [1, 1, 1, 2])
  assert.deepEqual(Array.from(cfgEps(u, c, 1).dataSync()), [3, 0])
  assert.deepEqual(Array.from(cfgEps(u, c, 0).dataSync()), [1, 2])
  assert.deepEqual(Array.from(cfgEps(u, c, 3).dataSync()), [7, -4])
  assert.ok(close(pseudoHuberConstant(0.5, [32, 32, 3]), 0.5 * Math.sqrt(3072)))
  const noise = { t: tf.tensor1d([7]), alpha: tf.fill([1, 1, 1, 1], 0.6) as tf.Tensor4D, sigma: tf.fill([1, 1, 1, 1], 0.8) as tf.Tensor4D, eps: c }
  diffuse(u, noise).dataSync().forEach((v, i) => assert.ok(close(v, [0.6 * 1 + 0.8 * 3, 0.6 * 2][i]!)))
})

test('loss values on hand-computed examples', () => {
  // one sample, 2 dims: Δ = eFake - eRef = (3, 4), |Δ| = 5; eFake - eps = (1, 1)
  const eFake = tf.tensor4d([3, 4], [1, 1, 1, 2]), eRef = tf.tensor4d([0, 0], [1, 1, 1, 2]), eps = tf.tensor4d([2, 3], [1, 1, 1, 2])
  const C = 12 // sqrt(25 + 144) = 13
  assert.ok(close(scoreRegulariser(eFake, eRef, eps, C, false).dataSync()[0]!, -(3 + 4) / 13))
  assert.ok(close(scoreRegulariser(eFake, eRef, eps, C, true).dataSync()[0]!, -(3 + 4) / 13 + (13 - 12)))
  const xt = tf.tensor4d([1, -1], [1, 1, 1, 2])
  assert.ok(close(klRegulariser(eFake, eRef, xt).dataSync()[0]!, -(3 - 4)))
  assert.ok(close(cfgImplicitReward(eFake, eRef, xt, 3).dataSync()[0]!, 2 * (3 - 4)))
  assert.ok(close(fakeScoreLoss(eFake, eps).dataSync()[0]!, 1))
  assert.ok(close(rewardLoss([tf.scalar(2), tf.scalar(-1)], [1, 0.5], 4).dataSync()[0]!, -4 * (2 - 0.5)))
})

test('stopGradient and constantOf pass values and block gradients', () => {
  const x = tf.tensor1d([1, 2, 3])
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.add(tf.mul(v, 2), stopGradient(tf.square(v)))))(x)
  assert.deepEqual(Array.from(g.dataSync()), [2, 2, 2])
  const h = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(constantOf(v, (u) => tf.square(u)), v)))(x)
  assert.deepEqual(Array.from(h.dataSync()), [1, 4, 9]) // d/dv [sg(v²) v] = v²
})
