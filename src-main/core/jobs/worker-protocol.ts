// Messages between the job manager (parent thread) and a job worker. Internal to the core.
import type { EventPayload, JobControl, JobKind, JobRuntime, WorkspaceInfo } from '../../contract/index.ts'
import type { TfBackendName } from '../../ml/backend/probe.ts'

export interface JobWorkerData {
  jobId: string
  kind: JobKind
  params: unknown
  workspace: WorkspaceInfo
  settings: JobSettings
}

/** The user's settings a job honours, fixed when its worker starts. */
export interface JobSettings {
  /** TensorFlow.js backend to initialise; absent = the fastest available */
  tfBackend?: TfBackendName
  /** onnxruntime intra-op threads; absent = onnxruntime's default */
  onnxThreads?: number
  /** threads a DI* run computes gradients on; absent = automatic (see jobTrainingThreads) */
  trainingThreads?: number
  /** jobs the studio runs at once (automatic training threads share the cores among them) */
  jobsAtOnce?: number
}

export type ToWorker = { type: 'cancel' } | { type: 'control'; control: JobControl }

/** Events a job emits itself; status, error and done are the manager's to send. */
export type WorkerEvent =
  | { channel: 'job.progress'; payload: EventPayload<'job.progress'> }
  | { channel: 'job.metrics'; payload: EventPayload<'job.metrics'> }
  | { channel: 'job.log'; payload: EventPayload<'job.log'> }
  | { channel: 'job.artifact'; payload: EventPayload<'job.artifact'> }

export type FromWorker =
  | { type: 'event'; event: WorkerEvent }
  | { type: 'paused'; paused: boolean }
  | { type: 'runtime'; runtime: JobRuntime }
  | { type: 'result'; result: unknown }
  | { type: 'failure'; message: string; cancelled: boolean; result?: unknown }
