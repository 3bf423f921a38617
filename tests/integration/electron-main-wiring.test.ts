// The built Electron main process (out/main/index.js), run under plain Node against a recording fake
// of Electron's API (tests/helpers/fake-electron/): no Electron binary is needed. Checks the window
// it opens, the guards it installs, and that IPC, events and workspace files go through the core.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { EVENT_CHANNELS, REQUEST_CHANNELS } from '../../src-main/contract/index.ts'
import { tempDir } from '../helpers/studio-fixtures.ts'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const builtMain = join(repoRoot, 'out', 'main', 'index.js')
const fakeDir = join(repoRoot, 'tests', 'helpers', 'fake-electron')

type Reply = { ok: boolean; result?: { root?: string }; error?: { code: string; message: string } }
interface Report {
  sandboxEnabled: boolean
  webPreferences: Record<string, unknown>
  preloadExists: boolean
  preloadIsCjs: boolean
  rendererExists: boolean
  ipcChannels: string[]
  privilegedSchemes: string[]
  workspace: Reply
  foreignPage: Reply
  otherContents: Reply
  badParams: Reply
  started: boolean
  eventChannelsSent: string[]
  fileOk: { status: number; body: string }
  fileEscape: { status: number; body: string }
  fileOtherHost: { status: number; body: string }
  newWindow: { action: string }
  navigationPrevented: number
  permissionGranted: boolean
  permissionCheck: boolean
  foreignSenderReplies: Record<string, Record<string, string>>
  permissionsGranted: string[]
  permissionsTried: number
  laterContents: { newWindowOwnUrl: { action: string } | null; newWindowJs: { action: string } | null; prevented: number }
  loadedFile: string
  loadedUrls: string[]
  pickFolder: { ok: boolean; result?: { supported: boolean; folder: string | null } }
  openDialogs: { withWindow: boolean; properties: string[] }[]
}

describe('Electron main process (built) against a fake Electron', () => {
  let userData: Awaited<ReturnType<typeof tempDir>>
  let report: Report
  before(async () => {
    if (!existsSync(builtMain)) throw new Error(`${builtMain} is missing: run npm run build first (npm test does)`)
    userData = await tempDir('di-studio-electron-')
    const child = spawn(process.execPath, ['--import', join(fakeDir, 'register.mjs'), join(fakeDir, 'harness.mjs'), builtMain], {
      cwd: repoRoot,
      env: { ...process.env, FAKE_ELECTRON_USER_DATA: userData.path, DI_STUDIO_HOME: '', FAKE_ELECTRON_PICK: '/picked/by/the/dialog' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    const line = stdout.split('\n').find((l) => l.startsWith('{'))
    assert.ok(code === 0 && line, `harness failed (exit ${code}):\n${stdout}\n${stderr}`)
    report = JSON.parse(line) as Report
  })
  after(() => userData?.remove())

  it('opens one hardened window on the built preload and renderer', () => {
    assert.equal(report.sandboxEnabled, true, 'app.enableSandbox() before ready')
    assert.equal(report.webPreferences.contextIsolation, true)
    assert.equal(report.webPreferences.sandbox, true)
    assert.equal(report.webPreferences.nodeIntegration, false)
    assert.equal(report.webPreferences.webviewTag, false)
    assert.equal(report.webPreferences.nodeIntegrationInWorker, false)
    assert.equal(report.webPreferences.nodeIntegrationInSubFrames, false)
    assert.equal(report.webPreferences.webSecurity, true)
    assert.equal(report.webPreferences.allowRunningInsecureContent, false)
    assert.equal(report.webPreferences.experimentalFeatures, false)
    assert.equal(report.webPreferences.navigateOnDragDrop, false)
    assert.ok(report.preloadExists && report.preloadIsCjs, 'sandboxed preloads must be one CommonJS file')
    assert.ok(report.rendererExists)
  })

  it('handles exactly the contract channels and uses Electron userData as the workspace', () => {
    assert.deepEqual(report.ipcChannels, [...REQUEST_CHANNELS].sort())
    assert.equal(report.workspace.ok, true)
    assert.equal(report.workspace.result?.root, userData.path)
  })

  it('answers datasets.pickFolder with the system folder dialog, on the studio window', () => {
    assert.deepEqual(report.pickFolder.result, { supported: true, folder: '/picked/by/the/dialog' })
    assert.deepEqual(report.openDialogs, [{ withWindow: true, properties: ['openDirectory'] }])
  })

  it('refuses foreign senders and bad params with clear errors', () => {
    assert.equal(report.foreignPage.error?.code, 'forbidden')
    assert.match(report.foreignPage.error?.message ?? '', /evil\.example/)
    assert.equal(report.otherContents.error?.code, 'forbidden')
    assert.equal(report.badParams.error?.code, 'invalid-params')
  })

  it('runs a job in a worker and forwards its events to the window', () => {
    assert.equal(report.started, true)
    for (const channel of ['job.status', 'job.progress', 'job.metrics', 'job.log', 'job.artifact', 'job.done']) {
      assert.ok(report.eventChannelsSent.includes(channel), channel)
    }
    assert.ok(report.eventChannelsSent.every((c) => (EVENT_CHANNELS as readonly string[]).includes(c)))
  })

  it('serves workspace files on studio-file:// and refuses the rest', () => {
    assert.ok(report.privilegedSchemes.includes('studio-file'))
    assert.equal(report.fileOk.status, 200)
    assert.ok(Math.abs((JSON.parse(report.fileOk.body) as { estimate: number }).estimate - Math.PI) < 0.05)
    assert.equal(report.fileEscape.status, 403)
    assert.equal(report.fileOtherHost.status, 403)
  })

  it('blocks new windows, navigation, redirects, webviews and permission requests', () => {
    assert.deepEqual(report.newWindow, { action: 'deny' })
    assert.equal(report.navigationPrevented, 3)
    assert.equal(report.permissionGranted, false)
    assert.equal(report.permissionCheck, false)
  })

  it('refuses every kind of foreign sender on every IPC channel, before the core runs', () => {
    assert.deepEqual(Object.keys(report.foreignSenderReplies).sort(), report.ipcChannels)
    assert.ok(report.ipcChannels.length >= 18)
    for (const [channel, replies] of Object.entries(report.foreignSenderReplies)) {
      assert.equal(Object.keys(replies).length, 6, channel)
      for (const [sender, code] of Object.entries(replies)) assert.equal(code, 'forbidden', `${channel} from ${sender}`)
    }
  })

  it('denies every permission and guards web contents created later, even for its own URL', () => {
    assert.ok(report.permissionsTried >= 15)
    assert.deepEqual(report.permissionsGranted, [])
    assert.deepEqual(report.laterContents.newWindowOwnUrl, { action: 'deny' })
    assert.deepEqual(report.laterContents.newWindowJs, { action: 'deny' })
    assert.equal(report.laterContents.prevented, 4)
  })

  it('loads only the local built renderer, never a URL', () => {
    assert.deepEqual(report.loadedUrls, [])
    assert.equal(report.loadedFile, join(repoRoot, 'out', 'renderer', 'index.html'))
  })
})
