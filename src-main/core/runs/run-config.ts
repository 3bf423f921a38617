// The full configuration of a DI* run, as saved in runs/<id>/config.json and as accepted from the CLI
// (--config run.json) and the UI. Every field has a default that works for the embedded 32x32 model, so
// `{}` is a valid config. Validation is zod; errors list every problem with its path.
//
// This file imports only zod, the reward spec and the contract's limits (all zod-only), so the contract can reuse it.
import { z } from 'zod'
import { configPath, rewardSpecSchema } from '../../ml/rewards/reward-spec.ts'
import { boundedNumber, CONTROL_LIMITS, PromptText, wholeNumber } from '../../contract/limits.ts'

export const RUN_CONFIG_VERSION = 1

/**
 * The generator's input timestep when a config names none. DMD2 and DI* feed pure noise at 399 of 1000 to
 * SDXL-scale models (di-star.md §1); on the embedded 32x32 model the reference at 399 turns pure noise into
 * noise (one-step init FD 1.58), at 800 into blurred emoji layouts (FD 1.07), and 300 DI* steps from 800
 * reach a lower FD with less speckle than from 399 (docs/results.md, "Choosing t_init").
 */
export const DEFAULT_T_INIT = 800

/** Generator EMA decay when a config names none: a horizon of about 50 steps, short next to a 300-step run. */
export const DEFAULT_GENERATOR_EMA_DECAY = 0.98

/**
 * generatorInit's keyword for the one-step generator shipped with the embedded reference
 * (resources/models/one-step-init, made by npm run distill). A folder really named so is './embedded'.
 */
export const EMBEDDED_GENERATOR_INIT = 'embedded'

/** Run ids double as directory names: letters, digits, - and _. */
export const RunId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'run ids are letters, digits, - and _ (at most 64)')

const finite = () => z.number().finite()

/**
 * Starting values of the live controls (src-main/ml/distar/controls.ts). Each may be omitted (the DI*
 * default is used); ranges that depend on the model (tRange vs T) are checked when the run starts.
 * The weights, CFG and learning rates have the bounds of contract/limits.ts, which the live sliders share.
 */
export const RunControls = z.strictObject({
  rewardWeight: boundedNumber(CONTROL_LIMITS.rewardWeight).optional(),
  rewardMix: z.record(z.string().min(1).max(200), boundedNumber(CONTROL_LIMITS.rewardPartWeight)).optional(),
  regulariserWeight: boundedNumber(CONTROL_LIMITS.regulariserWeight).optional(),
  regulariser: z.enum(['score', 'kl']).optional(),
  fullDivergence: z.boolean().optional(),
  huberC: finite().positive().optional(),
  cfgScale: boundedNumber(CONTROL_LIMITS.cfgScale).optional(),
  cfgPlacement: z.enum(['in', 'out']).optional(),
  generatorLr: boundedNumber(CONTROL_LIMITS.generatorLr).optional(),
  fakeLr: boundedNumber(CONTROL_LIMITS.fakeLr).optional(),
  tRange: z.tuple([z.int().min(1), z.int().min(1)]).refine(([a, b]) => a <= b, 'tRange must be [tMin, tMax] with tMin <= tMax').optional(),
  fakeStepsPerGeneratorStep: z.int().min(0).max(100).optional(),
  maxGradNorm: finite().min(0).optional(),
})
export type RunControls = z.output<typeof RunControls>

/**
 * Where the training prompts come from: a list, a text file (one prompt a line), or the emoji
 * catalogue's training-split captions (the embedded model's own prompt distribution).
 */
export const TrainPrompts = z.union([
  z.literal('emoji-train-captions'),
  z.array(PromptText).min(1).max(100_000),
  z.strictObject({ file: configPath }),
])
export type TrainPrompts = z.output<typeof TrainPrompts>

