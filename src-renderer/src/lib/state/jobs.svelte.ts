// Jobs as the UI sees them, kept current from the core's events.
import type { JobRuntime, JobStatus, RequestParams, StudioEvent } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'

export interface JobView {
  jobId: string
  kind: string
  status: JobStatus
  done: number
  total: number
  fraction: number
  etaSeconds?: number
  message?: string
  metrics: Record<string, number>
  error?: string
  result?: unknown
  log: string[]
  /** Its warnings, each once (the log shows only the newest line; these stay in view) */
  warnings: string[]
  /** What the job computes on (backend, threads), once it reported it. */
  runtime?: JobRuntime
  /** Files the job announced in the workspace, newest last. */
  artifacts: { kind: string; path: string; step?: number; caption?: string }[]
}

const ACTIVE: JobStatus[] = ['queued', 'running', 'paused', 'cancelling']

export function isActive(job: JobView): boolean {
  return ACTIVE.includes(job.status)
}

export class JobsState {
  /** Newest first. */
  jobs = $state<JobView[]>([])
  actionError = $state<string | null>(null)

  constructor(private readonly client: StudioClient) {
    client.onEvent((event) => this.apply(event))
    client.onConnectionState((state) => {
      if (state === 'open') void this.refresh()
    })
  }

  async refresh(): Promise<void> {
    try {
      const summaries = await this.client.listJobs({})
      for (const s of summaries) {
        const job = this.ensure(s.jobId, s.kind)
        job.status = s.status
        if (s.progress) Object.assign(job, { done: s.progress.done, total: s.progress.total, fraction: s.progress.done / s.progress.total })
        if (s.error) job.error = s.error
        if (s.result !== undefined) job.result = s.result
        if (s.artifacts) job.artifacts = s.artifacts
        if (s.runtime) job.runtime = s.runtime
        if (s.warnings) job.warnings = [...new Set([...job.warnings, ...s.warnings])]
      }
    } catch (err) {
      this.actionError = (err as Error).message
    }
  }

  /** Forget every job (another workspace has its own history), then load the studio's list. */
  async reset(): Promise<void> {
    this.jobs = []
    this.actionError = null
    await this.refresh()
  }

  start(request: RequestParams<'jobs.start'>): Promise<void> {
    return this.act(async () => {
      const { jobId } = await this.client.startJob(request)
      this.ensure(jobId, request.kind)
    })
  }

  /** Start a job for a form: its id, or the studio's refusal for the form to show beside its button (actionError is left alone). */
  async tryStart(request: RequestParams<'jobs.start'>): Promise<{ jobId: string } | { error: string }> {
    try {
      const { jobId } = await this.client.startJob(request)
      this.ensure(jobId, request.kind)
      return { jobId }
    } catch (err) {
      return { error: (err as Error).message }
    }
  }

  /** Start a job; its id, or null when the studio refused (actionError then says why). */
  async startAndReturn(request: RequestParams<'jobs.start'>): Promise<string | null> {
    try {
      const { jobId } = await this.client.startJob(request)
      this.ensure(jobId, request.kind)
      this.actionError = null
      return jobId
    } catch (err) {
      this.actionError = (err as Error).message
      return null
    }
  }

  cancel(jobId: string): Promise<void> {
    return this.act(() => this.client.cancelJob({ jobId }))
  }

  pause(jobId: string): Promise<void> {
    return this.act(() => this.client.controlJob({ jobId, control: { type: 'pause' } }))
  }

  resume(jobId: string): Promise<void> {
    return this.act(() => this.client.controlJob({ jobId, control: { type: 'resume' } }))
  }

  private async act(action: () => Promise<unknown>): Promise<void> {
    try {
      await action()
      this.actionError = null
    } catch (err) {
      this.actionError = (err as Error).message
    }
  }

  private ensure(jobId: string, kind: string): JobView {
    let job = this.jobs.find((j) => j.jobId === jobId)
    if (!job) {
      this.jobs.unshift({ jobId, kind, status: 'queued', done: 0, total: 1, fraction: 0, metrics: {}, log: [], warnings: [], artifacts: [] })
      job = this.jobs[0]!
    }
    return job
  }

  private apply(event: StudioEvent): void {
    const p = event.payload
    const job = this.ensure(p.jobId, 'kind' in p ? p.kind : 'job')
    switch (event.channel) {
      case 'job.status':
        job.status = event.payload.status
        break
      case 'job.progress': {
        const { done, total, fraction, etaSeconds, message } = event.payload
        Object.assign(job, { done, total, fraction, etaSeconds, message })
        break
      }
      case 'job.metrics':
        job.metrics = event.payload.values
        break
      case 'job.log':
        job.log = [...job.log.slice(-49), event.payload.message]
        if (event.payload.level === 'warn' && !job.warnings.includes(event.payload.message)) job.warnings = [...job.warnings, event.payload.message].slice(-20)
        break
      case 'job.artifact': {
        const { kind, path, step, caption } = event.payload
        job.artifacts = [...job.artifacts.slice(-19), { kind, path, step, caption }]
        break
      }
      case 'job.error':
        job.error = event.payload.message
        break
      case 'job.runtime': {
        const { jobId: _, ...runtime } = event.payload
        job.runtime = runtime
        break
      }
      case 'job.done':
        job.status = event.payload.status
        if (event.payload.result !== undefined) job.result = event.payload.result
        break
    }
  }
}
