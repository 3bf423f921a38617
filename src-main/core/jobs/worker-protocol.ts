// Messages between the job manager (parent thread) and a job worker. Internal to the core.
import type { EventPayload, JobControl, JobKind, WorkspaceInfo } from '../../contract/index.ts'

export interface JobWorkerData {
  jobId: string
  kind: JobKind
  params: unknown
  workspace: WorkspaceInfo
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
  | { type: 'result'; result: unknown }
  | { type: 'failure'; message: string; cancelled: boolean }
