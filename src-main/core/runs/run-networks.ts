// What a DI* run differentiates through, built the same way on the main thread (RunSession) and in every
// data-parallel worker thread (createDataParallelModel, see ml/backend/data-parallel.ts): the DiT as the
// generator, fake score and frozen reference, and the run's rewards split into their weighted parts.
// A worker loads the reference from the run's model folder, clones it for the generator and fake score
// (their values arrive from the main thread before every step) and builds the rewards from the spec.
import type * as tf from '@tensorflow/tfjs-core'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DiffusionModel } from '../../ml/diffusion/model.ts'
import type { DataParallelModel } from '../../ml/backend/data-parallel.ts'
import { diStarStepModel } from '../../ml/distar/step-model.ts'
import { createReward } from '../../ml/rewards/registry.ts'
import type { RewardSpec } from '../../ml/rewards/reward-spec.ts'
import { ditEps, type DitParams } from '../../ml/diffusion/dit.ts'
import type { EpsFn, EpsModel } from '../../ml/distar/types.ts'
import { rewardParts, type Reward } from '../../ml/rewards/reward.ts'

/** The three networks of a run: all the reference's DiT, with their own parameter records. */
export function runNetworks(reference: DiffusionModel, generator: DitParams, fake: DitParams): { generator: EpsModel; fake: EpsModel; reference: EpsModel } {
  const eps: EpsFn = (p, x, t, cond) => ditEps(p, reference.dit, x, t, cond as tf.Tensor2D)
  return { generator: { eps, params: generator }, fake: { eps, params: fake }, reference: { eps, params: reference.params } }
}

/**
 * The trainer streams one metric per reward, so a weighted sum is passed as its parts with their
 * weights as the starting rewardMix (the UI can then move each). Parts with clashing names stay summed.
 */
export function splitReward(reward: Reward): { rewards: Reward[]; mix: Record<string, number> } {
  const parts = rewardParts(reward)
  const names = new Set(parts.map((p) => p.reward.name))
  if (parts.length === 1 || names.size !== parts.length) return { rewards: [reward], mix: {} }
  return { rewards: parts.map((p) => p.reward), mix: Object.fromEntries(parts.map((p) => [p.reward.name, p.weight])) }
}

/** What a worker needs to rebuild the run's networks (structured-cloneable). */
export interface ParallelRunConfig {
  /** absolute folder of the reference model */
  modelDir: string
  reward: RewardSpec
  tInit: number
}

export async function createDataParallelModel(config: unknown): Promise<DataParallelModel> {
  const c = config as ParallelRunConfig
  const reference = await DiffusionModel.load(c.modelDir)
  const { rewards } = splitReward(await createReward(c.reward))
  const generator = reference.cloneParams(true)
  const fake = reference.cloneParams(true)
  return diStarStepModel({ ...runNetworks(reference, generator, fake), schedule: reference.schedule, tInit: c.tInit, rewards })
}

/**
 * This module's URL for the workers: run-parallel-model.js beside the bundle chunk in a build (an entry
 * of electron.vite.config.ts), this .ts source under tsx.
 */
export function parallelModelUrl(): URL {
  const built = new URL('./run-parallel-model.js', import.meta.url)
  return existsSync(fileURLToPath(built)) ? built : new URL('./run-networks.ts', import.meta.url)
}

