// Job kinds the studio can run, each with the schema of its parameters and of its live controls,
// and a runner for each in src-main/core/jobs/kinds/; a test checks the two lists agree.
// The DI* run config and the gallery job params are defined beside their engines (zod-only files,
// so the contract stays browser-safe) and re-used here rather than copied.
import { z } from 'zod'
import { boundedNumber, CONTROL_LIMITS } from './limits.ts'
import { DEFAULT_T_INIT, RunConfig, RunControls, RunId } from '../core/runs/run-config.ts'
import { configPath } from '../ml/rewards/reward-spec.ts'
import { GalleryRegenerateJobParams, GenerateGalleryJobParams, OnnxImportJobParams } from '../core/gallery/schemas.ts'
import { DatasetImportJobParams } from './datasets.ts'

export { DEFAULT_T_INIT, RunConfig, RunId, GalleryRegenerateJobParams, GenerateGalleryJobParams, OnnxImportJobParams }
export type { RunConfigInput } from '../core/runs/run-config.ts'

/** A path relative to the workspace (bounded, NUL-free). The core resolves it and refuses anything that escapes. */
export const WorkspacePath = configPath

/** The demo job: a seeded Monte-Carlo estimate of pi in chunks. Real work, real progress, real cancel. */
export const DemoJobParams = z.strictObject({
  samples: z.int().min(1_000).max(5_000_000_000).default(20_000_000),
  chunks: z.int().min(1).max(10_000).default(100),
  seed: z.int().min(0).max(0xffff_ffff).default(1),
  /** Error path on purpose: the job throws when it reaches this chunk. */
  failAtChunk: z.int().min(0).optional(),
  /** Where to save the result as JSON, relative to the workspace. */
  saveResultAs: WorkspacePath.optional(),
})
export type DemoJobParams = z.output<typeof DemoJobParams>

/** A DI* run: start a new one from a config (paths in it are workspace paths), or resume one by id. */
export const DistarTrainJobParams = z.union([
  z.strictObject({ config: RunConfig, runId: RunId.optional() }),
  z.strictObject({ resume: RunId }),
])

/** Retrain the user-preference model from the stored choices (Prefer view). */
export const PreferenceTrainJobParams = z.strictObject({
  /** hidden units of the Bradley-Terry head; 0 = linear (the default: a few dozen choices cannot fit more) */
  hidden: z.int().min(0).max(256).default(0),
  seed: z.int().min(0).max(0xffff_ffff).default(0),
  heldOutFraction: z.number().min(0.05).max(0.5).optional(),
})

/** Score images (workspace PNGs) with the studio's rewards: the numbers beside images in Compare. */
export const ScoreImagesJobParams = z.strictObject({
  images: z.array(z.strictObject({ path: WorkspacePath, prompt: z.string().max(1000) })).min(1).max(512),
  rewards: z.array(z.enum(['alignment', 'colourfulness', 'brightness', 'contrast'])).min(1).max(4).default(['alignment', 'colourfulness', 'brightness', 'contrast']),
})
export type ScoreImagesResult = { scores: { path: string; values: Record<string, number> }[] }

export const StartJobParams = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('demo'), params: DemoJobParams }),
  z.strictObject({ kind: z.literal('distar-train'), params: DistarTrainJobParams }),
  z.strictObject({ kind: z.literal('generate-gallery'), params: GenerateGalleryJobParams }),
  z.strictObject({ kind: z.literal('gallery-regenerate'), params: GalleryRegenerateJobParams }),
  z.strictObject({ kind: z.literal('onnx-import'), params: OnnxImportJobParams }),
  z.strictObject({ kind: z.literal('preference-train'), params: PreferenceTrainJobParams }),
  z.strictObject({ kind: z.literal('score-images'), params: ScoreImagesJobParams }),
  z.strictObject({ kind: z.literal('dataset-import'), params: DatasetImportJobParams }),
])
export type StartJobParams = z.input<typeof StartJobParams>
export type JobKind = z.output<typeof StartJobParams>['kind']

