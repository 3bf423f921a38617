// Deleting a run (runs.delete): the run's own folder goes, and nothing else; a run that a job of this
// studio or another live process trains is refused, and so is a link (in or out of the workspace).
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseRequest, StudioError } from '../../src-main/contract/index.ts'
import { writeStatus } from '../../src-main/core/runs/run-files.ts'
import { StudioData } from '../../src-main/core/studio-data.ts'
import { Workspace } from '../../src-main/core/workspace.ts'

describe('runs.delete', () => {
  let base: string
  let root: string
  let outside: string
  let data: StudioData

  async function makeRun(runId: string, state: 'stopped' | 'running' | 'completed', pid?: number): Promise<string> {
    const dir = join(root, 'runs', runId)
    await mkdir(join(dir, 'samples'), { recursive: true })
    await writeFile(join(dir, 'config.json'), '{}')
    await writeFile(join(dir, 'samples', 'step-0.png'), 'png')
    await writeStatus(dir, { runId, state, step: 3, totalSteps: 10, ...(pid !== undefined ? { pid } : {}) } as Parameters<typeof writeStatus>[1])
    return dir
  }

  const refusal = (code: string, message: RegExp) => (err: unknown) => err instanceof StudioError && err.code === code && message.test(err.message)

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'di-runs-delete-'))
    root = join(base, 'workspace')
    outside = join(base, 'outside')
    await mkdir(join(root, 'gallery'), { recursive: true })
    await writeFile(join(root, 'gallery', 'keep.png'), 'png')
    await mkdir(outside, { recursive: true })
    await writeFile(join(outside, 'keep.txt'), 'keep')
    data = new StudioData(await Workspace.open({ root, source: 'flag' }), () => {})
  })
  after(() => rm(base, { recursive: true, force: true }))

  it('deletes a stopped run folder and the runs list forgets it', async () => {
    const dir = await makeRun('old-run', 'stopped')
    assert.ok((await data.listRuns(new Map())).some((r) => r.runId === 'old-run'))
    assert.deepEqual(await data.deleteRun('old-run'), { runId: 'old-run', deleted: true })
    assert.equal(existsSync(dir), false)
    assert.equal((await data.listRuns(new Map())).some((r) => r.runId === 'old-run'), false)
    assert.ok(existsSync(join(root, 'gallery', 'keep.png')), 'the rest of the workspace stays')
  })

  it('refuses a run a job of this studio trains, and one another live process writes', async () => {
    const training = await makeRun('training', 'running')
    await assert.rejects(data.deleteRun('training', 'job-7'), refusal('conflict', /is training \(job job-7\): stop it/))
    assert.ok(existsSync(training))
    // the parent of this test process is alive and is not this process: another studio or `npm run train`
    const elsewhere = await makeRun('elsewhere', 'running', process.ppid)
    await assert.rejects(data.deleteRun('elsewhere'), refusal('conflict', /another process/))
    assert.ok(existsSync(elsewhere))
  })

  it('deletes a run whose training process died (status still says running)', async () => {
    const dir = await makeRun('died', 'running', 2 ** 22 + 12345)
    await data.deleteRun('died')
    assert.equal(existsSync(dir), false)
  })

  it('refuses links in runs/, whether they lead inside or outside the workspace, and leaves their targets alone', async () => {
    await symlink(join(root, 'gallery'), join(root, 'runs', 'inside-link'))
    await symlink(outside, join(root, 'runs', 'outside-link'))
    await assert.rejects(data.deleteRun('inside-link'), refusal('forbidden', /not a run folder/))
    await assert.rejects(data.deleteRun('outside-link'), refusal('forbidden', /outside the workspace/))
    assert.ok(existsSync(join(root, 'gallery', 'keep.png')))
    assert.ok(existsSync(join(outside, 'keep.txt')))
  })

  it('says so for a run that does not exist, and the contract refuses ids that are not folder names', async () => {
    await assert.rejects(data.deleteRun('never'), refusal('not-found', /No run named never/))
    assert.equal(parseRequest('runs.delete', { runId: '../workspace' }).ok, false)
    assert.equal(parseRequest('runs.delete', { runId: 'a/b' }).ok, false)
    assert.ok(parseRequest('runs.delete', { runId: 'run-1' }).ok)
  })
})
