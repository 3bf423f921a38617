// StudioCore.dispatch: the single door every transport uses. It never throws; refusals are logged.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { BackendReport, JOB_KIND_INFO } from '../../src-main/contract/index.ts'
import { StudioCore } from '../../src-main/core/studio-core.ts'
import { recordingLogger, tempDir } from '../helpers/studio-fixtures.ts'

describe('StudioCore.dispatch', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let core: StudioCore
  let logs: ReturnType<typeof recordingLogger>['lines']
  before(async () => {
    dir = await tempDir()
    const rec = recordingLogger()
    logs = rec.lines
    core = await StudioCore.create({ workspace: { root: join(dir.path, 'ws'), source: 'env' }, host: 'web', logger: rec.logger })
  })
  after(async () => {
    await core.close()
    await dir.remove()
  })

  it('answers the backend report from the probe', async () => {
    const response = await core.dispatch('app.getBackendReport', {})
    assert.ok(response.ok)
    const report = BackendReport.parse(response.result)
    assert.equal(report.tensorflow.candidates.length, 4)
    assert.equal(report.tensorflow.selected?.name, report.tensorflow.candidates.find((c) => c.available)?.name)
    assert.equal(report.runtime.host, 'web')
  })

  it('answers the workspace', async () => {
    const response = await core.dispatch('app.getWorkspace', undefined)
    assert.deepEqual(response, { ok: true, result: { root: join(dir.path, 'ws'), source: 'env' } })
  })

  it('refuses unknown channels and invalid params with codes, and logs them', async () => {
    const before = logs.length
    const unknown = await core.dispatch('app.deleteEverything', {}, 'test client')
    assert.deepEqual(unknown.ok ? null : unknown.error.code, 'unknown-channel')
    const invalid = await core.dispatch('jobs.start', { kind: 'demo', params: { chunks: 'x' } }, 'test client')
    assert.equal(invalid.ok ? null : invalid.error.code, 'invalid-params')
    const refusals = logs.slice(before).filter((l) => l.level === 'warn' && l.message.includes('test client'))
    assert.equal(refusals.length, 2)
  })

  it('refuses a result path outside the workspace before any worker starts', async () => {
    for (const path of ['../outside.json', '/tmp/x.json', 'a/../../b.json']) {
      const response = await core.dispatch('jobs.start', { kind: 'demo', params: { saveResultAs: path } })
      assert.equal(response.ok ? null : response.error.code, 'forbidden', path)
    }
    const jobs = await core.dispatch('jobs.list', {})
    assert.deepEqual(jobs, { ok: true, result: [] })
  })

  it('refuses a DI* run whose generatorInit is outside the workspace or missing', async () => {
    for (const path of ['../outside', '/tmp', 'a/../../b']) {
      const response = await core.dispatch('jobs.start', { kind: 'distar-train', params: { config: { generatorInit: path, reward: { kind: 'brightness' } } } })
      assert.equal(response.ok ? null : response.error.code, 'forbidden', path)
    }
    const missing = await core.dispatch('jobs.start', { kind: 'distar-train', params: { config: { generatorInit: 'runs/none/checkpoints/step-1', reward: { kind: 'brightness' } } } })
    assert.equal(missing.ok ? null : missing.error.code, 'not-found')
    assert.match(missing.ok ? '' : missing.error.message, /Generator init runs\/none\/checkpoints\/step-1 does not exist/)
  })

  it('turns handler errors into not-found / conflict responses', async () => {
    const missing = await core.dispatch('jobs.cancel', { jobId: 'no-such-job' })
    assert.equal(missing.ok ? null : missing.error.code, 'not-found')
    const control = await core.dispatch('jobs.control', { jobId: 'no-such-job', control: { type: 'resume' } })
    assert.equal(control.ok ? null : control.error.code, 'not-found')
  })

  it('keeps a record of finished jobs that a restarted core lists again', async () => {
    const started = await core.dispatch('jobs.start', { kind: 'demo', params: { samples: 10_000, chunks: 2 } })
    assert.ok(started.ok)
    const { jobId } = started.result as { jobId: string }
    await new Promise<void>((resolve) => {
      const off = core.onEvent((e) => e.channel === 'job.done' && e.payload.jobId === jobId && (off(), resolve()))
    })
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(dir.path, 'ws', 'jobs', 'garbage.json'), '{"not": "a job"')
    // The record is written atomically just after the done event.
    const { existsSync } = await import('node:fs')
    while (!existsSync(join(dir.path, 'ws', 'jobs', `${jobId}.json`))) await new Promise((r) => setTimeout(r, 20))
    const rec = recordingLogger()
    const restarted = await StudioCore.create({ workspace: { root: join(dir.path, 'ws'), source: 'env' }, host: 'web', logger: rec.logger })
    try {
      const listed = await restarted.dispatch('jobs.list', {})
      assert.ok(listed.ok)
      const again = (listed.result as { jobId: string; status: string; result?: unknown }[]).find((j) => j.jobId === jobId)
      assert.equal(again?.status, 'succeeded')
      assert.ok(again?.result)
      assert.ok(rec.lines.some((l) => l.level === 'warn' && /garbage\.json/.test(l.message)))
      const cancel = await restarted.dispatch('jobs.cancel', { jobId })
      assert.equal(cancel.ok ? null : cancel.error.code, 'conflict')
    } finally {
      await restarted.close()
    }
  })

  it('lists the job kinds of the contract', async () => {
    const response = await core.dispatch('jobs.listKinds', {})
    assert.ok(response.ok)
    const kinds = (response.result as { kind: string }[]).map((k) => k.kind)
    assert.deepEqual([...kinds].sort(), Object.keys(JOB_KIND_INFO).sort())
    assert.ok(kinds.includes('demo') && kinds.includes('distar-train'), `kinds: ${kinds.join(', ')}`)
  })
})
