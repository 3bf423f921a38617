// results.json: everything an evaluation measured, validated with zod when read back (tests, --write-docs
// from a finished eval). Numbers JSON cannot hold (NaN: e.g. within-prompt diversity with one seed) are null.
import { z } from 'zod'

export const RESULTS_FORMAT = 'di-studio-eval'
export const RESULTS_VERSION = 1

const summary = z.strictObject({ mean: z.number(), sd: z.number(), n: z.int().min(1), min: z.number(), max: z.number() })
const maybeNumber = z.number().nullable()

/** The judge's rates over one prompt set (rates are null when no image could be scored). */
const judgeRates = z.strictObject({ images: z.int().min(0), top1: maybeNumber, top5: maybeNumber, meanRank: maybeNumber })
export const JudgeSetResult = judgeRates.extend({
  /** images whose prompt names no emoji the judge knows (left out of the rates) */
  unscored: z.int().min(0),
  /** by the asked-for emoji's category */
  byCategory: z.record(z.string(), judgeRates),
})
export type JudgeSetResult = z.infer<typeof JudgeSetResult>

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
  /**
   * The judge (an emoji classifier no model trains against): is the asked-for emoji its first choice?
   * On the validation captions (the images every other column is measured on) and, separately, on
   * images made for the training-emoji prompts. Absent when the eval ran without a judge.
   */
  judge: z.strictObject({ validation: JudgeSetResult, trainingEmoji: JudgeSetResult.nullable() }).optional(),
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
    /** the training-emoji prompts scored by the judge (absent in evals from before the judge) */
    trainingPrompts: z.int().min(0).optional(),
    trainingPromptsAvailable: z.int().min(0).optional(),
    trainingPromptFile: z.string().optional(),
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
  /** which judge scored the images, and its real-image ceiling from its own card */
  judge: z.strictObject({
    dir: z.string(),
    fingerprint: z.string(),
    classes: z.int(),
    trainingStyles: z.array(z.string()),
    heldOutStyle: z.string().nullable(),
    /** top-1 / top-5 on real images of the held-out style: all, training-split and validation-split emoji */
    ceiling: z.record(z.string(), z.number()),
  }).optional(),
})
export type EvalResults = z.infer<typeof EvalResults>

/** NaN and infinities as null, for JSON. */
export function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null
}
