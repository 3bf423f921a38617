// Alignment model: shapes, patch layout, loss maths, differentiability, a tiny overfit, save/load.
// Runs on a tiny architecture (8x8 images) so the whole file takes seconds.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { saveCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import type { EmojiSplit } from '../../src-main/ml/data/emoji-dataset.ts'
import { AlignmentModel, patchify, bagOfWords, type AlignmentArchitecture } from '../../src-main/ml/rewards/alignment-model.ts'
import {
  AlignmentTrainer,
  captionMatchTargets,
  captionRetrieval,
  sampleContrastiveBatch,
  symmetricInfoNce,
} from '../../src-main/ml/rewards/alignment-training.ts'
import { alignmentImageFeatures, alignmentReward } from '../../src-main/ml/rewards/alignment-reward.ts'

const CAPTIONS = ['red apple', 'green apple', 'blue heart', 'yellow star', 'black cat', 'white dog', 'grinning face', 'red heart']
const TINY: Partial<AlignmentArchitecture> = {
  imageSize: 8,
  patchSize: 4,
  imageWidth: 16,
  imageBlocks: 1,
  tokenMixHidden: 8,
  channelMixHidden: 32,
  textWidth: 16,
  textBlocks: 1,
  textHidden: 32,
  embedDim: 8,
}

let dir: string
before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'rewards-alignment-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

function tinyModel(seed = 1): AlignmentModel {
  return AlignmentModel.create(Tokenizer.build(CAPTIONS, { maxLength: 6 }), seed, TINY)
}

/** A fake split: one distinct random image per caption. */
function tinySplit(seed: number): EmojiSplit {
  const rng = new Rng(seed)
  const size = 8
  const images = Float32Array.from({ length: CAPTIONS.length * size * size * 3 }, () => rng.uniform() * 2 - 1)
  const items = CAPTIONS.map((c, i) => ({
    key: `k${i}`,
    name: c,
    style: 'twitter' as const,
    category: 'test',
    captions: [c],
    canonicalCaption: c,
  }))
  return { imageSize: size, images, items } as unknown as EmojiSplit
}

test('patchify puts each p x p patch, row-major, in one row', () => {
  const B = 2
  const H = 8
  const p = 4
  const values = Float32Array.from({ length: B * H * H * 3 }, (_, i) => i)
  const rows = patchify(tf.tensor4d(values, [B, H, H, 3]), p)
  assert.deepEqual(rows.shape, [B * 4, p * p * 3])
  const got = rows.arraySync()
  for (let b = 0; b < B; b++)
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++)
        for (let r = 0; r < p; r++)
          for (let s = 0; s < p; s++)
            for (let c = 0; c < 3; c++) {
              const expected = values[((b * H + i * p + r) * H + j * p + s) * 3 + c]
              assert.equal(got[b * 4 + i * 2 + j]![(r * p + s) * 3 + c], expected)
            }
  rows.dispose()
})

test('bag of words averages word counts, ignores padding, keeps the empty prompt at zero', () => {
  const model = tinyModel()
  const a = model.architecture
  const ids = model.tokenizer.encodeBatch(['red red apple', ''])
  const bag = bagOfWords(ids, 2, a)
  const red = model.tokenizer.wordId('red')!
  const apple = model.tokenizer.wordId('apple')!
  assert.ok(Math.abs(bag[red]! - 2 / 3) < 1e-6)
  assert.ok(Math.abs(bag[apple]! - 1 / 3) < 1e-6)
  assert.equal(bag.slice(a.vocabSize).reduce((s, v) => s + v, 0), 0)
  model.dispose()
})

