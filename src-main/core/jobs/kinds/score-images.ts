// Scores workspace PNGs with the studio's rewards (alignment, colourfulness, brightness, contrast) in a
// worker: the numbers the Compare view shows beside each image. Rewards come from ml/rewards, so the
// scores are the ones DI* trains against.
import * as tf from '@tensorflow/tfjs-core'
import { readFile } from 'node:fs/promises'
import { cachingRewardContext, createReward } from '../../../ml/rewards/registry.ts'
import { decodePngImage } from '../../preferences/preference-training.ts'
import type { JobParamsByKind, ScoreImagesResult } from '../../../contract/index.ts'
import type { JobContext } from '../job-context.ts'
import { initJobTensorflow } from '../job-engines.ts'

/** Width of a PNG from its IHDR chunk (bytes 16-19); the decoder then checks the whole file. */
function pngWidth(bytes: Buffer, what: string): number {
  if (bytes.length < 24 || bytes.readUInt32BE(12) !== 0x49484452) throw new Error(`${what} is not a PNG`)
  return bytes.readUInt32BE(16)
}

export const scoreImagesJob = {
  async run(ctx: JobContext, params: JobParamsByKind['score-images']): Promise<ScoreImagesResult> {
    const backend = await initJobTensorflow(ctx)
    ctx.log(`scoring on ${backend.name}`)
    const rewardCtx = cachingRewardContext()
    const rewards = await Promise.all(params.rewards.map(async (kind) => ({ kind, reward: await createReward({ kind }, rewardCtx) })))
    const scores: ScoreImagesResult['scores'] = []
    for (const [i, image] of params.images.entries()) {
      await ctx.checkpoint()
      const bytes = await readFile(ctx.workspace.resolve(image.path))
      const size = pngWidth(bytes, image.path)
      const pixels = decodePngImage(bytes, size, image.path)
      const values: Record<string, number> = {}
      for (const { kind, reward } of rewards) {
        const score = tf.tidy(() => reward.score(tf.tensor4d(pixels, [1, size, size, 3]), [image.prompt]))
        values[kind] = (await score.data())[0]!
        score.dispose()
      }
      scores.push({ path: image.path, values })
      ctx.progress(i + 1, params.images.length)
    }
    return { scores }
  },
}
