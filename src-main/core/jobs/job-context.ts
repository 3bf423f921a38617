// What a job sees while it runs inside its worker: emitters for progress, metrics and logs,
// an AbortSignal, live controls, and a pause point. Job kinds are written against this alone.
import type { JobControl, JobKind, JobParamsByKind, JobRuntime } from '../../contract/index.ts'
import type { Workspace } from '../workspace.ts'
import type { JobSettings } from './worker-protocol.ts'

export type SetControl = Extract<JobControl, { type: 'set' }>

export interface JobContext {
  readonly jobId: string
  /** Aborted when the user cancels; long loops should pass it on or call checkpoint(). */
  readonly signal: AbortSignal
  /** Resolves client paths inside the workspace (refuses anything outside). */
  readonly workspace: Workspace
  /** The user's settings for this job (Settings view): the backend to prefer, onnxruntime threads (absent: defaults). */
  readonly settings?: JobSettings
  /** Work done so far out of total; the runtime adds the fraction and an ETA and throttles. */
  progress(done: number, total: number, message?: string): void
  metrics(step: number, values: Record<string, number>): void
  log(message: string, level?: 'info' | 'warn' | 'error'): void
  /**
   * Announce a file the job wrote inside the workspace (path relative to it, forward slashes), such as
   * a sample grid; clients show it through their workspace-file URL. Throws if the path is outside.
   */
  artifact(kind: string, path: string, details?: { step?: number; caption?: string }): void
  /** Say what the job computes on once its engine is initialised (shown beside the job in the UI). */
  reportRuntime?(runtime: JobRuntime): void
  /** Live `set` controls (e.g. a new reward weight); pause and resume are handled by checkpoint(). */
  onControl(handler: (control: SetControl) => void): () => void
  /**
   * Call between units of work: returns at once normally, waits while the job is paused,
   * and throws JobCancelledError once the job is cancelled.
   */
  checkpoint(): Promise<void>
  /**
   * The job paused itself (a DI* run's NaN guard; log why first): it shows as paused until the user
   * resumes it, which calls `onResume` (a cancel ends it as usual, through the signal).
   */
  pausedByJob?(onResume: () => void): void
}

export interface JobRunner<K extends JobKind> {
  run(ctx: JobContext, params: JobParamsByKind[K]): Promise<unknown>
}

export class JobCancelledError extends Error {
  /** What the job saved before it stopped (a DI* run: its state and checkpoint step); kept as the job's result. */
  constructor(readonly result?: unknown) {
    super('Job cancelled')
    this.name = 'JobCancelledError'
  }
}
