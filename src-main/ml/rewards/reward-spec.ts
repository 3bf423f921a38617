// The JSON form of a reward, validated with zod. This file imports only zod (and the zod-only control limits), so the IPC contract
// and the renderer can validate reward choices with the same schema the trainer uses:
//   { "kind": "sum", "parts": [ { "spec": { "kind": "alignment" }, "weight": 1 },
//                               { "spec": { "kind": "target-colour", "rgb": [255, 200, 0] }, "weight": 0.5 } ] }
import { z } from 'zod'
import { boundedNumber, CONTROL_LIMITS } from '../distar/control-limits.ts'

/** A file or folder path given in a config: bounded (a huge value is refused, not echoed back whole) and NUL-free. */
export const configPath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.includes('\0'), 'path must not contain NUL characters')

const rgb255 = z.tuple([z.number().min(0).max(255), z.number().min(0).max(255), z.number().min(0).max(255)])

const alignmentSpec = z.object({
  kind: z.literal('alignment'),
  /**
   * Folder of an alignment model checkpoint; default: the shipped one. A path that arrives over IPC
   * must be resolved inside the workspace by the core before the spec is built.
   */
  modelDir: configPath.optional(),
})

/** The user-preference model (Bradley-Terry head over alignment image features), trained in the Prefer view. */
const preferenceSpec = z.strictObject({
  kind: z.literal('preference'),
  /** folder of a trained preference model (the studio's: <workspace>/preferences/model); workspace-resolved like modelDir above */
  modelDir: configPath,
})

export type RewardSpec =
  | z.infer<typeof alignmentSpec>
  | z.infer<typeof preferenceSpec>
  | { kind: 'colourfulness' }
  | { kind: 'brightness' }
  | { kind: 'contrast' }
  | { kind: 'target-colour'; rgb: [number, number, number] }
  | { kind: 'sum'; parts: { spec: RewardSpec; weight: number }[] }

export const rewardSpecSchema: z.ZodType<RewardSpec> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    alignmentSpec.strict(),
    preferenceSpec,
    z.strictObject({ kind: z.literal('colourfulness') }),
    z.strictObject({ kind: z.literal('brightness') }),
    z.strictObject({ kind: z.literal('contrast') }),
    z.strictObject({ kind: z.literal('target-colour'), rgb: rgb255 }),
    z.strictObject({
      kind: z.literal('sum'),
      // weights share the mix out, never negative (as the overall reward weight): contract/limits.ts
      parts: z.array(z.strictObject({ spec: rewardSpecSchema, weight: boundedNumber(CONTROL_LIMITS.rewardPartWeight) })).min(1).max(16),
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
