// results.json: everything an evaluation measured, validated with zod when read back (tests, --write-docs
// from a finished eval). Numbers JSON cannot hold (NaN: e.g. within-prompt diversity with one seed) are null.
import { z } from 'zod'

export const RESULTS_FORMAT = 'di-studio-eval'
export const RESULTS_VERSION = 1

const summary = z.strictObject({ mean: z.number(), sd: z.number(), n: z.int().min(1), min: z.number(), max: z.number() })
const maybeNumber = z.number().nullable()

export const ModelResult = z.strictObject({
  id: z.string().min(1),
  label: z.string().min(1),
  kind: z.enum(['reference', 'one-step-init', 'run']),
  /** network evaluations per image: the sampler's steps, or 1 */
  inferenceSteps: z.int().min(1),
  cfg: z.number().optional(),
  regulariser: z.enum(['score', 'kl']).optional(),
  trainingSteps: z.int().min(0).optional(),
  images: z.int().min(1),
  alignment: summary,
  rewards: z.record(z.string(), summary),
  frechet: z.number(),
  /** mean pairwise embedding distance: all images; seeds of one prompt; prompts drawn from one seed */
  diversity: z.strictObject({ all: maybeNumber, samePrompt: maybeNumber, sameSeed: maybeNumber }),
  time: z.strictObject({
    ortMsPerImage: z.number(),
    /** one-step generators only */
    tfjsMsPerImage: z.number().optional(),
    /** timed passes over every image behind ortMsPerImage (median) */
    passes: z.int().min(1),
    /** ortMsPerImage / the baseline reference's ortMsPerImage */
    fractionOfBaseline: maybeNumber,
  }),
  /** relative to the output folder */
  sampleSheet: z.string(),
})
export type ModelResult = z.infer<typeof ModelResult>

export const TrainingResult = z.strictObject({
  id: z.string(),
  regulariser: z.enum(['score', 'kl']),
  reused: z.boolean(),
  trainingMs: z.number(),
  steps: z.int(),
})

export const EvalResults = z.strictObject({
  format: z.literal(RESULTS_FORMAT),
  version: z.literal(RESULTS_VERSION),
  createdAt: z.string(),
  /** the command line that produced it */
  command: z.string(),
  wallMs: z.number(),
  quick: z.boolean(),
  settings: z.strictObject({
    prompts: z.int().min(1),
    promptsAvailable: z.int().min(1),
    promptFile: z.string(),
    seeds: z.array(z.int()),
    sampler: z.string(),
    cfg: z.number(),
    referenceSteps: z.array(z.int()),
    tInit: z.int(),
    timingRepeats: z.int(),
    training: z.strictObject({ steps: z.int(), batchSize: z.int(), seed: z.int(), controls: z.record(z.string(), z.unknown()) }),
  }),
  machine: z.record(z.string(), z.unknown()),
  machineLines: z.array(z.string()),
  loadAverageAfter: z.array(z.number()),
  real: z.strictObject({
    images: z.int(),
    /** FD between as many real training-split images as generated images and the validation images: the floor at this sample size */
    frechetTrainVsValidation: maybeNumber,
  }),
  training: z.array(TrainingResult),
  /** id of the model the time fractions are relative to (the reference with the most steps) */
  timeBaseline: z.string(),
  models: z.array(ModelResult).min(1),
})
export type EvalResults = z.infer<typeof EvalResults>

/** NaN and infinities as null, for JSON. */
export function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null
}
