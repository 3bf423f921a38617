// Electron security (issue 8): Electronegativity over the sources and the built app with no finding
// left unexplained, a canary proving the scan does find real problems, every IPC handler behind the
// sender check, no shell.openExternal, no remote content. The built main's actual window options and
// guards are checked in tests/integration/electron-main-wiring.test.ts.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { REQUEST_CHANNELS } from '../../src-main/contract/index.ts'
import { registerIpcHandlers } from '../../src-main/electron/ipc.ts'
import { CONTENT_SECURITY_POLICY } from '../../src-main/web-host/security-headers.ts'
import { tempDir } from '../helpers/studio-fixtures.ts'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const scanner = join(repoRoot, 'tests', 'helpers', 'run-electronegativity.cjs')

interface Finding { id: string; file: string; line: number; sample?: string; reason?: string }
interface ScanReport {
  electronVersion: string
  excluded: Record<string, string>
  scans: { input: string; paths: string[]; checks: number; errors: { file: string; message: string; tolerable: boolean }[]; findings: Finding[]; accepted: Finding[] }[]
}

function runScanner(...inputs: string[]): { status: number | null; report: ScanReport } {
  const run = spawnSync(process.execPath, [scanner, ...inputs], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 })
  const line = run.stdout.split('\n').find((l) => l.startsWith('{'))
  assert.ok(line, `the scanner printed no report (exit ${run.status}):\n${run.stdout}\n${run.stderr}`)
  return { status: run.status, report: JSON.parse(line) as ScanReport }
}

function filesUnder(dir: string, extensions: string[]): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return filesUnder(path, extensions)
    return extensions.some((e) => name.endsWith(e)) ? [path] : []
  })
}

