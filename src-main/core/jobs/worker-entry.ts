// Entry point of a job worker thread: runs one job and streams its events to the parent.
// Runs from source under tsx (tests) and from out/main/job-worker.js (the build).
import { parentPort, workerData } from 'node:worker_threads'
import type { JobControl } from '../../contract/index.ts'
import { Workspace } from '../workspace.ts'
import { JobCancelledError } from './job-context.ts'
import type { JobContext, SetControl } from './job-context.ts'
import { jobRunners } from './kinds/index.ts'
import type { FromWorker, JobWorkerData, ToWorker, WorkerEvent } from './worker-protocol.ts'

const PROGRESS_INTERVAL_MS = 100

if (!parentPort) throw new Error('worker-entry must run inside a worker thread')
const port = parentPort
const data = workerData as JobWorkerData
const post = (message: FromWorker): void => port.postMessage(message)

const abort = new AbortController()
const controlHandlers = new Set<(c: SetControl) => void>()
let paused = false
let wake: (() => void) | null = null

function onMessage(message: ToWorker): void {
  if (message.type === 'cancel') {
    abort.abort()
    wake?.()
  } else if (message.type === 'control') applyControl(message.control)
}

/** Set while the job paused itself (ctx.pausedByJob): what a resume calls. */
let resumeSelfPause: (() => void) | null = null

function applyControl(control: JobControl): void {
  if (control.type === 'pause') paused = true
  else if (control.type === 'resume') {
    paused = false
    wake?.()
    const onResume = resumeSelfPause
    resumeSelfPause = null
    if (onResume) {
      post({ type: 'paused', paused: false })
      onResume()
    }
  } else for (const handler of controlHandlers) handler(control)
}

const startedAt = Date.now()
let lastProgressAt = 0
/** The newest progress held back by the throttle; sent before the job pauses or ends. */
let heldProgress: WorkerEvent | null = null

function progressEvent(done: number, total: number, message: string | undefined, now: number): WorkerEvent {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0
  const elapsed = (now - startedAt) / 1000
  const etaSeconds = fraction > 0 ? (elapsed * (1 - fraction)) / fraction : undefined
  return {
    channel: 'job.progress',
    payload: { jobId: data.jobId, done, total, fraction, ...(message ? { message } : {}), ...(etaSeconds !== undefined ? { etaSeconds } : {}) },
  }
}

function flushProgress(): void {
  if (heldProgress) post({ type: 'event', event: heldProgress })
  heldProgress = null
}

const ctx: JobContext = {
  jobId: data.jobId,
  signal: abort.signal,
  workspace: Workspace.attach(data.workspace),
  settings: data.settings ?? {},
  reportRuntime(runtime) {
    post({ type: 'runtime', runtime })
  },
  progress(done, total, message) {
    const now = Date.now()
    heldProgress = progressEvent(done, total, message, now)
    if (done < total && now - lastProgressAt < PROGRESS_INTERVAL_MS) return
    lastProgressAt = now
    flushProgress()
  },
  metrics(step, values) {
    post({ type: 'event', event: { channel: 'job.metrics', payload: { jobId: data.jobId, step, values } } })
  },
  log(message, level = 'info') {
    post({ type: 'event', event: { channel: 'job.log', payload: { jobId: data.jobId, level, message } } })
  },
  artifact(kind, path, details = {}) {
    ctx.workspace.resolve(path)
    post({ type: 'event', event: { channel: 'job.artifact', payload: { jobId: data.jobId, kind, path, ...details } } })
  },
  onControl(handler) {
    controlHandlers.add(handler)
    return () => controlHandlers.delete(handler)
  },
  async checkpoint() {
    // Let queued control and cancel messages arrive even when the job never awaits anything else.
    await new Promise<void>((resolve) => setImmediate(resolve))
    if (abort.signal.aborted) throw new JobCancelledError()
    if (!paused) return
    flushProgress()
    post({ type: 'paused', paused: true })
    while (paused && !abort.signal.aborted) await new Promise<void>((resolve) => (wake = resolve))
    wake = null
    if (abort.signal.aborted) throw new JobCancelledError()
    post({ type: 'paused', paused: false })
  },
  pausedByJob(onResume) {
    resumeSelfPause = onResume
    flushProgress()
    post({ type: 'paused', paused: true })
  },
}

async function main(): Promise<void> {
  port.on('message', onMessage)
  try {
    const runner = await jobRunners[data.kind]()
    const result = await runner.run(ctx, data.params as never)
    flushProgress()
    post({ type: 'result', result: result ?? null })
  } catch (err) {
    flushProgress()
    const cancelled = abort.signal.aborted
    const saved = cancelled && err instanceof JobCancelledError && err.result !== undefined ? { result: err.result } : {}
    post({ type: 'failure', message: cancelled ? 'Cancelled' : describeError(err), cancelled, ...saved })
  } finally {
    // With no listener left the thread's event loop empties and the worker exits on its own.
    port.off('message', onMessage)
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

void main()
