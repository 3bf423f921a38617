// Alignment model text features: hashed character n-grams (fastText-style) give words never seen in
// training an embedding of their own, built from pieces they share with seen words; and the
// checkpoint format version that introduced them refuses older files clearly.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { saveCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import {
  ALIGNMENT_MODEL_KIND,
  ALIGNMENT_MODEL_VERSION,
  AlignmentModel,
  bagOfNgrams,
  ngramBucket,
  wordNgrams,
  type AlignmentArchitecture,
} from '../../src-main/ml/rewards/alignment-model.ts'
import { AlignmentTrainer } from '../../src-main/ml/rewards/alignment-training.ts'

const CAPTIONS = ['red apple', 'paperclip', 'blue heart', 'black cat']
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
  ngramBuckets: 512,
}

let dir: string
before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'rewards-alignment-ngrams-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

function tinyModel(overrides: Partial<AlignmentArchitecture> = {}, seed = 1): AlignmentModel {
  return AlignmentModel.create(Tokenizer.build(CAPTIONS, { maxLength: 6 }), seed, { ...TINY, ...overrides })
}

function row(bag: Float32Array, b: number, n: number): Float32Array {
  return bag.subarray(b * n, (b + 1) * n)
}

test('word n-grams are the 3..5-character pieces of <word>, boundaries included', () => {
  assert.deepEqual(wordNgrams('cat', 3, 5), ['<ca', 'cat', 'at>', '<cat', 'cat>', '<cat>'])
  // A word too short for the smallest n-gram has none; accents were already removed by the tokenizer's split.
  assert.deepEqual(wordNgrams('a', 4, 5), [])
  assert.deepEqual(wordNgrams('a', 3, 3), ['<a>'])
})

test('the n-gram bag spreads each word evenly over its n-grams and sums to 1 per prompt', () => {
  const model = tinyModel()
  const a = model.architecture
  const N = a.ngramBuckets
  const bag = bagOfNgrams(['red apple', '', 'paperclips never seen'], a)
  assert.equal(bag.length, 3 * N)
  const sum = (r: Float32Array) => r.reduce((s, v) => s + v, 0)
  assert.ok(Math.abs(sum(row(bag, 0, N)) - 1) < 1e-5)
  assert.equal(sum(row(bag, 1, N)), 0, 'the empty prompt has no n-grams')
  assert.ok(Math.abs(sum(row(bag, 2, N)) - 1) < 1e-5, 'unknown words get n-gram features too')
  // 'red' has 6 n-grams and is one of 2 words: each of its buckets gets at least 1 / 12.
  for (const g of wordNgrams('red', 3, 5)) assert.ok(bag[ngramBucket(g, N)]! >= 1 / 12 - 1e-6, g)
  // No n-gram buckets at all when the architecture has none.
  assert.equal(bagOfNgrams(['red apple'], { ...a, ngramBuckets: 0 }).length, 0)
  model.dispose()
})

test('an unseen word shares n-gram buckets with a seen word it resembles', () => {
  const model = tinyModel()
  const N = model.architecture.ngramBuckets
  const seen = new Set(wordNgrams('paperclip', 3, 5).map((g) => ngramBucket(g, N)))
  const unseen = wordNgrams('paperclips', 3, 5).map((g) => ngramBucket(g, N))
  const shared = unseen.filter((b) => seen.has(b)).length
  assert.ok(shared >= unseen.length / 2, `only ${shared} of ${unseen.length} buckets shared`)
  model.dispose()
})

test('unseen words no longer collapse onto the same embedding; without n-grams they can', () => {
  // Two unknown words that the tokenizer's 4 hashed buckets send to the same id.
  const tokenizer = Tokenizer.build(CAPTIONS, { maxLength: 6 })
  const words = ['zebra', 'gorilla', 'lemon', 'volcano', 'kimono', 'tractor', 'ferry', 'swan', 'crab', 'deer']
  const byId = new Map<number, string[]>()
  for (const w of words) {
    const id = tokenizer.encode(w).ids[0]!
    byId.set(id, [...(byId.get(id) ?? []), w])
  }
  const pair = [...byId.values()].find((ws) => ws.length >= 2)
  assert.ok(pair, 'expected two of ten unknown words to share one of 4 OOV buckets')
  const prompts = [`${pair[0]}, twitter style`, `${pair[1]}, twitter style`]
  const cosine = (model: AlignmentModel) => {
    const e = model.embedTexts(prompts)
    const [x, y] = e.arraySync() as number[][]
    e.dispose()
    return x!.reduce((s, v, i) => s + v * y![i]!, 0)
  }
  const wordsOnly = tinyModel({ ngramBuckets: 0 })
  const withNgrams = tinyModel()
  assert.ok(cosine(wordsOnly) > 0.9999, 'words-only embeddings of two same-bucket unknown words should coincide')
  assert.ok(cosine(withNgrams) < 0.999, `n-gram embeddings should differ, cosine ${cosine(withNgrams)}`)
  wordsOnly.dispose()
  withNgrams.dispose()
})

