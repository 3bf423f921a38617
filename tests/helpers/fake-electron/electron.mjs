// A recording fake of the parts of Electron's main-process API that DI Studio uses. It keeps what
// the app registers (IPC handlers, window options, guards) so a harness can inspect and call them.
import { EventEmitter } from 'node:events'

export const recorded = {
  sandboxEnabled: false,
  ipcHandlers: new Map(),
  windows: [],
  privilegedSchemes: [],
  protocolHandlers: new Map(),
  permissionRequestHandler: null,
  permissionCheckHandler: null,
  /** folder dialogs opened: [had a parent window, options] */
  openDialogs: [],
}

let markReady
const ready = new Promise((resolve) => (markReady = resolve))

class FakeApp extends EventEmitter {
  isReady = false
  enableSandbox() {
    if (this.isReady) throw new Error('app.enableSandbox() must be called before the app is ready')
    recorded.sandboxEnabled = true
  }
  requestSingleInstanceLock() {
    return true
  }
  whenReady() {
    return ready
  }
  getPath(name) {
    if (name !== 'userData') throw new Error(`fake app.getPath: unexpected ${name}`)
    return process.env.FAKE_ELECTRON_USER_DATA
  }
  quit() {}
  exit(code) {
    process.exit(code)
  }
}

export const app = new FakeApp()

/** Like Electron, the harness makes the app ready once the main script has been evaluated. */
export function emitReady() {
  app.isReady = true
  markReady()
  app.emit('ready')
}

export const ipcMain = {
  handle(channel, listener) {
    if (recorded.ipcHandlers.has(channel)) throw new Error(`second handler for ${channel}`)
    recorded.ipcHandlers.set(channel, listener)
  },
}

/** The folder dialog answers the folder in FAKE_ELECTRON_PICK, or is cancelled. */
export const dialog = {
  async showOpenDialog(windowOrOptions, maybeOptions) {
    const options = maybeOptions ?? windowOrOptions
    recorded.openDialogs.push({ withWindow: maybeOptions !== undefined, properties: options.properties })
    const folder = process.env.FAKE_ELECTRON_PICK
    return folder ? { canceled: false, filePaths: [folder] } : { canceled: true, filePaths: [] }
  },
}

export const session = {
  defaultSession: {
    setPermissionRequestHandler(handler) {
      recorded.permissionRequestHandler = handler
    },
    setPermissionCheckHandler(handler) {
      recorded.permissionCheckHandler = handler
    },
  },
}

export const protocol = {
  registerSchemesAsPrivileged(schemes) {
    if (app.isReady) throw new Error('registerSchemesAsPrivileged must be called before the app is ready')
    recorded.privilegedSchemes.push(...schemes)
  },
  handle(scheme, handler) {
    recorded.protocolHandlers.set(scheme, handler)
  },
}

let nextContentsId = 1

class FakeWebContents extends EventEmitter {
  id = nextContentsId++
  sent = []
  windowOpenHandler = null
  send(channel, payload) {
    this.sent.push({ channel, payload })
  }
  setWindowOpenHandler(handler) {
    this.windowOpenHandler = handler
  }
}

export class BrowserWindow extends EventEmitter {
  constructor(options) {
    super()
    this.options = options
    this.webContents = new FakeWebContents()
    this.loadedFile = null
    recorded.windows.push(this)
    app.emit('web-contents-created', {}, this.webContents)
  }
  loadFile(path) {
    this.loadedFile = path
    return Promise.resolve()
  }
  /** Recorded so a test can prove the app never loads remote content. */
  loadURL(url) {
    this.loadedUrl = url
    return Promise.resolve()
  }
  show() {}
  focus() {}
  restore() {}
  isMinimized() {
    return false
  }
  isDestroyed() {
    return false
  }
}

export default { app, dialog, ipcMain, session, protocol, BrowserWindow }
