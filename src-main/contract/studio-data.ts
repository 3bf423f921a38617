// Request and result schemas of the studio's data channels: the gallery, past DI* runs, the
// preference choices and model, and the models a user can pick. Long work (training, generation)
// is a job (jobs.ts); these channels only read and write small things the core answers at once.
import { z } from 'zod'
import { RunConfig, RunId, statusText, WorkspacePath } from './jobs.ts'
import { GalleryDeleteParams, GalleryGetParams, GalleryListParams } from '../core/gallery/schemas.ts'

export { GalleryDeleteParams, GalleryGetParams, GalleryListParams }

// ---- Gallery -----------------------------------------------------------------------------------

/** One gallery image and the metadata its PNG carries (core/gallery/image-meta.ts). */
export const GalleryEntry = z.looseObject({
  id: z.string(),
  /** relative to the gallery folder */
  file: z.string(),
  /** relative to the workspace: what a page turns into a file URL */
  path: z.string(),
  prompt: z.string(),
  seed: z.number(),
  model: z.string(),
  modelPath: z.string(),
  modelKind: z.string(),
  checkpointStep: z.number().optional(),
  run: z.string().optional(),
  tInit: z.number().optional(),
  sampler: z.string(),
  steps: z.number(),
  cfg: z.number(),
  width: z.number(),
  height: z.number(),
  createdAt: z.string(),
  generationMs: z.number(),
})
export type GalleryEntry = z.output<typeof GalleryEntry>

export const GalleryPage = z.object({ total: z.int().min(0), entries: z.array(GalleryEntry) })
export type GalleryPage = z.output<typeof GalleryPage>

export const GalleryFacets = z.object({ models: z.array(z.string()), runs: z.array(z.string()), total: z.int().min(0) })

/** Copy chosen images (with their metadata chunks) into a folder of the workspace. */
export const GalleryExportParams = z.strictObject({
  ids: z.array(z.string().min(1).max(200)).min(1).max(10_000),
  /** workspace-relative folder; default exports/gallery-<time> */
  folder: WorkspacePath.optional(),
})
/** `files`: the copies, workspace-relative (a browser fetches them for one zip download). */
export const GalleryExportResult = z.object({ folder: z.string(), exported: z.int().min(0), missing: z.array(z.string()), files: z.array(z.string()) })

// ---- DI* runs ----------------------------------------------------------------------------------

/**
 * What a run folder's status.json says, except 'interrupted': it says starting, running or paused but no
 * job of this studio trains it and no other live process wrote it (the process died before it could save).
 */
export const RunState = z.enum(['starting', 'running', 'paused', 'stopped', 'completed', 'failed', 'interrupted'])

export const RunSummary = z.object({
  runId: z.string(),
  name: z.string().optional(),
  /** unknown: the run folder has no readable status.json */
  state: z.union([RunState, z.literal('unknown')]),
  step: z.int().min(0),
  totalSteps: z.int().min(0),
  message: z.string().optional(),
  checkpointStep: z.int().min(0).optional(),
  updatedAt: z.string().optional(),
  /** a job of this studio is training it now */
  activeJobId: z.string().optional(),
})
export type RunSummary = z.output<typeof RunSummary>

/** A run's state in the studio's status words (jobs.ts), with where a stop saved: "stopped, saved at step 12". */
export function runStateText(run: Pick<RunSummary, 'state' | 'step' | 'checkpointStep'>): string {
  return statusText(run.state, run.state === 'stopped' && run.checkpointStep === run.step ? run.checkpointStep : undefined)
}

export const RunDetail = z.object({
  summary: RunSummary,
  /** the run's saved config.json; null when missing or unreadable */
  config: z.unknown(),
  /** one entry per logged step: flat metric names as the job streams them */
  metrics: z.array(z.object({ step: z.int().min(0), values: z.record(z.string(), z.number()) })),
  /** control changes, applied from `step` */
  controlChanges: z.array(z.object({ step: z.int().min(0), changes: z.record(z.string(), z.unknown()) })),
  /** sample grids, oldest first; path is workspace-relative */
  samples: z.array(z.object({ step: z.int().min(0), path: z.string() })),
  problems: z.array(z.string()),
})
export type RunDetail = z.output<typeof RunDetail>

// ---- Preferences -------------------------------------------------------------------------------

/** Two gallery images of one prompt for the user to judge; null when the gallery has no such pair. */
export const PreferencePair = z
  .object({
    prompt: z.string(),
    /** workspace-relative PNG paths */
    imageA: z.string(),
    imageB: z.string(),
    idA: z.string(),
    idB: z.string(),
    /** what made each image (model, run and step): the pair sets two models against each other when it can */
    modelA: z.string(),
    modelB: z.string(),
  })
  .nullable()

/**
 * Choices the preference model needs before it can train (ml/rewards/preference-model.ts
 * MIN_PREFERENCE_PAIRS; a test keeps the two equal), and from which it holds some out to measure itself.
 * Ties do not count: they say neither image is better.
 */
export const PREFERENCE_MIN_CHOICES = 4
export const PREFERENCE_MIN_HELD_OUT = 5

/** Pairs the Prefer view skipped: nextPair offers them last. */
export const PreferenceNextPairParams = z.strictObject({
  skip: z.array(z.strictObject({ imageA: WorkspacePath, imageB: WorkspacePath })).max(500).default([]),
})

