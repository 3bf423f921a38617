// Settings: the store (round trip, corrupt and partly invalid files, invalid changes), the workspace
// folder check, and the core applying them end to end: a workspace switch moves the gallery, runs and
// job history to the new folder, is refused while a job runs, and survives a restart; the backend and
// thread settings reach the next job's worker.
import assert from 'node:assert/strict'
import { jobTrainingThreads } from '../../src-main/core/jobs/job-engines.ts'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DEFAULT_SETTINGS, SettingsReport, StudioError } from '../../src-main/contract/index.ts'
import type { EventPayload } from '../../src-main/contract/index.ts'
import { JobManager } from '../../src-main/core/jobs/job-manager.ts'
import { initJobTensorflow } from '../../src-main/core/jobs/job-engines.ts'
import type { JobContext } from '../../src-main/core/jobs/job-context.ts'
import { SETTINGS_FILE, SettingsStore, locateConfigDir, prepareWorkspaceFolder } from '../../src-main/core/settings.ts'
import { StudioCore } from '../../src-main/core/studio-core.ts'
import { recordingLogger, tempDir } from '../helpers/studio-fixtures.ts'

type Dir = Awaited<ReturnType<typeof tempDir>>

describe('settings store', () => {
  let dir: Dir
  before(async () => (dir = await tempDir()))
  after(() => dir.remove())

  it('starts from the defaults without a file, and reads back exactly what it saved', async () => {
    const file = join(dir.path, 'round', SETTINGS_FILE)
    const store = await SettingsStore.open(file)
    assert.equal(store.fileState, 'defaults')
    assert.deepEqual(store.settings, DEFAULT_SETTINGS)
    const wanted = store.merge({ workspace: join(dir.path, 'ws'), tfBackend: 'cpu', onnxThreads: 2, jobsAtOnce: 2, trainingThreads: 2 })
    await store.save(wanted)
    const reopened = await SettingsStore.open(file)
    assert.equal(reopened.fileState, 'loaded')
    assert.deepEqual(reopened.settings, wanted)
    assert.deepEqual(reopened.warnings, [])
    assert.equal(JSON.parse(await readFile(file, 'utf8')).version, 1)
  })

  it('falls back to the defaults with a warning on a corrupt file, and a save repairs it', async () => {
    const file = join(dir.path, 'corrupt', SETTINGS_FILE)
    await mkdir(join(dir.path, 'corrupt'))
    for (const text of ['{"workspace": "/x", "tfBack', '[1,2,3]', 'null', '\u0000\u0001binary']) {
      await writeFile(file, text)
      const store = await SettingsStore.open(file)
      assert.equal(store.fileState, 'recovered', text)
      assert.deepEqual(store.settings, DEFAULT_SETTINGS)
      assert.equal(store.warnings.length, 1)
      assert.match(store.warnings[0]!, /settings file .* (is not valid JSON|does not hold an object)/)
    }
    const store = await SettingsStore.open(file)
    await store.save(store.merge({ onnxThreads: 1 }))
    assert.equal(store.fileState, 'loaded')
    assert.deepEqual(store.warnings, [])
    assert.equal((await SettingsStore.open(file)).settings.onnxThreads, 1)
  })

  it('reads a settings file from before training threads existed as automatic, and a change of one field keeps the others', async () => {
    const file = join(dir.path, 'older.json')
    await writeFile(file, JSON.stringify({ version: 1, workspace: null, tfBackend: 'wasm', onnxThreads: 1, jobsAtOnce: 2 }))
    const store = await SettingsStore.open(file)
    assert.equal(store.fileState, 'loaded')
    assert.deepEqual(store.warnings, [])
    assert.equal(store.settings.trainingThreads, 0)
    await store.save(store.merge({ trainingThreads: 2 }))
    await store.save(store.merge({ jobsAtOnce: 1 }))
    assert.deepEqual((await SettingsStore.open(file)).settings, { workspace: null, tfBackend: 'wasm', onnxThreads: 1, jobsAtOnce: 1, trainingThreads: 2 })
  })

  it('picks automatic training threads from the backend, the cores and the jobs at once', () => {
    assert.equal(jobTrainingThreads({}, 'wasm', 2), 2)
    assert.equal(jobTrainingThreads({ jobsAtOnce: 2 }, 'wasm', 2), 1)
    assert.equal(jobTrainingThreads({ jobsAtOnce: 2 }, 'wasm', 8), 4)
    assert.equal(jobTrainingThreads({}, 'cpu', 64), 4)
    assert.equal(jobTrainingThreads({}, 'tensorflow', 8), 1)
    assert.equal(jobTrainingThreads({ trainingThreads: 3 }, 'tensorflow', 2), 3)
    assert.equal(jobTrainingThreads(undefined, 'wasm', 1), 1)
  })

  it('keeps the valid fields of a partly invalid file and names each bad one', async () => {
    const file = join(dir.path, 'partial.json')
    await writeFile(file, JSON.stringify({ version: 1, workspace: 'relative/folder', tfBackend: 'tpu', onnxThreads: -3, jobsAtOnce: 2, extra: true }))
    const store = await SettingsStore.open(file)
    assert.equal(store.fileState, 'recovered')
    assert.deepEqual(store.settings, { ...DEFAULT_SETTINGS, jobsAtOnce: 2 })
    const warnings = store.warnings.join('\n')
    for (const name of ['tfBackend', 'onnxThreads', 'relative/folder']) assert.match(warnings, new RegExp(name))
  })

  it('refuses invalid changes with a message naming the field, and keeps the old values', async () => {
    const store = await SettingsStore.open(null)
    const bad = [{ jobsAtOnce: 5 }, { onnxThreads: 1.5 }, { tfBackend: 'tpu' }, { colour: 'red' }, { workspace: '' }, { trainingThreads: -1 }, { trainingThreads: 17 }]
    for (const update of bad) {
      assert.throws(() => store.merge(update), (err: unknown) => err instanceof StudioError && err.code === 'invalid-params' && /Invalid settings: /.test(err.message), JSON.stringify(update))
    }
    assert.deepEqual(store.settings, DEFAULT_SETTINGS)
    assert.equal(store.fileState, 'memory')
  })

  it('finds the config folder from the flag, the environment, Electron, then the platform', () => {
    assert.equal(locateConfigDir({ argv: ['--config-dir', '/a/b'], env: { DI_STUDIO_CONFIG_DIR: '/c' } }), '/a/b')
    assert.equal(locateConfigDir({ env: { DI_STUDIO_CONFIG_DIR: '/c' }, electronUserData: '/e' }), '/c')
    assert.equal(locateConfigDir({ env: {}, electronUserData: '/e' }), '/e')
    if (process.platform === 'linux') {
      assert.equal(locateConfigDir({ env: { XDG_CONFIG_HOME: '/xdg' } }), '/xdg/di-studio')
      assert.equal(locateConfigDir({ env: {}, home: '/home/u' }), '/home/u/.config/di-studio')
    }
  })
})

