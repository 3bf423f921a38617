// Security settings that must not drift: the Electron window's options and the CSP, which is
// written twice (index.html meta tag for Electron's file:// page, HTTP header for the web host).
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { trustedSenderCheck } from '../../src-main/electron/sender-check.ts'
import { studioWindowOptions } from '../../src-main/electron/window-options.ts'
import { CONTENT_SECURITY_POLICY } from '../../src-main/web-host/security-headers.ts'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

describe('security settings', () => {
  it('the studio window is isolated and sandboxed, without Node in the page', () => {
    const prefs = studioWindowOptions('/app/preload.cjs').webPreferences!
    assert.equal(prefs.contextIsolation, true)
    assert.equal(prefs.sandbox, true)
    assert.equal(prefs.nodeIntegration, false)
    assert.equal(prefs.nodeIntegrationInWorker, false)
    assert.equal(prefs.nodeIntegrationInSubFrames, false)
    assert.equal(prefs.webSecurity, true)
    assert.equal(prefs.allowRunningInsecureContent, false)
    assert.equal(prefs.webviewTag, false)
    assert.equal(prefs.preload, '/app/preload.cjs')
  })

  it('index.html carries the same CSP as the web host header, minus frame-ancestors', async () => {
    const html = await readFile(join(repoRoot, 'src-renderer', 'index.html'), 'utf8')
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1]
    assert.ok(meta, 'index.html has a CSP meta tag')
    const directives = (csp: string) => new Set(csp.split(';').map((d) => d.trim()).filter(Boolean))
    const expected = directives(CONTENT_SECURITY_POLICY)
    expected.delete("frame-ancestors 'none'") // ignored in a meta tag
    assert.deepEqual(directives(meta), expected)
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/)
  })

  it('IPC is accepted only from the top frame of our window showing our index.html', () => {
    const index = '/opt/di studio/out/renderer/index.html'
    const ours = 'file:///opt/di%20studio/out/renderer/index.html'
    let windowId: number | null = 7
    const trusted = trustedSenderCheck(() => windowId, index)
    const event = (id: number, url: string, parent: unknown = null) => ({ sender: { id }, senderFrame: { url, parent } })
    assert.equal(trusted(event(7, ours)), true)
    assert.equal(trusted(event(7, `${ours}#/settings`)), true)
    assert.equal(trusted(event(8, ours)), false, 'another web contents')
    assert.equal(trusted(event(7, ours, { url: ours })), false, 'a sub-frame')
    assert.equal(trusted(event(7, 'https://evil.example/')), false, 'a foreign page')
    assert.equal(trusted(event(7, 'file:///tmp/index.html')), false, 'another local file')
    assert.equal(trusted({ sender: { id: 7 }, senderFrame: null }), false, 'a frame already gone')
    windowId = null
    assert.equal(trusted(event(7, ours)), false, 'window closed')
  })
})
