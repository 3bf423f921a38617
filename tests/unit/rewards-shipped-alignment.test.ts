// Behaviour of the committed alignment model (resources/models/alignment) on validation emoji it
// never saw in training: its own caption should outscore another emoji's caption for most images,
// and caption retrieval over the whole validation split should stay at the level its card reports.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { loadEmojiDataset, type EmojiSplit } from '../../src-main/ml/data/emoji-dataset.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { AlignmentModel } from '../../src-main/ml/rewards/alignment-model.ts'
import { captionRetrieval } from '../../src-main/ml/rewards/alignment-training.ts'
import { alignmentImageFeatures, alignmentReward, hasShippedAlignmentModel, shippedAlignmentModelDir } from '../../src-main/ml/rewards/alignment-reward.ts'

const SAMPLE = 48
/** Chance is 50%; the card reports the full-validation figure. */
const MIN_PAIRWISE_ACCURACY = 0.75
/**
 * Caption retrieval among the 178 validation captions (chance: top-1 0.6%, top-5 2.8%). The card reports
 * top-1 28.7% (51 images) and top-5 52.8% (94 images) with unseen words read through WordNet. The bars sit
 * five images below (46 and 89), slack for a rebuilt data cache or a float-order change; the same weights
 * with hashed buckets for unseen words (top-5 47.2%, 84 images) fail the top-5 bar.
 */
const MIN_VALIDATION_TOP1 = 0.255
const MIN_VALIDATION_TOP5 = 0.5
/**
 * Captions with a word never seen in training (78 images, flags apart): top-5 34.6% through WordNet,
 * 21.8% with hashed buckets. WordNet must win by at least 5 of those images.
 */
const MIN_UNSEEN_WORD_TOP5_GAIN = 5

const skip = hasShippedAlignmentModel()
  ? false
  : `no shipped alignment weights at ${shippedAlignmentModelDir()} (train them with npm run train-alignment)`

let validation: EmojiSplit
before(async () => {
  if (skip) return
  await initTf()
  ;({ validation } = await loadEmojiDataset({ imageSize: 32 }))
})

test('the shipped model ranks the right caption above a random other one for most validation images', { skip }, async (t) => {
  const model = await AlignmentModel.load(shippedAlignmentModelDir())
  const reward = alignmentReward(model)
  const rng = new Rng(2024)
  const n = validation.items.length
  const picks = rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, SAMPLE)
  const floats = 32 * 32 * 3
  const pixels = new Float32Array(SAMPLE * floats)
  picks.forEach((idx, b) => pixels.set(validation.images.subarray(idx * floats, (idx + 1) * floats), b * floats))
  const own = picks.map((idx) => validation.items[idx]!.canonicalCaption)
  // A caption of a different emoji (not just the same emoji in the other style).
  const other = picks.map((idx) => {
    let j = idx
    while (validation.items[j]!.key === validation.items[idx]!.key) j = rng.int(0, n - 1)
    return validation.items[j]!.canonicalCaption
  })
  const images = tf.tensor4d(pixels, [SAMPLE, 32, 32, 3])
  const ownScores = reward.score(images, own)
  const otherScores = reward.score(images, other)
  const a = ownScores.dataSync()
  const b = otherScores.dataSync()
  let wins = 0
  for (let i = 0; i < SAMPLE; i++) if (a[i]! > b[i]!) wins++
  tf.dispose([images, ownScores, otherScores])
  model.dispose()
  const accuracy = wins / SAMPLE
  t.diagnostic(`right caption won ${wins}/${SAMPLE}`)
  assert.ok(accuracy >= MIN_PAIRWISE_ACCURACY, `right caption won ${wins}/${SAMPLE} (${(100 * accuracy).toFixed(0)}%), expected >= ${100 * MIN_PAIRWISE_ACCURACY}%`)
})

test('the shipped model retrieves the right caption among all validation captions at its card\'s level', { skip }, async (t) => {
  const model = await AlignmentModel.load(shippedAlignmentModelDir())
  const result = captionRetrieval(model, validation)
  model.dispose()
  t.diagnostic(`validation top-1 ${(100 * result.top1).toFixed(1)}%, top-5 ${(100 * result.top5).toFixed(1)}% of ${result.candidates} captions`)
  assert.equal(result.candidates, validation.items.length)
  assert.ok(result.top1 >= MIN_VALIDATION_TOP1, `validation top-1 ${(100 * result.top1).toFixed(1)}% < ${100 * MIN_VALIDATION_TOP1}%`)
  assert.ok(result.top5 >= MIN_VALIDATION_TOP5, `validation top-5 ${(100 * result.top5).toFixed(1)}% < ${100 * MIN_VALIDATION_TOP5}%`)
})

test('the shipped model reads words never seen in training through WordNet, and that finds more of their captions', { skip }, async (t) => {
  const model = await AlignmentModel.load(shippedAlignmentModelDir())
  assert.equal(model.wordBackoff?.source, 'wordnet')
  const buckets = model.withWordBackoff(undefined)
  const unseen = validation.items.flatMap((it, i) => {
    const flag = it.category.toLowerCase() === 'flags'
    return !flag && model.tokenizer.encode(it.canonicalCaption).unknownWords.length > 0 ? [i] : []
  })
  const top5 = (m: AlignmentModel) => {
    const ranks = captionRetrieval(m, validation).ranks
    return unseen.filter((i) => ranks[i]! <= 5).length
  }
  const withWordNet = top5(model)
  const withBuckets = top5(buckets)
  model.dispose()
  t.diagnostic(`captions with an unseen word: ${withWordNet}/${unseen.length} in the top 5 through WordNet, ${withBuckets} with hashed buckets`)
  assert.ok(withWordNet >= withBuckets + MIN_UNSEEN_WORD_TOP5_GAIN, `WordNet ${withWordNet} vs buckets ${withBuckets} of ${unseen.length}`)
})

test('the alignment features carry a fingerprint of the weights: another model gives another name', async () => {
  const shipped = await AlignmentModel.load(shippedAlignmentModelDir())
  const name = alignmentImageFeatures(shipped).name
  assert.match(name, /^alignment-image-embedding@[0-9a-f]{16}$/)
  assert.equal(alignmentImageFeatures(shipped).name, name, 'stable for the same weights')
  const first = Object.keys(shipped.params).sort()[0]!
  const variable = shipped.params[first]!
  const values = (variable.dataSync() as Float32Array).slice()
  values[0]! += 1e-3
  const other = await AlignmentModel.load(shippedAlignmentModelDir())
  other.params[first]!.assign(tf.tensor(values, variable.shape))
  assert.notEqual(alignmentImageFeatures(other).name, name)
  shipped.dispose()
  other.dispose()
})