describe('workspace folder check', () => {
  let dir: Dir
  before(async () => (dir = await tempDir()))
  after(() => dir.remove())

  const refusal = (pattern: RegExp) => (err: unknown) => err instanceof StudioError && pattern.test(err.message)

  it('creates a new folder, and accepts an empty one or an existing workspace', async () => {
    const fresh = join(dir.path, 'new', 'nested')
    assert.equal(await prepareWorkspaceFolder(fresh), fresh)
    assert.equal(await prepareWorkspaceFolder(fresh), fresh) // empty now
    for (const sub of ['runs', 'gallery', 'preferences', 'jobs']) await mkdir(join(fresh, sub))
    await writeFile(join(fresh, 'notes.txt'), 'a workspace may hold other files')
    assert.equal(await prepareWorkspaceFolder(fresh), fresh)
  })

  it('refuses relative paths, files, uncreatable paths and folders that are not workspaces', async () => {
    await assert.rejects(prepareWorkspaceFolder('relative/ws'), refusal(/must be an absolute path/))
    const file = join(dir.path, 'a-file')
    await writeFile(file, 'x')
    await assert.rejects(prepareWorkspaceFolder(file), refusal(/is not a folder/))
    await assert.rejects(prepareWorkspaceFolder(join(file, 'child')), refusal(/Cannot create the folder/))
    const home = join(dir.path, 'home-like')
    await mkdir(join(home, '.ssh'), { recursive: true })
    await assert.rejects(prepareWorkspaceFolder(home), refusal(/is not empty and is not a DI Studio workspace/)) // only dotfiles
    await writeFile(join(home, 'secrets.json'), '{}')
    await assert.rejects(prepareWorkspaceFolder(home), refusal(/is not empty and is not a DI Studio workspace/))
  })
})

