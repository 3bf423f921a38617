// Runs the built Electron main process (argv[2]) against the fake Electron, exercises what it
// registered, and prints one JSON report line for tests/integration/electron-main-wiring.test.ts.
import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { BrowserWindow, emitReady, recorded } from 'electron'

const until = async (check, what, timeoutMs = 30_000) => {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

await import(pathToFileURL(process.argv[2]).href)
emitReady()
await until(() => recorded.windows.length > 0, 'the studio window')
const win = recorded.windows[0]
const contents = win.webContents
const ownPage = { sender: { id: contents.id }, senderFrame: { url: pathToFileURL(win.loadedFile).href, parent: null } }
const invoke = (channel, event, params) => recorded.ipcHandlers.get(channel)(event, params)

const report = {
  sandboxEnabled: recorded.sandboxEnabled,
  webPreferences: { ...win.options.webPreferences, preload: undefined },
  preloadExists: existsSync(win.options.webPreferences.preload),
  preloadIsCjs: win.options.webPreferences.preload.endsWith('.cjs'),
  rendererExists: existsSync(win.loadedFile),
  ipcChannels: [...recorded.ipcHandlers.keys()].sort(),
  privilegedSchemes: recorded.privilegedSchemes.map((s) => s.scheme),
}

report.workspace = await invoke('app.getWorkspace', ownPage, {})
report.foreignPage = await invoke('app.getWorkspace', { ...ownPage, senderFrame: { url: 'https://evil.example/', parent: null } }, {})
report.otherContents = await invoke('app.getWorkspace', { ...ownPage, sender: { id: 999 } }, {})
report.badParams = await invoke('jobs.start', ownPage, { kind: 'demo', params: { samples: 'lots' } })
report.pickFolder = await invoke('datasets.pickFolder', ownPage, {})
report.openDialogs = recorded.openDialogs

const started = await invoke('jobs.start', ownPage, { kind: 'demo', params: { samples: 100_000, chunks: 4, saveResultAs: 'results/pi.json' } })
report.started = started.ok
await until(() => contents.sent.some((m) => m.channel === 'job.done'), 'job.done sent to the window')
report.eventChannelsSent = [...new Set(contents.sent.map((m) => m.channel))].sort()

const fileHandler = recorded.protocolHandlers.get('studio-file')
const fetchFile = async (url) => {
  const response = await fileHandler(new Request(url))
  return { status: response.status, body: await response.text() }
}
report.fileOk = await fetchFile('studio-file://workspace/results/pi.json')
report.fileEscape = await fetchFile('studio-file://workspace/..%2F..%2Fetc%2Fpasswd.txt')
report.fileOtherHost = await fetchFile('studio-file://elsewhere/results/pi.json')

report.newWindow = contents.windowOpenHandler({ url: 'https://evil.example/' })
let prevented = 0
const fakeEvent = { preventDefault: () => prevented++ }
contents.emit('will-navigate', fakeEvent, 'https://evil.example/')
contents.emit('will-redirect', fakeEvent, 'https://evil.example/')
contents.emit('will-attach-webview', fakeEvent)
report.navigationPrevented = prevented
await until(() => recorded.permissionRequestHandler, 'the permission handler')
report.permissionGranted = await new Promise((resolve) => recorded.permissionRequestHandler(contents, 'media', resolve))
report.permissionCheck = recorded.permissionCheckHandler(contents, 'media')

// Sender validation on EVERY handler: each kind of foreign sender is refused before the core runs.
const ownUrl = ownPage.senderFrame.url
const foreignSenders = {
  foreignPage: { ...ownPage, senderFrame: { url: 'https://evil.example/', parent: null } },
  otherContents: { ...ownPage, sender: { id: contents.id + 1000 } },
  subFrame: { ...ownPage, senderFrame: { url: ownUrl, parent: { url: ownUrl } } },
  frameGone: { ...ownPage, senderFrame: null },
  otherLocalFile: { ...ownPage, senderFrame: { url: 'file:///tmp/index.html', parent: null } },
  workspaceFile: { ...ownPage, senderFrame: { url: 'studio-file://workspace/results/pi.json', parent: null } },
}
report.foreignSenderReplies = {}
for (const channel of recorded.ipcHandlers.keys()) {
  report.foreignSenderReplies[channel] = {}
  for (const [name, event] of Object.entries(foreignSenders)) {
    const reply = await invoke(channel, event, {})
    report.foreignSenderReplies[channel][name] = reply.ok ? 'accepted' : reply.error.code
  }
}

// Every permission, requested or checked, is denied.
const permissions = ['media', 'geolocation', 'notifications', 'midi', 'midiSysex', 'pointerLock', 'fullscreen', 'openExternal',
  'clipboard-read', 'clipboard-sanitized-write', 'display-capture', 'hid', 'serial', 'usb', 'idle-detection', 'window-management',
  'storage-access', 'unknown']
report.permissionsGranted = []
for (const permission of permissions) {
  const granted = await new Promise((resolve) => recorded.permissionRequestHandler(contents, permission, resolve, { requestingUrl: ownUrl }))
  if (granted || recorded.permissionCheckHandler(contents, permission, ownUrl, {})) report.permissionsGranted.push(permission)
}
report.permissionsTried = permissions.length

// Guards hold for the app's own URL too, and for any web contents created later (a devtools or
// popup contents would get them as well).
const later = new BrowserWindow({}).webContents
let laterPrevented = 0
const laterEvent = { preventDefault: () => laterPrevented++ }
later.emit('will-navigate', laterEvent, ownUrl)
later.emit('will-navigate', laterEvent, 'file:///etc/passwd')
later.emit('will-redirect', laterEvent, 'http://127.0.0.1/')
later.emit('will-attach-webview', laterEvent)
report.laterContents = {
  newWindowOwnUrl: later.windowOpenHandler?.({ url: ownUrl }) ?? null,
  newWindowJs: later.windowOpenHandler?.({ url: 'javascript:alert(1)' }) ?? null,
  prevented: laterPrevented,
}
report.loadedFile = win.loadedFile
report.loadedUrls = recorded.windows.map((w) => w.loadedUrl).filter(Boolean)

process.stdout.write(`${JSON.stringify(report)}\n`)
process.exit(0)
