// Studio settings the user edits in the Settings view: where the workspace lives, which TensorFlow.js
// backend trains, and the thread counts the studio really controls. Saved as settings.json in the
// studio's config folder (core/settings.ts), validated with these schemas on every read.
import { z } from 'zod'
import { TfBackendName, WorkspaceInfo } from './reports.ts'

export const TfBackendPreference = z.enum(['auto', ...TfBackendName.options])
export type TfBackendPreference = z.output<typeof TfBackendPreference>

/** onnxruntime's intra-op threads are capped here; 0 lets onnxruntime choose (one per core). */
export const MAX_ONNX_THREADS = 64
/** Jobs the studio runs at once (each in its own worker thread); more than two only slows a 2-core machine. */
export const MAX_JOBS_AT_ONCE = 2
/** Threads one DI* run computes its gradients on (data-parallel, wasm/cpu backends); 0 = automatic. */
export const MAX_TRAINING_THREADS = 16

export const StudioSettings = z.strictObject({
  /** Absolute folder chosen in Settings; null = the folder the studio was started with. */
  workspace: z.string().min(1).max(4096).nullable(),
  /** Backend the next TensorFlow.js job initialises ('auto' = fastest available). */
  tfBackend: TfBackendPreference,
  /** onnxruntime intra-op threads for generation jobs (gallery, compare); 0 = onnxruntime's default. */
  onnxThreads: z.int().min(0).max(MAX_ONNX_THREADS),
  /** Jobs run at once; later ones wait in the queue. */
  jobsAtOnce: z.int().min(1).max(MAX_JOBS_AT_ONCE),
  /**
   * Threads a DI* run splits each batch over (the job's thread + data-parallel workers); 0 = automatic:
   * the cores shared among the jobs at once on the wasm/cpu backends, 1 on tfjs-node (already multi-threaded).
   * A settings file written before it existed gets the default (core/settings.ts fills absent fields).
   */
  trainingThreads: z.int().min(0).max(MAX_TRAINING_THREADS),
})
export type StudioSettings = z.output<typeof StudioSettings>

export const DEFAULT_SETTINGS: StudioSettings = { workspace: null, tfBackend: 'auto', onnxThreads: 0, jobsAtOnce: 1, trainingThreads: 0 }

/** A change from the Settings view: only the named fields change. */
export const SettingsUpdate = StudioSettings.partial()
export type SettingsUpdate = z.input<typeof SettingsUpdate>

export const SettingsFileState = z.enum([
  'loaded', // read from the settings file
  'defaults', // no settings file yet: defaults until the first change
  'recovered', // the file was unreadable or partly invalid: defaults used where needed (see warnings)
  'memory', // this studio keeps settings in memory only (tests)
])

export const SettingsReport = z.object({
  settings: StudioSettings,
  /** Where the settings are saved; null when kept in memory only. */
  file: z.string().nullable(),
  fileState: SettingsFileState,
  /** Problems to show the user: a corrupt file, a saved workspace that could not be opened. */
  warnings: z.array(z.string()),
  /** The workspace in use now. */
  workspace: WorkspaceInfo,
  /** The folder given at start (--workspace, DI_STUDIO_HOME, or the default): used when settings name none. */
  launchWorkspace: WorkspaceInfo,
  /** TensorFlow.js backends installed here (the choices besides 'auto'). */
  tfBackends: z.array(TfBackendName),
  cpus: z.int().min(1),
  /** Jobs are queued or running: the workspace cannot be switched until they end. */
  busy: z.boolean(),
})
export type SettingsReport = z.output<typeof SettingsReport>