describe('the core applies settings', () => {
  let dir: Dir
  const cores: StudioCore[] = []
  before(async () => (dir = await tempDir()))
  after(async () => {
    for (const core of cores) await core.close()
    // job records are written just after a job ends: retry while the last ones land
    await rm(dir.path, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 })
  })

  async function startCore(source: 'default' | 'flag' = 'default', configDir = join(dir.path, 'config')): Promise<StudioCore> {
    const core = await StudioCore.create({ workspace: { root: join(dir.path, 'launch'), source }, host: 'web', configDir, logger: recordingLogger().logger })
    cores.push(core)
    return core
  }
  async function call(core: StudioCore, channel: string, params: unknown = {}): Promise<unknown> {
    const response = await core.dispatch(channel, params)
    if (!response.ok) throw new StudioError(response.error.code, response.error.message)
    return response.result
  }
  const report = async (core: StudioCore) => SettingsReport.parse(await call(core, 'settings.get'))

  it('switches the workspace: gallery, runs and job history come from the new folder', async () => {
    const core = await startCore()
    const first = await report(core)
    assert.equal(first.fileState, 'defaults')
    assert.equal(first.workspace.root, join(dir.path, 'launch'))
    // a finished job in the launch folder's history
    const { jobId } = (await call(core, 'jobs.start', { kind: 'demo', params: { samples: 1000, chunks: 1 } })) as { jobId: string }
    await new Promise<void>((resolve) => core.onEvent((e) => e.channel === 'job.done' && e.payload.jobId === jobId && resolve()))
    // a run that exists only in the other folder
    const other = join(dir.path, 'other')
    await mkdir(join(other, 'runs', 'run-elsewhere'), { recursive: true })
    for (const sub of ['gallery', 'preferences', 'jobs']) await mkdir(join(other, sub))

    const switched = SettingsReport.parse(await call(core, 'settings.update', { workspace: other }))
    assert.deepEqual(switched.workspace, { root: other, source: 'settings' })
    assert.equal(switched.settings.workspace, other)
    assert.deepEqual(await call(core, 'app.getWorkspace'), { root: other, source: 'settings' })
    assert.deepEqual(((await call(core, 'runs.list')) as { runId: string }[]).map((r) => r.runId), ['run-elsewhere'])
    assert.deepEqual(await call(core, 'jobs.list'), [])
    assert.equal(core.workspace.root, other) // what the web host and Electron serve files from
    // and back to the folder the studio was started with
    const back = SettingsReport.parse(await call(core, 'settings.update', { workspace: null }))
    assert.equal(back.workspace.root, join(dir.path, 'launch'))
    assert.deepEqual(((await call(core, 'jobs.list')) as { jobId: string }[]).map((j) => j.jobId), [jobId])
    await call(core, 'settings.update', { workspace: other })
  })

  it('keeps the saved workspace and choices across a restart; --workspace still wins', async () => {
    const restarted = await startCore()
    assert.equal((await report(restarted)).workspace.root, join(dir.path, 'other'))
    assert.equal((await report(restarted)).fileState, 'loaded')
    const flagged = await startCore('flag')
    const flaggedReport = await report(flagged)
    assert.equal(flaggedReport.workspace.root, join(dir.path, 'launch'))
    assert.equal(flaggedReport.settings.workspace, join(dir.path, 'other'))
    // changing something else does not move a workspace given by --workspace
    await call(flagged, 'settings.update', { onnxThreads: 1 })
    assert.equal(flagged.workspace.root, join(dir.path, 'launch'))
  })

  it('refuses a switch while a job runs, with a readable message, and allows it once the job ended', async () => {
    const core = await startCore('default', join(dir.path, 'config-busy'))
    const { jobId } = (await call(core, 'jobs.start', { kind: 'demo', params: { samples: 2_000_000_000, chunks: 10_000 } })) as { jobId: string }
    assert.equal((await report(core)).busy, true)
    await assert.rejects(call(core, 'settings.update', { workspace: join(dir.path, 'busy-target') }), (err: unknown) =>
      err instanceof StudioError && err.code === 'conflict' && /cannot change while 1 job is queued or running: stop it first/.test(err.message))
    assert.equal(core.workspace.root, join(dir.path, 'launch'))
    assert.equal((await report(core)).settings.workspace, null) // nothing saved either
    const done = new Promise<void>((resolve) => core.onEvent((e) => e.channel === 'job.done' && e.payload.jobId === jobId && resolve()))
    await call(core, 'jobs.cancel', { jobId })
    await done
    assert.equal((await report(core)).busy, false)
    await call(core, 'settings.update', { workspace: join(dir.path, 'busy-target') })
    assert.equal(core.workspace.root, join(dir.path, 'busy-target'))
  })

  it('refuses a folder it cannot use and keeps the current one', async () => {
    const core = await startCore('default', join(dir.path, 'config-bad'))
    await writeFile(join(dir.path, 'plain-file'), 'x')
    for (const workspace of ['not/absolute', join(dir.path, 'plain-file')]) {
      await assert.rejects(call(core, 'settings.update', { workspace }), (err: unknown) => err instanceof StudioError && /absolute path|not a folder/.test(err.message))
    }
    assert.equal(core.workspace.root, join(dir.path, 'launch'))
  })

  it('starts on a corrupt settings file or an unusable saved workspace, and says so', async () => {
    const configDir = join(dir.path, 'config-corrupt')
    await mkdir(configDir)
    await writeFile(join(configDir, SETTINGS_FILE), '{ not json')
    const corrupt = await report(await startCore('default', configDir))
    assert.equal(corrupt.fileState, 'recovered')
    assert.match(corrupt.warnings.join('\n'), /not valid JSON/)
    await writeFile(join(dir.path, 'was-a-folder'), 'now a file')
    await writeFile(join(configDir, SETTINGS_FILE), JSON.stringify({ workspace: join(dir.path, 'was-a-folder') }))
    const fallback = await report(await startCore('default', configDir))
    assert.equal(fallback.workspace.root, join(dir.path, 'launch'))
    assert.match(fallback.warnings.join('\n'), /could not be opened/)
  })

  it('applies "jobs at once" to the queue', async () => {
    const core = await startCore('default', join(dir.path, 'config-jobs'))
    await call(core, 'settings.update', { jobsAtOnce: 2 })
    const ids: string[] = []
    for (let i = 0; i < 2; i++) ids.push(((await call(core, 'jobs.start', { kind: 'demo', params: { samples: 2_000_000_000, chunks: 10_000 } })) as { jobId: string }).jobId)
    const statuses = () => ((core.jobs.list()).filter((j) => ids.includes(j.jobId)).map((j) => j.status))
    assert.deepEqual(statuses(), ['running', 'running'])
    const ended = new Set<string>()
    const allEnded = new Promise<void>((resolve) => core.onEvent((e) => e.channel === 'job.done' && ended.add(e.payload.jobId).size === ids.length && resolve()))
    for (const jobId of ids) await call(core, 'jobs.cancel', { jobId })
    await allEnded
  })
})