export const RunConfig = z
  .strictObject({
    version: z.literal(RUN_CONFIG_VERSION).default(RUN_CONFIG_VERSION),
    /** shown in run lists; free text */
    name: z.string().max(200).optional(),
    /** the reference model folder; default: the embedded model (resources/models/reference) */
    baseModelDir: configPath.optional(),
    reward: rewardSpecSchema.default({ kind: 'alignment' }),
    controls: RunControls.default({}),
    batchSize: wholeNumber(1, 1024).default(16),
    /** generator steps to run in total */
    steps: wholeNumber(1, 10_000_000).default(300),
    /** everything random in the run derives from this seed (and the step index) */
    seed: wholeNumber(0, 0xffff_ffff).default(0),
    /** the generator's input timestep (see DEFAULT_T_INIT); below the model's T (1000 for the shipped ones), checked at start */
    tInit: wholeNumber(0, 999).default(DEFAULT_T_INIT),
    /**
     * Where the generator starts: 'embedded' (the distilled one-step generator shipped with the embedded
     * reference), or a checkpoint folder with one-step generator weights for this reference (tensors
     * 'generatorEma/<param>' or 'generator/<param>': a DI* run's checkpoints/step-<N>, or the model folder
     * of npm run distill). Absent: the reference itself read at tInit, DI*'s own init. The fake score
     * always starts from the reference.
     */
    generatorInit: z.union([z.literal(EMBEDDED_GENERATOR_INIT), configPath]).optional(),
    prompts: TrainPrompts.default('emoji-train-captions'),
    samples: z
      .strictObject({
        /** a grid every N steps (step 0 included); 0 = only at step 0 and at the end */
        every: wholeNumber(0).default(25),
        /** fixed prompts of the grid; default resources/prompts/showcase.txt */
        prompts: z.array(PromptText).min(1).max(256).optional(),
        /** one seed per prompt; default 0, 1, 2, ... */
        seeds: z.array(z.int().min(0).max(0xffff_ffff)).min(1).max(256).optional(),
        columns: z.int().min(1).max(64).default(8),
      })
      .default({ every: 25, columns: 8 }),
    checkpoints: z
      .strictObject({
        /** a checkpoint every N steps (and always at stop and at the end) */
        every: wholeNumber(1).default(50),
        /** complete checkpoints kept (the oldest are deleted) */
        keep: z.int().min(1).max(1000).default(3),
      })
      .default({ every: 50, keep: 3 }),
    /**
     * Decay of the exponential moving average of the generator weights that sample grids, the gallery and
     * the eval use (the raw weights keep training). Warmed up as min(decay, (1+n)/(10+n)) after n updates;
     * 0 makes the average the raw weights. docs/results.md, "Generator EMA", has the measurement.
     */
    generatorEmaDecay: z.number({ error: 'must be a number' }).min(0, 'must be at least 0 and below 1').lt(1, 'must be at least 0 and below 1').default(DEFAULT_GENERATOR_EMA_DECAY),
    adam: z.strictObject({ beta1: finite().min(0).max(1), beta2: finite().min(0).max(1), epsilon: finite().positive() }).optional(),
    /** skipped (non-finite) steps in a row before the run pauses with a message */
    pauseAfterNonFinite: z.int().min(1).max(1000).default(5),
  })
  .refine((c) => !c.samples.seeds || !c.samples.prompts || c.samples.seeds.length === c.samples.prompts.length, {
    message: 'samples.seeds must have one seed per sample prompt',
    path: ['samples', 'seeds'],
  })
export type RunConfig = z.output<typeof RunConfig>
export type RunConfigInput = z.input<typeof RunConfig>

export class RunConfigError extends Error {
  override name = 'RunConfigError'
}

/** Validates a run config (defaults filled in); the error names every bad field. */
export function parseRunConfig(input: unknown, where = 'run config'): RunConfig {
  const parsed = RunConfig.safeParse(input ?? {})
  if (!parsed.success) throw new RunConfigError(`Invalid ${where}:\n${z.prettifyError(parsed.error)}`)
  return parsed.data
}
