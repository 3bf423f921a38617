// The studio window and the app-wide guards Electron's security checklist asks for.
import { BrowserWindow, app, session } from 'electron'
import type { IpcMainInvokeEvent, WebContents } from 'electron'
import { pathToFileURL } from 'node:url'
import type { Logger } from '../core/logger.ts'

export function createStudioWindow(paths: { preload: string; rendererIndex: string }): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 840,
    minWidth: 900,
    minHeight: 600,
    title: 'DI Studio',
    show: false,
    webPreferences: {
      preload: paths.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  })
  win.once('ready-to-show', () => win.show())
  void win.loadFile(paths.rendererIndex)
  return win
}

/** The only page allowed to talk to the core: our own index.html, in our own window. */
export function trustedSenderCheck(getWindow: () => BrowserWindow | null, rendererIndex: string) {
  const expectedUrl = pathToFileURL(rendererIndex).href
  return (event: IpcMainInvokeEvent): boolean => {
    const win = getWindow()
    const frameUrl = event.senderFrame?.url.split('#')[0]
    return !!win && event.sender.id === win.webContents.id && frameUrl === expectedUrl && event.senderFrame?.parent === null
  }
}

/** No navigation, no new windows, no webviews, no permissions, for every web contents ever created. */
export function hardenApp(log: Logger): void {
  app.on('web-contents-created', (_event, contents: WebContents) => {
    contents.setWindowOpenHandler(({ url }) => {
      log.warn(`Blocked a new window for ${url}`)
      return { action: 'deny' }
    })
    contents.on('will-navigate', (event, url) => {
      log.warn(`Blocked navigation to ${url}`)
      event.preventDefault()
    })
    contents.on('will-redirect', (event, url) => {
      log.warn(`Blocked redirect to ${url}`)
      event.preventDefault()
    })
    contents.on('will-attach-webview', (event) => event.preventDefault())
  })
  app.whenReady().then(() => {
    session.defaultSession.setPermissionRequestHandler((_contents, permission, callback) => {
      log.warn(`Denied permission request: ${permission}`)
      callback(false)
    })
    session.defaultSession.setPermissionCheckHandler(() => false)
  }, () => {})
}