test('a training step updates the n-gram rows of the batch\'s words and no others', () => {
  const model = tinyModel({}, 3)
  const N = model.architecture.ngramBuckets
  const before = Float32Array.from(model.params['text.ngram']!.dataSync())
  const trainer = new AlignmentTrainer(model, { batchSize: 4, learningRate: 1e-2, warmupSteps: 0, totalSteps: 1 })
  const images = Float32Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => Math.sin(i))
  trainer.trainStep({ images, captions: CAPTIONS, indices: [0, 1, 2, 3] })
  const after = model.params['text.ngram']!.dataSync()
  const used = new Set(CAPTIONS.flatMap((c) => c.split(' ')).flatMap((w) => wordNgrams(w, 3, 5)).map((g) => ngramBucket(g, N)))
  const width = model.architecture.textWidth
  for (let bucket = 0; bucket < N; bucket++) {
    let changed = false
    for (let d = 0; d < width; d++) if (after[bucket * width + d] !== before[bucket * width + d]) changed = true
    assert.equal(changed, used.has(bucket), `bucket ${bucket}`)
  }
  trainer.dispose()
  model.dispose()
})

test('n-gram models round-trip; version 1 files load as words-only models; other versions and mismatched tables are refused', async () => {
  const model = tinyModel({}, 7)
  const modelDir = join(dir, 'model')
  await model.save(modelDir, { steps: 1, batchSize: 4, wallTimeSeconds: 1, finalLoss: 1, backend: 'wasm', seed: 7, command: 'npm run train-alignment -- --steps 1', metrics: {} })
  const loaded = await AlignmentModel.load(modelDir)
  assert.equal(loaded.architecture.ngramBuckets, 512)
  assert.equal(loaded.training?.command, 'npm run train-alignment -- --steps 1')
  const a = model.embedTexts(['paperclips, twitter style'])
  const b = loaded.embedTexts(['paperclips, twitter style'])
  assert.deepEqual(b.dataSync(), a.dataSync())
  tf.dispose([a, b])

  const tensorsOf = (m: AlignmentModel) =>
    Object.fromEntries(Object.entries(m.params).map(([name, v]) => [name, { dtype: 'float32' as const, shape: [...v.shape], data: v.dataSync() as Float32Array }]))
  const configOf = (m: AlignmentModel) => ({ kind: ALIGNMENT_MODEL_KIND, version: ALIGNMENT_MODEL_VERSION, architecture: m.architecture, tokenizer: m.tokenizer.toJSON(), scoreScale: 100 })

  // A version 1 file, as the first shipped model was written: no n-gram fields, no n-gram table.
  const wordsOnly = tinyModel({ ngramBuckets: 0 }, 8)
  const { ngramBuckets: _b, ngramMin: _min, ngramMax: _max, ...v1Architecture } = wordsOnly.architecture
  const v1 = join(dir, 'version-1')
  await saveCheckpoint(v1, { config: { ...configOf(wordsOnly), version: 1, architecture: v1Architecture }, tensors: tensorsOf(wordsOnly) })
  const fromV1 = await AlignmentModel.load(v1)
  assert.equal(fromV1.architecture.ngramBuckets, 0)
  const c = wordsOnly.embedTexts(['red apple'])
  const d = fromV1.embedTexts(['red apple'])
  assert.deepEqual(d.dataSync(), c.dataSync())
  tf.dispose([c, d])

  const v1WithNgrams = join(dir, 'version-1-ngrams')
  await saveCheckpoint(v1WithNgrams, { config: { ...configOf(model), version: 1 }, tensors: tensorsOf(model) })
  await assert.rejects(AlignmentModel.load(v1WithNgrams), /a version 1 alignment model cannot have n-gram features/)

  const future = join(dir, 'version-99')
  await saveCheckpoint(future, { config: { ...configOf(model), version: 99 }, tensors: tensorsOf(model) })
  await assert.rejects(AlignmentModel.load(future), /format version 99; this build reads versions 1 and 2/)

  const mismatched = join(dir, 'mismatched')
  await saveCheckpoint(mismatched, { config: { ...configOf(model), architecture: { ...model.architecture, ngramBuckets: 256 } }, tensors: tensorsOf(model) })
  await assert.rejects(AlignmentModel.load(mismatched), /tensor 'text\.ngram' is float32 \[512,16\], expected float32 \[256,16\]/)
  for (const m of [model, loaded, wordsOnly, fromV1]) m.dispose()
})
