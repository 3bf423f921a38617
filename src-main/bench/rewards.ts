// Reward benchmarks: what a reward costs inside a DI* generator step (forward + gradient w.r.t. images).
import * as tf from '@tensorflow/tfjs-core'
import { Tokenizer } from '../ml/text/tokenizer.ts'
import { AlignmentModel } from '../ml/rewards/alignment-model.ts'
import { alignmentReward, hasShippedAlignmentModel, shippedAlignmentModelDir } from '../ml/rewards/alignment-reward.ts'
import { brightnessReward, colourfulnessReward, contrastReward, targetColourReward } from '../ml/rewards/image-rewards.ts'
import { weightedSum, type Reward } from '../ml/rewards/reward.ts'
import type { BenchContext, BenchEntry, BenchRow } from './harness/registry.ts'
import { spread, timeIt } from './harness/timing.ts'

const BATCH = 16

/** The shipped model if present; otherwise a fresh one of the default architecture (same cost). */
async function benchAlignmentModel(): Promise<{ model: AlignmentModel; which: string }> {
  if (hasShippedAlignmentModel()) return { model: await AlignmentModel.load(shippedAlignmentModelDir()), which: 'shipped model' }
  const tokenizer = Tokenizer.build(['a red apple', 'a black cat', 'a yellow star, twitter style'])
  return { model: AlignmentModel.create(tokenizer, 1), which: 'untrained default architecture (no shipped weights)' }
}

async function timeReward(ctx: BenchContext, label: string, reward: Reward, imageSize: number, notes: string): Promise<BenchRow[]> {
  const images = tf.randomUniform([BATCH, imageSize, imageSize, 3], -1, 1, 'float32', 1) as tf.Tensor4D
  const prompts = Array.from({ length: BATCH }, (_, i) => (i % 2 ? 'red apple, twitter style' : 'grinning face, google style'))
  try {
    ctx.log(`${label}: forward`)
    const forward = await timeIt(() => reward.score(images, prompts), { repeats: ctx.repeats })
    ctx.log(`${label}: forward + gradient w.r.t. images`)
    const gradient = tf.grad((x: tf.Tensor) => tf.sum(reward.score(x as tf.Tensor4D, prompts)))
    const backward = await timeIt(() => gradient(images), { repeats: ctx.repeats })
    return [
      { name: `${label} score B${BATCH}`, value: forward.medianMs, unit: 'ms', notes: `${notes}; ${spread(forward)}` },
      { name: `${label} score+grad B${BATCH}`, value: backward.medianMs, unit: 'ms', notes: `d(sum of scores)/d(images); ${spread(backward)}` },
    ]
  } finally {
    images.dispose()
  }
}

const alignmentEntry: BenchEntry = {
  name: 'alignment reward B16',
  async run(ctx) {
    const { model, which } = await benchAlignmentModel()
    try {
      const notes = `${which}, ${model.parameterCount.toLocaleString('en')} params, ${model.architecture.imageSize}px`
      return await timeReward(ctx, 'alignment reward', alignmentReward(model), model.architecture.imageSize, notes)
    } finally {
      model.dispose()
    }
  },
}

const imageRewardsEntry: BenchEntry = {
  name: 'image rewards B16',
  async run(ctx) {
    const all = weightedSum([
      { reward: colourfulnessReward(), weight: 1 },
      { reward: brightnessReward(), weight: 1 },
      { reward: contrastReward(), weight: 1 },
      { reward: targetColourReward([255, 200, 0]), weight: 1 },
    ])
    return timeReward(ctx, 'four image rewards summed', all, 32, 'colourfulness + brightness + contrast + target colour, 32px')
  },
}

export const benches: BenchEntry[] = [alignmentEntry, imageRewardsEntry]