describe('Electron security', () => {
  it('Electronegativity finds nothing in the Electron sources and the built app, apart from exceptions with reasons', () => {
    const { status, report } = runScanner()
    const source = report.scans.find((s) => s.input === 'source')
    assert.ok(source, 'the sources were scanned')
    assert.ok(source.paths.includes('src-main/electron') && source.paths.includes('src-renderer/index.html'))
    for (const scan of report.scans) {
      assert.ok(scan.checks >= 40, `${scan.input}: ${scan.checks} checks ran`)
      assert.deepEqual(scan.findings, [], `${scan.input}: unexplained findings`)
      assert.deepEqual(scan.errors.filter((e) => !e.tolerable), [], `${scan.input}: files the tool could not read`)
      for (const accepted of scan.accepted) assert.ok((accepted.reason ?? '').length > 40, `${accepted.id} has a reason`)
      // Only the known false positives are accepted: the options behind a function call, the CSP's 'self'.
      assert.deepEqual(
        [...new Set(scan.accepted.map((a) => a.id))].sort(),
        ['AUXCLICK_JS_CHECK', 'CONTEXT_ISOLATION_JS_CHECK', 'CSP_GLOBAL_CHECK', 'SANDBOX_JS_CHECK'],
      )
    }
    assert.deepEqual(Object.keys(report.excluded), ['AvailableSecurityFixesGlobalCheck'], 'only the check that needs the network is off')
    assert.equal(status, 0)
  })

  it('the scan does catch an insecure app (canary)', async () => {
    const dir = await tempDir('di-studio-eng-canary-')
    try {
      await mkdir(join(dir.path, 'app'))
      await writeFile(
        join(dir.path, 'app', 'main.js'),
        [
          "const { BrowserWindow, shell } = require('electron')",
          'const win = new BrowserWindow({ webPreferences: { nodeIntegration: true, contextIsolation: false, webSecurity: false } })',
          "win.webContents.on('will-navigate', (e, url) => shell.openExternal(url))",
          "win.loadURL('http://example.com/')",
        ].join('\n'),
      )
      const { status, report } = runScanner(join(dir.path, 'app'))
      const ids = new Set(report.scans.flatMap((s) => s.findings.map((f) => f.id)))
      for (const id of ['NODE_INTEGRATION_JS_CHECK', 'CONTEXT_ISOLATION_JS_CHECK', 'SANDBOX_JS_CHECK', 'WEB_SECURITY_JS_CHECK', 'OPEN_EXTERNAL_JS_CHECK', 'HTTP_RESOURCES_JS_CHECK', 'CSP_GLOBAL_CHECK', 'PERMISSION_REQUEST_HANDLER_GLOBAL_CHECK']) {
        assert.ok(ids.has(id), `${id} reported`)
      }
      // The exceptions never cover a window built from a literal.
      assert.deepEqual(report.scans.flatMap((s) => s.accepted), [])
      assert.equal(status, 1)
    } finally {
      await dir.remove()
    }
  })

  it('every IPC channel goes through the sender check; a refused request never reaches the core', async () => {
    const handlers = new Map<string, (event: never, params: unknown) => Promise<unknown>>()
    const dispatched: string[] = []
    const core = {
      dispatch: async (channel: unknown) => {
        dispatched.push(String(channel))
        return { ok: true as const, result: null }
      },
    }
    const warnings: string[] = []
    const log = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} }
    let trusted = false
    registerIpcHandlers({ handle: (channel, listener) => handlers.set(channel, listener as never) }, core, () => trusted, log as never)
    assert.deepEqual([...handlers.keys()].sort(), [...REQUEST_CHANNELS].sort())
    const event = { sender: { id: 1 }, senderFrame: { url: 'https://evil.example/', parent: null } } as never
    for (const [channel, handle] of handlers) {
      const reply = (await handle(event, { path: '../../etc/passwd' })) as { ok: boolean; error?: { code: string; message: string } }
      assert.equal(reply.ok, false, channel)
      assert.equal(reply.error?.code, 'forbidden')
      assert.match(reply.error?.message ?? '', /evil\.example/)
    }
    assert.deepEqual(dispatched, [])
    assert.equal(warnings.length, handlers.size, 'each refusal is logged')
    trusted = true
    for (const handle of handlers.values()) await handle(event, {})
    assert.deepEqual(dispatched.sort(), [...REQUEST_CHANNELS].sort())
  })

  it('no shell.openExternal, no remote URL loaded, Electron imported only by src-main/electron', () => {
    const sources = filesUnder(join(repoRoot, 'src-main'), ['.ts'])
    const built = filesUnder(join(repoRoot, 'out', 'main'), ['.js']).concat(filesUnder(join(repoRoot, 'out', 'preload'), ['.cjs', '.js']))
    assert.ok(sources.length > 50)
    for (const file of [...sources, ...built]) {
      const text = readFileSync(file, 'utf8')
      const where = relative(repoRoot, file)
      assert.doesNotMatch(text, /openExternal|openPath|showItemInFolder/, `${where} opens things outside the app`)
      assert.doesNotMatch(text, /\.loadURL\s*\(/, `${where} loads a URL`)
      if (!where.startsWith('src-main/electron/') && file.endsWith('.ts')) {
        assert.doesNotMatch(text, /from ['"]electron['"]/, `${where} imports electron`)
      }
    }
  })

  it('the page loads nothing remote: CSP sources are keywords or local schemes, index.html links only local files', () => {
    const allowedSources = new Set(["'none'", "'self'", 'data:', 'blob:', 'studio-file:'])
    for (const directive of CONTENT_SECURITY_POLICY.split(';').map((d) => d.trim()).filter(Boolean)) {
      const [name, ...sources] = directive.split(/\s+/)
      for (const source of sources) assert.ok(allowedSources.has(source), `${name} allows ${source}`)
    }
    const pages = [join(repoRoot, 'src-renderer', 'index.html'), join(repoRoot, 'out', 'renderer', 'index.html')].filter(existsSync)
    for (const page of pages) {
      const html = readFileSync(page, 'utf8')
      for (const [, url] of html.matchAll(/\b(?:src|href)="([^"]*)"/g)) {
        assert.match(url!, /^(\.\/|\/)(?!\/)/, `${relative(repoRoot, page)} references ${url}`)
      }
    }
    // The built renderer makes no requests to absolute http(s) URLs (the WebSocket is built from location).
    for (const bundle of filesUnder(join(repoRoot, 'out', 'renderer', 'assets'), ['.js'])) {
      const urls = readFileSync(bundle, 'utf8').match(/(?:fetch|WebSocket)\(\s*["'`](?:https?|wss?):\/\//g) ?? []
      assert.deepEqual(urls, [], relative(repoRoot, bundle))
    }
  })
})
