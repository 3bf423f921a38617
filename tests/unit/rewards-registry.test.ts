// Reward registry: JSON specs validated with clear errors, and built into working rewards.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { AlignmentModel } from '../../src-main/ml/rewards/alignment-model.ts'
import { createReward, parseRewardSpec, RewardSpecError, cachingRewardContext } from '../../src-main/ml/rewards/registry.ts'

let dir: string
before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'rewards-registry-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

function scoresOf(images: tf.Tensor4D, prompts: string[], reward: { score: (i: tf.Tensor4D, p: string[]) => tf.Tensor1D }): number[] {
  const s = reward.score(images, prompts)
  const out = Array.from(s.dataSync())
  s.dispose()
  return out
}

test('valid specs parse, including nested sums', () => {
  assert.deepEqual(parseRewardSpec({ kind: 'brightness' }), { kind: 'brightness' })
  const nested = {
    kind: 'sum',
    parts: [
      { spec: { kind: 'target-colour', rgb: [255, 0, 0] }, weight: 1 },
      { spec: { kind: 'sum', parts: [{ spec: { kind: 'contrast' }, weight: 0.5 }] }, weight: 2 },
    ],
  }
  assert.deepEqual(parseRewardSpec(nested), nested)
})

test('bad specs are refused with errors that say what is wrong and where', () => {
  const bad: [unknown, RegExp][] = [
    [null, /Invalid reward spec/],
    [{ kind: 'sharpness' }, /kind/],
    [{ kind: 'target-colour', rgb: [300, 0, 0] }, /rgb/],
    [{ kind: 'target-colour', rgb: [1, 2] }, /rgb/],
    [{ kind: 'brightness', extra: 1 }, /extra/],
    [{ kind: 'sum', parts: [] }, /parts/],
    [{ kind: 'sum', parts: [{ spec: { kind: 'contrast' }, weight: 'heavy' }] }, /weight/],
    // weights share the mix out, never negative, and within the sliders' range (contract/limits.ts)
    [{ kind: 'sum', parts: [{ spec: { kind: 'contrast' }, weight: -0.5 }] }, /must be between 0 and 10[\s\S]*parts\[0\]\.weight/],
    [{ kind: 'sum', parts: [{ spec: { kind: 'contrast' }, weight: 1e9 }] }, /must be between 0 and 10/],
    [{ kind: 'sum', parts: [{ spec: { kind: 'nope' }, weight: 1 }] }, /parts/],
  ]
  for (const [spec, message] of bad) {
    assert.throws(() => parseRewardSpec(spec), (err: unknown) => err instanceof RewardSpecError && message.test(err.message), JSON.stringify(spec))
  }
})

test('createReward builds image rewards and weighted sums that score as specified', async () => {
  const white = tf.ones([1, 4, 4, 3]) as tf.Tensor4D
  const brightness = await createReward({ kind: 'brightness' })
  assert.equal(brightness.name, 'brightness')
  assert.ok(Math.abs(scoresOf(white, ['x'], brightness)[0]! - 1) < 1e-5)
  const sum = await createReward({
    kind: 'sum',
    parts: [
      { spec: { kind: 'brightness' }, weight: 3 },
      { spec: { kind: 'target-colour', rgb: [0, 0, 0] }, weight: 1 },
    ],
  })
  // white: brightness 1, distance to black is maximal (closeness 0)
  assert.ok(Math.abs(scoresOf(white, ['x'], sum)[0]! - 3) < 1e-4)
  await assert.rejects(createReward({ kind: 'colourfulness', rgb: [1, 2, 3] }), RewardSpecError)
  white.dispose()
})

test('alignment rewards load a model folder once and report missing folders clearly', async () => {
  const tokenizer = Tokenizer.build(['red apple', 'black cat'], { maxLength: 4 })
  const model = AlignmentModel.create(tokenizer, 1, { imageSize: 8, patchSize: 4, imageWidth: 8, imageBlocks: 1, tokenMixHidden: 4, channelMixHidden: 8, textWidth: 8, textBlocks: 0, embedDim: 4 })
  const modelDir = join(dir, 'alignment')
  await model.save(modelDir)
  const ctx = cachingRewardContext()
  const reward = await createReward(
    { kind: 'sum', parts: [{ spec: { kind: 'alignment', modelDir }, weight: 1 }, { spec: { kind: 'alignment', modelDir }, weight: 1 }] },
    ctx,
  )
  const images = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 2) as tf.Tensor4D
  const single = scoresOf(images, ['red apple', 'cat'], model)
  const doubled = scoresOf(images, ['red apple', 'cat'], reward)
  doubled.forEach((v, i) => assert.ok(Math.abs(v - 2 * single[i]!) < 1e-3))
  assert.strictEqual(await ctx.loadAlignmentModel(modelDir), await ctx.loadAlignmentModel(modelDir))
  await assert.rejects(createReward({ kind: 'alignment', modelDir: join(dir, 'no-such-model') }), /Could not build reward .*alignment/)
  images.dispose()
  model.dispose()
})
