// Rewards from plain JSON specs, as they arrive from a run config or the UI:
//   { "kind": "sum", "parts": [ { "spec": { "kind": "alignment" }, "weight": 1 },
//                               { "spec": { "kind": "target-colour", "rgb": [255, 200, 0] }, "weight": 0.5 } ] }
// Adding a reward kind (e.g. the user-preference model, a Bradley-Terry head over
// alignmentImageFeatures) means one schema member below and one entry in BUILDERS; the
// compiler checks that every kind has a builder.
import { z } from 'zod'
import { AlignmentModel } from './alignment-model.ts'
import { alignmentReward, shippedAlignmentModelDir } from './alignment-reward.ts'
import { brightnessReward, colourfulnessReward, contrastReward, targetColourReward } from './image-rewards.ts'
import { weightedSum, type Reward } from './reward.ts'

const rgb255 = z.tuple([z.number().min(0).max(255), z.number().min(0).max(255), z.number().min(0).max(255)])

const alignmentSpec = z.object({
  kind: z.literal('alignment'),
  /** folder of an alignment model checkpoint; default: the shipped one */
  modelDir: z.string().min(1).optional(),
})

export type RewardSpec =
  | z.infer<typeof alignmentSpec>
  | { kind: 'colourfulness' }
  | { kind: 'brightness' }
  | { kind: 'contrast' }
  | { kind: 'target-colour'; rgb: [number, number, number] }
  | { kind: 'sum'; parts: { spec: RewardSpec; weight: number }[] }

export const rewardSpecSchema: z.ZodType<RewardSpec> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    alignmentSpec.strict(),
    z.strictObject({ kind: z.literal('colourfulness') }),
    z.strictObject({ kind: z.literal('brightness') }),
    z.strictObject({ kind: z.literal('contrast') }),
    z.strictObject({ kind: z.literal('target-colour'), rgb: rgb255 }),
    z.strictObject({
      kind: z.literal('sum'),
      parts: z.array(z.strictObject({ spec: rewardSpecSchema, weight: z.number().finite() })).min(1).max(16),
    }),
  ]),
)

export class RewardSpecError extends Error {
  override name = 'RewardSpecError'
}

/** Validates a reward spec; the error lists every problem with its path. */
export function parseRewardSpec(spec: unknown): RewardSpec {
  const parsed = rewardSpecSchema.safeParse(spec)
  if (!parsed.success) throw new RewardSpecError(`Invalid reward spec:\n${z.prettifyError(parsed.error)}`)
  return parsed.data
}

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
