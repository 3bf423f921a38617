// The job manager runs real workers (from source, through tsx): progress, metrics, result,
// cancel, pause/resume, the error path, the queue, and refusals.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { StudioError } from '../../src-main/contract/index.ts'
import type { EventPayload, StudioEvent } from '../../src-main/contract/index.ts'
import { JobManager } from '../../src-main/core/jobs/job-manager.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { recordingLogger, tempDir } from '../helpers/studio-fixtures.ts'

function collect(manager: JobManager) {
  const events: StudioEvent[] = []
  manager.onEvent((e) => events.push(e))
  const done = (jobId: string) =>
    new Promise<EventPayload<'job.done'>>((resolve) => {
      const check = (e: StudioEvent) => e.channel === 'job.done' && e.payload.jobId === jobId
      const seen = events.find(check)
      if (seen) return resolve(seen.payload as EventPayload<'job.done'>)
      const off = manager.onEvent((e) => check(e) && (off(), resolve(e.payload as EventPayload<'job.done'>)))
    })
  const first = (channel: StudioEvent['channel'], jobId: string) =>
    new Promise<void>((resolve) => {
      if (events.some((e) => e.channel === channel && e.payload.jobId === jobId)) return resolve()
      const off = manager.onEvent((e) => e.channel === channel && e.payload.jobId === jobId && (off(), resolve()))
    })
  const of = <C extends StudioEvent['channel']>(channel: C, jobId: string) =>
    events.filter((e) => e.channel === channel && e.payload.jobId === jobId).map((e) => e.payload as EventPayload<C>)
  return { events, done, first, of }
}

