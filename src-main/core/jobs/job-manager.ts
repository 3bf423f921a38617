// Runs jobs in worker_threads, one worker per job, and turns what the workers say into contract
// events (status, progress, metrics, log, error, done). Jobs beyond maxConcurrent wait in a queue:
// training jobs each want the whole CPU.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { FinalJobStatus, JOB_KIND_INFO, JobSummary, StudioError, describeIssues, parseEvent } from '../../contract/index.ts'
import type { JobControl, JobStatus, StartJobParams, StudioEvent, WorkspaceInfo } from '../../contract/index.ts'
import { atomicWriteFile } from '../../util/atomic-write.ts'
import type { z } from 'zod'
import { createLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { FromWorker, JobSettings, JobWorkerData, ToWorker } from './worker-protocol.ts'

type StartRequest = z.output<typeof StartJobParams>

/** Artifacts remembered per job in its summary (a long DI* run announces many sample grids). */
const MAX_ARTIFACTS_KEPT = 50
/** Warnings remembered per job in its summary (each once), so a page shows them pinned, not as a passing log line. */
const MAX_WARNINGS_KEPT = 20

export interface JobManagerOptions {
  workspace: WorkspaceInfo
  /** Path of the worker script; defaults to the one beside this module (source or build). */
  workerEntry?: string
  maxConcurrent?: number
  /** Start requests beyond this many waiting jobs are refused rather than queued without bound. */
  maxQueued?: number
  /** How long a cancelled job may take to stop on its own before its thread is terminated (not kinds whose stop saves). */
  cancelGraceMs?: number
  /** Folder for one JSON record per finished job, read back as history at start-up. */
  recordsDir?: string
  /** The user's settings for a job, read when its worker starts (so a queued job gets the newest). */
  jobSettings?: () => JobSettings
  logger?: Logger
}

interface JobEntry {
  summary: JobSummary
  /** Absent for jobs of an earlier session, known only from their record. */
  request?: StartRequest
  worker?: Worker
  startedMs?: number
  cancelTimer?: NodeJS.Timeout
  finished: boolean
}

export class JobManager {
  private readonly jobs = new Map<string, JobEntry>()
  private readonly queue: string[] = []
  private readonly listeners = new Set<(event: StudioEvent) => void>()
  private readonly workerEntry: string
  private maxConcurrent: number
  private readonly maxQueued: number
  private readonly cancelGraceMs: number
  private readonly log: Logger

  constructor(private readonly options: JobManagerOptions) {
    this.workerEntry = options.workerEntry ?? defaultWorkerEntry()
    this.maxConcurrent = options.maxConcurrent ?? 1
    this.maxQueued = options.maxQueued ?? 100
    this.cancelGraceMs = options.cancelGraceMs ?? 5_000
    this.log = options.logger ?? createLogger('jobs')
  }

  onEvent(listener: (event: StudioEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  start(request: StartRequest): { jobId: string } {
    if (this.queue.length >= this.maxQueued) {
      throw new StudioError('conflict', `${this.queue.length} jobs are already waiting; cancel some or wait for them to finish`)
    }
    const jobId = `${request.kind}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
    const summary: JobSummary = { jobId, kind: request.kind, status: 'queued', createdAt: new Date().toISOString() }
    this.jobs.set(jobId, { summary, request, finished: false })
    this.queue.push(jobId)
    this.setStatus(jobId, 'queued')
    this.pump()
    return { jobId }
  }

  cancel(jobId: string): JobStatus {
    const job = this.get(jobId)
    if (job.finished) throw new StudioError('conflict', `Job ${jobId} has already ${job.summary.status}`)
    if (!job.worker) {
      // Still queued: nothing is running, so it ends here.
      this.queue.splice(this.queue.indexOf(jobId), 1)
      this.finish(job, 'cancelled', {})
      return job.summary.status
    }
    if (job.summary.status !== 'cancelling') {
      this.setStatus(jobId, 'cancelling')
      this.send(job, { type: 'cancel' })
      if (job.request && JOB_KIND_INFO[job.request.kind].stopSaves) {
        // Stop and save: the job ends by itself once its current step is done, however long that takes;
        // terminating the thread would lose the state it is about to write.
        this.emit('job.log', { jobId, level: 'info', message: 'Stopping: the current step finishes, then the job saves and ends' })
        return job.summary.status
      }
      job.cancelTimer = setTimeout(() => {
        this.log.warn(`Job ${jobId} did not stop within ${this.cancelGraceMs} ms of cancel; terminating its thread`)
        void job.worker?.terminate()
      }, this.cancelGraceMs)
    }
    return job.summary.status
  }

  /** Forwards a live control to a running job; false when the job is not running. */
  control(jobId: string, control: JobControl): boolean {
    const job = this.get(jobId)
    const kind = job.request?.kind
    if (job.finished || !kind) throw new StudioError('conflict', `Job ${jobId} has already ${job.summary.status}`)
    if (control.type === 'set') {
      const settable = JOB_KIND_INFO[kind].settable.safeParse(control.values)
      if (!settable.success) {
        throw new StudioError('invalid-params', `Job kind ${kind} cannot change these settings live: ${describeIssues(settable.error)}`)
      }
    }
    if (!job.worker || job.summary.status === 'cancelling') return false
    this.send(job, { type: 'control', control })
    return true
  }

  /** Jobs run at once from now on; more start at once if the queue has them. */
  setMaxConcurrent(jobs: number): void {
    if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`setMaxConcurrent: need a positive integer, got ${jobs}`)
    this.maxConcurrent = jobs
    this.pump()
  }

  /** Jobs queued, running, paused or being cancelled. */
  activeCount(): number {
    return [...this.jobs.values()].filter((j) => !j.finished).length
  }

  list(): JobSummary[] {
    return [...this.jobs.values()].map((j) => ({ ...j.summary }))
  }

  /** Stops every worker; used when the app quits. */
  async shutdown(): Promise<void> {
    this.queue.length = 0
    await Promise.all([...this.jobs.values()].map((j) => j.worker?.terminate()))
  }

  private get(jobId: string): JobEntry {
    const job = this.jobs.get(jobId)
    if (!job) throw new StudioError('not-found', `No job with id ${jobId}`)
    return job
  }

  private running(): number {
    return [...this.jobs.values()].filter((j) => j.worker && !j.finished).length
  }

  private pump(): void {
    while (this.queue.length > 0 && this.running() < this.maxConcurrent) {
      const job = this.jobs.get(this.queue.shift()!)!
      this.launch(job)
    }
  }

  private launch(job: JobEntry): void {
    const { jobId } = job.summary
    const request = job.request
    if (!request) return // history entries are finished and never queued
    const data: JobWorkerData = {
      jobId, kind: request.kind, params: request.params, workspace: this.options.workspace, settings: this.options.jobSettings?.() ?? {},
    }
    let worker: Worker
    try {
      worker = createWorker(this.workerEntry, data)
    } catch (err) {
      this.finish(job, 'failed', { error: `Could not start a worker: ${(err as Error).message}` })
      return
    }
    job.worker = worker
    job.startedMs = Date.now()
    job.summary.startedAt = new Date().toISOString()
    this.setStatus(jobId, 'running')
    worker.on('message', (message: FromWorker) => this.onWorkerMessage(job, message))
    worker.on('error', (err) => {
      this.log.error(`Job ${jobId} worker crashed: ${err.stack ?? err.message}`)
      this.finish(job, 'failed', { error: `Worker crashed: ${err.message}` })
    })
    worker.on('exit', (code) => {
      if (job.finished) return
      if (job.summary.status === 'cancelling') this.finish(job, 'cancelled', {})
      else this.finish(job, 'failed', { error: `Worker exited (code ${code}) before finishing` })
    })
  }

  private onWorkerMessage(job: JobEntry, message: FromWorker): void {
    if (job.finished) return
    const { jobId } = job.summary
    switch (message.type) {
      case 'event':
        if (message.event.channel === 'job.progress') {
          job.summary.progress = { done: message.event.payload.done, total: message.event.payload.total }
        } else if (message.event.channel === 'job.artifact') {
          const { kind, path, step, caption } = message.event.payload
          job.summary.artifacts = [...(job.summary.artifacts ?? []), { kind, path, step, caption }].slice(-MAX_ARTIFACTS_KEPT)
        } else if (message.event.channel === 'job.log' && message.event.payload.level === 'warn') {
          const warnings = job.summary.warnings ?? []
          if (!warnings.includes(message.event.payload.message)) job.summary.warnings = [...warnings, message.event.payload.message].slice(-MAX_WARNINGS_KEPT)
        }
        this.emit(message.event.channel, message.event.payload)
        break
      case 'runtime':
        job.summary.runtime = message.runtime
        this.emit('job.runtime', { jobId, ...message.runtime })
        break
      case 'paused':
        if (job.summary.status !== 'cancelling') this.setStatus(jobId, message.paused ? 'paused' : 'running')
        break
      case 'result':
        this.finish(job, 'succeeded', { result: message.result })
        break
      case 'failure':
        if (message.cancelled) this.finish(job, 'cancelled', message.result !== undefined ? { result: message.result } : {})
        else this.finish(job, 'failed', { error: message.message })
        break
    }
  }

  private finish(job: JobEntry, status: FinalJobStatus, outcome: { result?: unknown; error?: string }): void {
    if (job.finished) return
    job.finished = true
    clearTimeout(job.cancelTimer)
    const { jobId, kind } = job.summary
    job.summary.endedAt = new Date().toISOString()
    if (outcome.error !== undefined) {
      job.summary.error = outcome.error
      this.log.warn(`Job ${jobId} failed: ${outcome.error}`)
      this.emit('job.error', { jobId, message: outcome.error })
    }
    if (outcome.result !== undefined) job.summary.result = outcome.result
    this.setStatus(jobId, status)
    const elapsedMs = job.startedMs === undefined ? 0 : Date.now() - job.startedMs
    this.emit('job.done', { jobId, kind, status, elapsedMs, ...outcome })
    // The thread usually exits by itself; make sure a stuck one does not linger.
    void job.worker?.terminate()
    this.saveRecord(job.summary)
    this.pump()
  }

  /** Reads the records of earlier sessions' jobs; unreadable ones are skipped with a warning. */
  async loadHistory(): Promise<number> {
    const dir = this.options.recordsDir
    if (!dir) return 0
    let loaded = 0
    for (const name of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))) {
      try {
        const summary = JobSummary.parse(JSON.parse(await readFile(join(dir, name), 'utf8')))
        if (this.jobs.has(summary.jobId) || !FinalJobStatus.safeParse(summary.status).success) continue
        this.jobs.set(summary.jobId, { summary, finished: true })
        loaded++
      } catch (err) {
        this.log.warn(`Skipped unreadable job record ${name}: ${(err as Error).message}`)
      }
    }
    return loaded
  }

  private saveRecord(summary: JobSummary): void {
    const dir = this.options.recordsDir
    if (!dir) return
    atomicWriteFile(join(dir, `${summary.jobId}.json`), JSON.stringify(summary, null, 2)).catch((err: Error) =>
      this.log.error(`Could not save the record of job ${summary.jobId}: ${err.message}`),
    )
  }

  private setStatus(jobId: string, status: JobStatus): void {
    const job = this.jobs.get(jobId)!
    job.summary.status = status
    this.emit('job.status', { jobId, kind: job.summary.kind, status, at: new Date().toISOString() })
  }

  private send(job: JobEntry, message: ToWorker): void {
    job.worker?.postMessage(message)
  }

  private emit(channel: StudioEvent['channel'], payload: unknown): void {
    // Events from workers are checked against the contract before anyone sees them.
    const event = parseEvent(channel, payload)
    if (!event) {
      this.log.error(`Dropped an event that breaks the contract on ${channel}: ${JSON.stringify(payload).slice(0, 300)}`)
      return
    }
    for (const listener of this.listeners) {
      try {
        listener(event)
      } catch (err) {
        this.log.error(`Event listener failed on ${channel}: ${(err as Error).message}`)
      }
    }
  }
}

export function jobKindList(): { kind: string; title: string; description: string }[] {
  return Object.entries(JOB_KIND_INFO).map(([kind, info]) => ({ kind, title: info.title, description: info.description }))
}

/**
 * The worker script beside this module: worker-entry.ts when running from source under tsx,
 * job-worker.js when bundled into out/main/ (electron.vite.config.ts keeps every main chunk there).
 */
export function defaultWorkerEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const fromSource = fileURLToPath(import.meta.url).endsWith('.ts')
  const entry = join(here, fromSource ? 'worker-entry.ts' : 'job-worker.js')
  if (!existsSync(entry)) throw new Error(`Job worker script not found at ${entry}`)
  return entry
}

/**
 * A worker for an entry script (the job worker; also known-emoji.ts's). A TypeScript entry (tests, running from source) needs tsx's loader
 * registered inside the new thread: on Node 20 `execArgv: ['--import', 'tsx']` does not reach
 * worker threads, so a two-line bootstrap registers it and then imports the entry.
 */
export function createWorker(entry: string, workerData: unknown): Worker {
  if (!entry.endsWith('.ts')) return new Worker(pathToFileURL(entry), { workerData })
  const tsxApi = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const entryUrl = JSON.stringify(pathToFileURL(entry).href)
  const bootstrap = `import(${tsxApi}).then((tsx) => { tsx.register(); return import(${entryUrl}) })`
  return new Worker(bootstrap, { eval: true, workerData })
}