/** winner 'tie': neither is better (stored, never trained on). */
export const PreferenceChoiceParams = z
  .strictObject({ prompt: z.string().max(1000), imageA: WorkspacePath, imageB: WorkspacePath, winner: z.enum(['A', 'B', 'tie']) })
  .refine((c) => c.imageA !== c.imageB, { message: 'imageA and imageB must be different images', path: ['imageB'] })

export const PreferenceStatus = z.object({
  choices: z.int().min(0),
  /** of them, ties (the model trains on the others) */
  ties: z.int().min(0),
  problems: z.array(z.string()),
  /** the trained model, or null before the first training */
  model: z
    .object({
      /** workspace-relative: the reward spec's modelDir */
      modelDir: z.string(),
      choices: z.int(),
      trainPairs: z.int(),
      heldOutPairs: z.int(),
      trainAccuracy: z.number(),
      heldOutAccuracy: z.number().nullable(),
      trainedAt: z.string(),
    })
    .nullable(),
})
export type PreferenceStatus = z.output<typeof PreferenceStatus>

// ---- Models ------------------------------------------------------------------------------------

export const ModelInfo = z.object({
  /** what a job's model choice names: 'reference', 'one-step-init' or a workspace-relative folder */
  path: z.string(),
  name: z.string(),
  /**
   * diffusion: a saved DiT (usable as base model and, with t_init, as a one-step generator); onnx: an
   * ONNX package; run: a DI* run folder, whose newest checkpoint's generator makes images in one step;
   * one-step: the distilled one-step generator shipped with the reference (path 'one-step-init')
   */
  kind: z.enum(['reference', 'one-step', 'diffusion', 'onnx', 'run']),
  available: z.boolean(),
  /** why it is unavailable, or a one-line description */
  detail: z.string(),
  /** for runs: the checkpoint step whose generator is used */
  step: z.int().min(0).optional(),
})
export type ModelInfo = z.output<typeof ModelInfo>

/** A model choice as models.list names it: 'reference', 'one-step-init' or a workspace-relative folder. */
export const ModelChoice = z.string().min(1).max(1024).refine((p) => !p.includes('\0'), 'path must not contain NUL characters')

/** Which words of some prompts a model cannot read, asked before generating or training. */
export const PromptCheckParams = z.strictObject({
  model: ModelChoice,
  prompts: z.array(z.string().max(1000)).max(1000),
})
export type PromptCheckParams = z.output<typeof PromptCheckParams>

export const PromptCheck = z.object({
  /** false for a prompt-free model, which reads no words at all */
  readsPrompts: z.boolean(),
  /** words the model knows, and how many of a prompt's words it reads */
  vocabularySize: z.int().min(0),
  maxLength: z.int().min(0),
  /** each unknown word once, with the closest known word (WordNet) to try instead, or null */
  unknownWords: z.array(z.object({ word: z.string(), suggestion: z.string().nullable() })),
  /** prompts longer than maxLength words (the rest is ignored) */
  truncated: z.array(z.string()),
  /** prompts with no word the model knows ("!!!", "lemon", an emoji whose name it never learnt): it cannot follow them */
  noKnownWords: z.array(z.string()),
  /** emoji in the prompts, each once, with the name the model reads instead ("🍎" -> "red apple") */
  emoji: z.array(z.object({ emoji: z.string(), name: z.string() })),
  /** prompts over PROMPT_MAX_CHARS characters, which the studio refuses (limits.ts PROMPT_TOO_LONG says why) */
  tooLong: z.array(z.string()),
  /** one sentence for the user, or null when every word is read */
  notice: z.string().nullable(),
})
export type PromptCheck = z.output<typeof PromptCheck>

/** The emoji a model was trained on, for the prompt helper ("Browse emoji" beside the prompt boxes). */
export const KnownEmojiParams = z.strictObject({ model: ModelChoice })
export type KnownEmojiParams = z.output<typeof KnownEmojiParams>

export const KnownEmoji = z.object({
  /** false when the studio has no record of the model's training data (an ONNX package): no list then */
  known: z.boolean(),
  /** one sentence for the user: what the list is, or why there is none */
  detail: z.string(),
  /**
   * The drawing styles of its training data, in the catalogue's order (e.g. twitter, google). An emoji's
   * prompt in one style is its prompt + the style's suffix ("red apple" + ", twitter style"), the canonical caption.
   */
  styles: z.array(z.object({ style: z.string(), suffix: z.string() })),
  /** emoji in all categories */
  count: z.int().min(0),
  /** Unicode's emoji order (Smileys & Emotion, People & Body, ..., Flags), emoji in that order inside each */
  categories: z.array(z.object({
    name: z.string(),
    emoji: z.array(z.object({
      /** code points, e.g. '1f34e' */
      key: z.string(),
      /** e.g. 'red apple' */
      name: z.string(),
      /** what "Browse emoji" inserts: its name, a caption it was trained on in every style */
      prompt: z.string(),
      /** the styles it is drawn in, when not every one of `styles` */
      styles: z.array(z.string()).optional(),
    })),
  })),
})
export type KnownEmoji = z.output<typeof KnownEmoji>

export { RunConfig, RunId }