/** Parameters of each kind once validated, by kind name. */
export type JobParamsByKind = { [K in JobKind]: Extract<z.output<typeof StartJobParams>, { kind: K }>['params'] }

export interface JobKindInfo {
  title: string
  description: string
  /**
   * Schema of the values a running job of this kind accepts in a `set` control (for DI* training:
   * reward weight, CFG scale, learning rates...). An empty object means no live settings.
   */
  settable: z.ZodType<Record<string, ControlValue>>
  /**
   * Cancel means "stop and save": the runner stops at its next pause point and writes its state (a DI*
   * run finishes its current step, however long, then checkpoints). The manager never terminates such a
   * job's thread on cancel, which would lose that state.
   */
  stopSaves?: boolean
}

/** Live controls a running job may receive (DI* training changes weights, pauses and resumes). */
export const ControlValue = z.union([z.number(), z.string().max(256), z.boolean()])
export type ControlValue = z.output<typeof ControlValue>

/**
 * What a running DI* job accepts in a `set` control: the run's scalar controls by name, the t range as
 * tMin / tMax, one reward's relative weight as 'rewardMix.<reward>' (core/runs/live-controls.ts maps
 * them), and resumeAfterNonFinite to continue after the NaN guard paused the run. Ranges that depend
 * on the model are checked by the run, which logs a refused value rather than failing.
 */
// The scalar controls are the run config's own (one schema, so a control the run accepts at start is
// the same control it accepts live); the t range travels as two scalars.
const DistarScalarControls = RunControls.omit({ tRange: true, rewardMix: true }).extend({
  tMin: z.int().min(0).optional(),
  tMax: z.int().min(0).optional(),
  resumeAfterNonFinite: z.literal(true).optional(),
})
const DISTAR_SETTABLE_KEYS = new Set(Object.keys(DistarScalarControls.shape))

export const DistarSettable = DistarScalarControls.strip()
  // the rewardMix.<reward> weights: a per-reward weight, as in the run config
  .catchall(boundedNumber(CONTROL_LIMITS.rewardPartWeight))
  .superRefine((values, ctx) => {
    for (const key of Object.keys(values)) {
      if (DISTAR_SETTABLE_KEYS.has(key) || (key.startsWith('rewardMix.') && key.length > 'rewardMix.'.length)) continue
      ctx.addIssue({ code: 'custom', path: [key], message: `unknown DI* control '${key}'` })
    }
  }) as z.ZodType<Record<string, ControlValue>>

const NOTHING_SETTABLE = z.strictObject({}) as z.ZodType<Record<string, ControlValue>>

export const JOB_KIND_INFO: Record<JobKind, JobKindInfo> = {
  demo: {
    title: 'Demo: Monte-Carlo estimate of pi',
    description: 'Throws seeded random points at the unit square in chunks; proves workers, progress, metrics and cancel.',
    settable: NOTHING_SETTABLE,
  },
  'distar-train': {
    title: 'DI* post-training run',
    description: 'Trains a one-step generator from a reference diffusion model with rewards and a score-based regulariser; live controls, pause, resume, stop with a checkpoint.',
    settable: DistarSettable,
    stopSaves: true,
  },
  'generate-gallery': {
    title: 'Generate a gallery',
    description: 'Prompts x seeds x models through onnxruntime into the gallery, each PNG carrying its metadata.',
    settable: NOTHING_SETTABLE,
  },
  'gallery-regenerate': {
    title: 'Re-generate gallery images',
    description: 'Re-creates images from the metadata in their PNGs (same model file, prompt, seed and sampler).',
    settable: NOTHING_SETTABLE,
  },
  'onnx-import': {
    title: 'Import an ONNX generator',
    description: 'Checks a one-step generator in ONNX against the documented signature and adds it to the workspace models.',
    settable: NOTHING_SETTABLE,
  },
  'preference-train': {
    title: 'Train the preference model',
    description: 'Fits the Bradley-Terry head over image features to the stored choices and reports its held-out accuracy.',
    settable: NOTHING_SETTABLE,
  },
  'score-images': {
    title: 'Score images',
    description: 'Alignment (CLIP-score analogue) and image rewards for workspace images, as DI* sees them.',
    settable: NOTHING_SETTABLE,
  },
  'dataset-import': {
    title: 'Import a dataset',
    description: 'Reads a folder of captioned images (kohya .txt or imagefolder metadata), decodes them to 32 or 64 pixels and writes a dataset with a report of every file skipped.',
    settable: NOTHING_SETTABLE,
  },
}
export const JobControl = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('pause') }),
  z.strictObject({ type: z.literal('resume') }),
  z.strictObject({ type: z.literal('set'), values: z.record(z.string().min(1).max(64), ControlValue) }),
])
export type JobControl = z.output<typeof JobControl>

