// Builds rewards from the JSON specs of reward-spec.ts (as they arrive from a run config or the UI).
// Adding a reward kind (e.g. the user-preference model, a Bradley-Terry head over
// alignmentImageFeatures) means one schema member in reward-spec.ts and one entry in BUILDERS
// here; the compiler checks that every kind has a builder.
import { AlignmentModel } from './alignment-model.ts'
import { alignmentImageFeatures, alignmentReward, shippedAlignmentModelDir } from './alignment-reward.ts'
import { PreferenceModel, preferenceReward } from './preference-model.ts'
import { brightnessReward, colourfulnessReward, contrastReward, targetColourReward } from './image-rewards.ts'
import { weightedSum, type Reward } from './reward.ts'
import { parseRewardSpec, RewardSpecError, type RewardSpec } from './reward-spec.ts'

export { parseRewardSpec, rewardSpecSchema, RewardSpecError, type RewardSpec } from './reward-spec.ts'

export interface RewardContext {
  /** Loads (or returns an already loaded) alignment model from a checkpoint folder. */
  loadAlignmentModel(dir: string): Promise<AlignmentModel>
}

/** Loads each alignment model folder once, however often a spec mentions it. */
export function cachingRewardContext(): RewardContext {
  const loaded = new Map<string, Promise<AlignmentModel>>()
  return {
    loadAlignmentModel(dir) {
      let model = loaded.get(dir)
      if (!model) {
        model = AlignmentModel.load(dir)
        loaded.set(dir, model)
        // Forget failures, so a model written later can still be loaded.
        model.catch(() => loaded.delete(dir))
      }
      return model
    },
  }
}

type Builders = { [K in RewardSpec['kind']]: (spec: Extract<RewardSpec, { kind: K }>, ctx: RewardContext) => Promise<Reward> }

const BUILDERS: Builders = {
  alignment: async (spec, ctx) => alignmentReward(await ctx.loadAlignmentModel(spec.modelDir ?? shippedAlignmentModelDir())),
  colourfulness: async () => colourfulnessReward(),
  brightness: async () => brightnessReward(),
  contrast: async () => contrastReward(),
  'target-colour': async (spec) => targetColourReward(spec.rgb),
  preference: async (spec, ctx) => {
    const head = await PreferenceModel.load(spec.modelDir)
    const features = alignmentImageFeatures(await ctx.loadAlignmentModel(head.config.alignmentModelDir ?? shippedAlignmentModelDir()))
    return preferenceReward(head, features)
  },
  sum: async (spec, ctx) =>
    weightedSum(await Promise.all(spec.parts.map(async (p) => ({ reward: await build(p.spec, ctx), weight: p.weight })))),
}

function build(spec: RewardSpec, ctx: RewardContext): Promise<Reward> {
  return (BUILDERS[spec.kind] as (s: RewardSpec, c: RewardContext) => Promise<Reward>)(spec, ctx)
}

/**
 * Builds a reward from an unvalidated spec. Throws RewardSpecError for a bad spec, and an Error naming
 * the spec (the checkpoint module's error as its cause) when a model file is missing or corrupt.
 */
export async function createReward(spec: unknown, ctx: RewardContext = cachingRewardContext()): Promise<Reward> {
  const valid = parseRewardSpec(spec)
  try {
    return await build(valid, ctx)
  } catch (err) {
    if (err instanceof RewardSpecError) throw err
    throw new Error(`Could not build reward ${JSON.stringify(valid)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