describe('jobs receive the settings', () => {
  let dir: Dir
  before(async () => (dir = await tempDir()))
  after(() => dir.remove())

  it('hands the backend and thread settings of the moment to each new worker', async () => {
    // a worker that answers with the settings it was given
    const entry = join(dir.path, 'echo-worker.mjs')
    await writeFile(entry, `import { parentPort, workerData } from 'node:worker_threads'\nparentPort.postMessage({ type: 'result', result: workerData.settings })\n`)
    let settings: { tfBackend?: 'cpu' | 'wasm'; onnxThreads?: number } = { tfBackend: 'cpu', onnxThreads: 2 }
    const manager = new JobManager({ workspace: { root: dir.path, source: 'flag' }, workerEntry: entry, jobSettings: () => settings, logger: recordingLogger().logger })
    const results: unknown[] = []
    manager.onEvent((e) => e.channel === 'job.done' && results.push(e.payload.result))
    const finished = (n: number) => new Promise<void>((resolve) => {
      const timer = setInterval(() => results.length >= n && (clearInterval(timer), resolve()), 20)
    })
    manager.start({ kind: 'demo', params: { samples: 1000, chunks: 1, seed: 1 } })
    await finished(1)
    settings = {}
    manager.start({ kind: 'demo', params: { samples: 1000, chunks: 1, seed: 1 } })
    await finished(2)
    assert.deepEqual(results, [{ tfBackend: 'cpu', onnxThreads: 2 }, {}])
    await manager.shutdown()
  })

  it('initialises the preferred TensorFlow.js backend and reports it as the job runtime', async () => {
    const reported: Omit<EventPayload<'job.runtime'>, 'jobId'>[] = []
    const ctx = { settings: { tfBackend: 'cpu' }, reportRuntime: (r: (typeof reported)[number]) => reported.push(r) } as unknown as JobContext
    const backend = await initJobTensorflow(ctx)
    assert.equal(backend.name, 'cpu')
    assert.equal(reported.length, 1)
    assert.equal(reported[0]!.engine, 'tensorflow.js')
    assert.equal(reported[0]!.backend, 'cpu')
  })
})