export const JobStatus = z.enum(['queued', 'running', 'paused', 'cancelling', 'succeeded', 'failed', 'cancelled'])
export type JobStatus = z.output<typeof JobStatus>
export const FinalJobStatus = z.enum(['succeeded', 'failed', 'cancelled'])
export type FinalJobStatus = z.output<typeof FinalJobStatus>

/**
 * The one set of words the studio shows for what jobs and runs are doing (job cards, the run's badge,
 * the runs list): a job that succeeded "completed", one cancelled "stopped", as a run's state says.
 * 'interrupted': a run whose status.json says it is training while no process trains it (killed).
 */
export type StatusWord = 'queued' | 'starting' | 'running' | 'paused' | 'stopping' | 'stopped' | 'completed' | 'failed' | 'interrupted' | 'unknown'

const JOB_STATUS_WORD: Record<JobStatus, StatusWord> = {
  queued: 'queued', running: 'running', paused: 'paused', cancelling: 'stopping', succeeded: 'completed', failed: 'failed', cancelled: 'stopped',
}

export function jobStatusWord(status: JobStatus): StatusWord {
  return JOB_STATUS_WORD[status]
}

/** A status word with where a stop saved: "stopped, saved at step 12". */
export function statusText(word: StatusWord, savedAtStep?: number): string {
  return word === 'stopped' && savedAtStep !== undefined ? `stopped, saved at step ${savedAtStep}` : word
}

/** A job's status as shown: its status word, and for a stopped job that saved (a DI* run) the step it saved at. */
export function jobStatusText(job: { status: JobStatus; result?: unknown }): string {
  const saved = job.result !== null && typeof job.result === 'object' && 'checkpointStep' in job.result && 'step' in job.result &&
    job.result.checkpointStep === job.result.step && typeof job.result.step === 'number' ? job.result.step : undefined
  return statusText(jobStatusWord(job.status), saved)
}

/** The engine a job runs on: TensorFlow.js with its backend, or onnxruntime with its provider and threads. */
export const JobRuntime = z.object({
  engine: z.enum(['tensorflow.js', 'onnxruntime']),
  /** tfjs backend name (tensorflow-gpu, tensorflow, wasm, cpu) or onnxruntime provider(s), e.g. 'cpu' */
  backend: z.string().min(1).max(64),
  /** onnxruntime intra-op threads asked for (0 = onnxruntime's default); for TensorFlow.js, the DI* trainer's data-parallel threads */
  threads: z.int().min(0).optional(),
  detail: z.string().max(2000),
})
export type JobRuntime = z.output<typeof JobRuntime>

export const JobId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'job ids are letters, digits, - and _')

export const JobSummary = z.object({
  jobId: JobId,
  kind: z.string(),
  status: JobStatus,
  createdAt: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  progress: z.object({ done: z.number(), total: z.number() }).optional(),
  error: z.string().optional(),
  result: z.unknown().optional(),
  /** What the job computed on (its job.runtime event), once known. */
  runtime: JobRuntime.optional(),
  /** Its warnings (job.log events of level 'warn'), each once, oldest first: a page keeps them in view. */
  warnings: z.array(z.string()).optional(),
  /** Files the job announced (job.artifact events), oldest first. */
  artifacts: z
    .array(z.object({ kind: z.string(), path: z.string(), step: z.int().optional(), caption: z.string().optional() }))
    .optional(),
})
export type JobSummary = z.output<typeof JobSummary>