describe('JobManager with the demo job', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let workspace: Workspace
  let manager: JobManager
  let ev: ReturnType<typeof collect>
  before(async () => {
    dir = await tempDir()
    workspace = await Workspace.open({ root: dir.path, source: 'flag' })
    manager = new JobManager({ workspace: workspace.info, logger: recordingLogger().logger, cancelGraceMs: 10_000 })
    ev = collect(manager)
  })
  after(async () => {
    await manager.shutdown()
    await dir.remove()
  })

  it('computes pi, streams monotone progress to 100 %, metrics per chunk and saves its result', async () => {
    const { jobId } = manager.start({ kind: 'demo', params: { samples: 400_000, chunks: 8, seed: 7, saveResultAs: 'results/pi.json' } })
    const done = await ev.done(jobId)
    assert.equal(done.status, 'succeeded')
    const result = done.result as { estimate: number; samples: number }
    assert.equal(result.samples, 400_000)
    assert.ok(Math.abs(result.estimate - Math.PI) < 0.02, `estimate ${result.estimate}`)
    const fractions = ev.of('job.progress', jobId).map((p) => p.fraction)
    assert.ok(fractions.length >= 2)
    assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b), 'progress never goes backwards')
    assert.equal(fractions.at(-1), 1)
    assert.equal(ev.of('job.metrics', jobId).length, 8)
    const statuses = ev.of('job.status', jobId).map((s) => s.status)
    assert.deepEqual(statuses, ['queued', 'running', 'succeeded'])
    const saved = JSON.parse(await readFile(join(dir.path, 'results', 'pi.json'), 'utf8')) as { estimate: number }
    assert.equal(saved.estimate, result.estimate)
    // Both files are announced as artifacts, the picture as a real PNG.
    assert.deepEqual(ev.of('job.artifact', jobId).map((a) => [a.kind, a.path]), [['image', 'results/pi.png'], ['result', 'results/pi.json']])
    const png = await readFile(join(dir.path, 'results', 'pi.png'))
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  })

  it('is reproducible from its seed', async () => {
    const a = manager.start({ kind: 'demo', params: { samples: 50_000, chunks: 2, seed: 3 } })
    const b = manager.start({ kind: 'demo', params: { samples: 50_000, chunks: 2, seed: 3 } })
    const [ra, rb] = await Promise.all([ev.done(a.jobId), ev.done(b.jobId)])
    assert.deepEqual(ra.result, rb.result)
  })

  it('cancels a running job', async () => {
    const { jobId } = manager.start({ kind: 'demo', params: { samples: 2_000_000_000, chunks: 10_000, seed: 1 } })
    await ev.first('job.progress', jobId)
    assert.equal(manager.cancel(jobId), 'cancelling')
    const done = await ev.done(jobId)
    assert.equal(done.status, 'cancelled')
    assert.ok(ev.of('job.progress', jobId).at(-1)!.fraction < 1)
    assert.throws(() => manager.cancel(jobId), (e: unknown) => e instanceof StudioError && e.code === 'conflict')
  })

  it('pauses and resumes through the generic control request', async () => {
    const { jobId } = manager.start({ kind: 'demo', params: { samples: 200_000_000, chunks: 400, seed: 1 } })
    await ev.first('job.progress', jobId)
    assert.equal(manager.control(jobId, { type: 'pause' }), true)
    await new Promise<void>((resolve) => {
      const off = manager.onEvent((e) => e.channel === 'job.status' && e.payload.jobId === jobId && e.payload.status === 'paused' && (off(), resolve()))
    })
    const progressWhilePaused = ev.of('job.progress', jobId).length
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(ev.of('job.progress', jobId).length, progressWhilePaused, 'no progress while paused')
    manager.control(jobId, { type: 'resume' })
    await new Promise<void>((resolve) => {
      const off = manager.onEvent((e) => e.channel === 'job.progress' && e.payload.jobId === jobId && (off(), resolve()))
    })
    manager.cancel(jobId)
    assert.equal((await ev.done(jobId)).status, 'cancelled')
    const statuses = ev.of('job.status', jobId).map((s) => s.status)
    assert.deepEqual(statuses.slice(0, 4), ['queued', 'running', 'paused', 'running'])
  })

  it('reports a job failure as job.error and a failed done event', async () => {
    const { jobId } = manager.start({ kind: 'demo', params: { samples: 100_000, chunks: 10, seed: 1, failAtChunk: 3 } })
    const done = await ev.done(jobId)
    assert.equal(done.status, 'failed')
    assert.match(done.error ?? '', /failAtChunk/)
    assert.match(ev.of('job.error', jobId)[0]!.message, /chunk 3/)
    // Progress held back by the throttle is sent before the failure: chunks 0-2 were done.
    assert.equal(ev.of('job.progress', jobId).at(-1)!.done, 3)
    assert.equal(manager.list().find((j) => j.jobId === jobId)?.status, 'failed')
  })

  it('queues jobs beyond maxConcurrent and can cancel a queued job', async () => {
    const first = manager.start({ kind: 'demo', params: { samples: 2_000_000_000, chunks: 10_000, seed: 1 } })
    const second = manager.start({ kind: 'demo', params: { samples: 10_000, chunks: 1, seed: 1 } })
    await ev.first('job.progress', first.jobId)
    assert.equal(manager.list().find((j) => j.jobId === second.jobId)?.status, 'queued')
    assert.equal(manager.cancel(second.jobId), 'cancelled')
    manager.cancel(first.jobId)
    assert.equal((await ev.done(first.jobId)).status, 'cancelled')
    assert.equal((await ev.done(second.jobId)).status, 'cancelled')
  })

  it('refuses live settings the job kind does not declare', async () => {
    const { jobId } = manager.start({ kind: 'demo', params: { samples: 2_000_000_000, chunks: 10_000, seed: 1 } })
    await ev.first('job.progress', jobId)
    assert.throws(
      () => manager.control(jobId, { type: 'set', values: { rewardWeight: 2 } }),
      (e: unknown) => e instanceof StudioError && e.code === 'invalid-params' && /rewardWeight/.test(e.message),
    )
    manager.cancel(jobId)
    await ev.done(jobId)
  })

  it('refuses unknown jobs and controls to finished jobs', () => {
    assert.throws(() => manager.cancel('nope'), (e: unknown) => e instanceof StudioError && e.code === 'not-found')
    assert.throws(() => manager.control('nope', { type: 'pause' }), (e: unknown) => e instanceof StudioError && e.code === 'not-found')
    const finished = manager.list().find((j) => j.status === 'succeeded')!
    assert.throws(() => manager.control(finished.jobId, { type: 'pause' }), (e: unknown) => e instanceof StudioError && e.code === 'conflict')
  })

  it('refuses to queue jobs without bound', async () => {
    const small = new JobManager({ workspace: workspace.info, maxQueued: 2, logger: recordingLogger().logger })
    const events = collect(small)
    const long = { kind: 'demo' as const, params: { samples: 2_000_000_000, chunks: 10_000, seed: 1 } }
    const running = small.start(long)
    const waiting = [small.start(long), small.start(long)]
    assert.throws(() => small.start(long), (e: unknown) => e instanceof StudioError && e.code === 'conflict')
    for (const { jobId } of [...waiting, running]) small.cancel(jobId)
    for (const { jobId } of [...waiting, running]) assert.equal((await events.done(jobId)).status, 'cancelled')
    await small.shutdown()
  })

  it('reports a broken worker script as a failed job instead of crashing', async () => {
    const broken = new JobManager({ workspace: workspace.info, workerEntry: join(dir.path, 'missing-worker.js'), logger: recordingLogger().logger })
    const events = collect(broken)
    const { jobId } = broken.start({ kind: 'demo', params: { samples: 1000, chunks: 1, seed: 1 } })
    const done = await events.done(jobId)
    assert.equal(done.status, 'failed')
    assert.ok(done.error && done.error.length > 0)
    await broken.shutdown()
  })
})