test('embeddings are unit vectors of the right shape; scores are 100 x cosine', () => {
  const model = tinyModel()
  const images = tf.randomUniform([3, 8, 8, 3], -1, 1, 'float32', 3) as tf.Tensor4D
  // Unknown words and the empty prompt must not crash.
  const prompts = ['red apple', 'zebra unicorn never seen', '']
  const img = model.embedImages(images)
  const txt = model.embedTexts(prompts)
  assert.deepEqual(img.shape, [3, 8])
  assert.deepEqual(txt.shape, [3, 8])
  for (const norm of tf.norm(img, 2, 1).arraySync() as number[]) assert.ok(Math.abs(norm - 1) < 1e-4)
  for (const norm of tf.norm(txt, 2, 1).arraySync() as number[]) assert.ok(Math.abs(norm - 1) < 1e-4)
  const scores = model.score(images, prompts)
  const cos = tf.sum(tf.mul(img, txt), 1).arraySync() as number[]
  ;(scores.arraySync() as number[]).forEach((s, i) => assert.ok(Math.abs(s - 100 * cos[i]!) < 1e-3))
  const features = alignmentImageFeatures(model)
  assert.equal(features.dim, 8)
  assert.deepEqual(features.features(images).shape, [3, 8])
  assert.throws(() => model.score(images, ['one prompt']), /3 images but 1 prompts/)
  assert.throws(() => model.embedImages(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D), /expected images \[B, 8, 8, 3\]/)
  tf.dispose([images, img, txt, scores])
  model.dispose()
})

test('the alignment reward is differentiable w.r.t. the images (finite differences)', () => {
  const model = tinyModel(5)
  const reward = alignmentReward(model)
  const rng = new Rng(11)
  const shape: [number, number, number, number] = [2, 8, 8, 3]
  const x0 = Float32Array.from({ length: 2 * 8 * 8 * 3 }, () => rng.uniform() * 1.6 - 0.8)
  const prompts = ['red apple', 'black cat']
  const f = (x: tf.Tensor) => tf.sum(reward.score(x as tf.Tensor4D, prompts))
  const g = tf.grad(f)(tf.tensor4d(x0, shape))
  const analytic = g.dataSync()
  assert.ok(analytic.every(Number.isFinite))
  assert.ok(analytic.some((v) => Math.abs(v) > 1e-4), 'gradient is all zero')
  const h = 1e-2
  let checked = 0
  for (let k = 0; k < 30 && checked < 8; k++) {
    const i = rng.int(0, x0.length - 1)
    if (Math.abs(analytic[i]!) < 0.05) continue // float32 noise dominates tiny components
    const plus = Float32Array.from(x0)
    const minus = Float32Array.from(x0)
    plus[i]! += h
    minus[i]! -= h
    const fp = tf.tidy(() => f(tf.tensor4d(plus, shape)).dataSync()[0]!)
    const fm = tf.tidy(() => f(tf.tensor4d(minus, shape)).dataSync()[0]!)
    const numeric = (fp - fm) / (2 * h)
    assert.ok(Math.abs(numeric - analytic[i]!) < 0.02 + 0.05 * Math.abs(numeric), `coordinate ${i}: analytic ${analytic[i]} vs numeric ${numeric}`)
    checked++
  }
  assert.ok(checked >= 3, `only ${checked} coordinates had a gradient large enough to check`)
  g.dispose()
  model.dispose()
})

test('symmetric InfoNCE matches the closed form and treats repeated captions as positives', () => {
  // Embeddings equal to the one-hot basis: logits = s * I, so each row's CE is -log(e^s / (e^s + B - 1)).
  const B = 4
  const s = 3
  const eye = tf.eye(B) as tf.Tensor2D
  const targets = tf.tensor2d(captionMatchTargets(['a', 'b', 'c', 'd']), [B, B])
  const loss = symmetricInfoNce(eye, eye, tf.scalar(s), targets).dataSync()[0]!
  assert.ok(Math.abs(loss - -Math.log(Math.exp(s) / (Math.exp(s) + B - 1))) < 1e-5)
  const dup = captionMatchTargets(['a', 'b', 'a'])
  assert.deepEqual(Array.from(dup), [0.5, 0, 0.5, 0, 1, 0, 0.5, 0, 0.5])
  tf.dispose([eye, targets])
})

test('contrastive batches hold distinct images with one of their captions', () => {
  const split = tinySplit(1)
  const batch = sampleContrastiveBatch(split, new Rng(2), 8)
  assert.equal(new Set(batch.indices).size, 8)
  batch.indices.forEach((idx, b) => assert.ok(split.items[idx]!.captions.includes(batch.captions[b]!)))
  assert.throws(() => sampleContrastiveBatch(split, new Rng(2), 9), /exceeds/)
  assert.throws(() => sampleContrastiveBatch(split, new Rng(2), 1), /batch size/)
})

test('training overfits a tiny set: loss falls, retrieval becomes perfect, tensor count stays flat', () => {
  const model = tinyModel(3)
  const split = tinySplit(4)
  const trainer = new AlignmentTrainer(model, { batchSize: 8, learningRate: 1e-2, warmupSteps: 2, totalSteps: 60 })
  const rng = new Rng(9)
  const first = trainer.trainStep(sampleContrastiveBatch(split, rng, 8))
  const tensorsAfterFirst = tf.memory().numTensors
  let last = first
  for (let i = 1; i < 60; i++) last = trainer.trainStep(sampleContrastiveBatch(split, rng, 8))
  assert.equal(tf.memory().numTensors, tensorsAfterFirst, 'tensor count grew across training steps')
  assert.ok(last < first * 0.3, `loss ${first} -> ${last}`)
  const retrieval = captionRetrieval(model, split)
  assert.equal(retrieval.candidates, 8)
  assert.equal(retrieval.top1, 1)
  trainer.dispose()
  model.dispose()
})

test('save/load round trip is bit-exact and scores identically; bad checkpoints are refused clearly', async () => {
  const model = tinyModel(7)
  const modelDir = join(dir, 'model')
  await model.save(modelDir, { steps: 1, batchSize: 8, wallTimeSeconds: 1, finalLoss: 2, backend: 'wasm', seed: 7, metrics: { validationTop1: 0.5 } })
  const loaded = await AlignmentModel.load(modelDir)
  assert.deepEqual(loaded.architecture, model.architecture)
  assert.deepEqual(loaded.tokenizer.toJSON(), model.tokenizer.toJSON())
  assert.equal(loaded.training?.metrics.validationTop1, 0.5)
  for (const [name, v] of Object.entries(model.params)) {
    assert.deepEqual(loaded.params[name]!.dataSync(), v.dataSync(), name)
  }
  const images = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 1) as tf.Tensor4D
  assert.deepEqual(loaded.score(images, ['red apple', 'cat']).dataSync(), model.score(images, ['red apple', 'cat']).dataSync())
  images.dispose()

  const other = join(dir, 'not-alignment')
  await saveCheckpoint(other, { config: { kind: 'something-else' }, tensors: {} })
  await assert.rejects(AlignmentModel.load(other), /not an alignment model checkpoint/)
  await assert.rejects(AlignmentModel.load(join(dir, 'missing')), Error)
  model.dispose()
  loaded.dispose()
})

test('a step count fixed during warm-up gives the schedule of that fixed count; later changes are refused', () => {
  const model = tinyModel(2)
  const fixed = new AlignmentTrainer(model, { batchSize: 8, learningRate: 1e-2, warmupSteps: 3, totalSteps: 50 })
  const chosenLater = new AlignmentTrainer(model, { batchSize: 8, learningRate: 1e-2, warmupSteps: 3, totalSteps: 400 })
  const rng = new Rng(1)
  const split = tinySplit(1)
  for (let i = 0; i < 3; i++) chosenLater.trainStep(sampleContrastiveBatch(split, rng, 8))
  chosenLater.setTotalSteps(50)
  for (let step = 0; step < 60; step++) assert.equal(chosenLater.learningRateAt(step), fixed.learningRateAt(step), `step ${step}`)
  chosenLater.trainStep(sampleContrastiveBatch(split, rng, 8))
  assert.throws(() => chosenLater.setTotalSteps(60), /only change during warm-up/)
  fixed.dispose()
  chosenLater.dispose()
  model.dispose()
})
