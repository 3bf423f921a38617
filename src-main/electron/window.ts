// The studio window and the app-wide guards Electron's security checklist asks for.
import { BrowserWindow, app, session } from 'electron'
import type { WebContents } from 'electron'
import type { Logger } from '../core/logger.ts'
import { studioWindowOptions } from './window-options.ts'

export function createStudioWindow(paths: { preload: string; rendererIndex: string }): BrowserWindow {
  const win = new BrowserWindow(studioWindowOptions(paths.preload))
  win.once('ready-to-show', () => win.show())
  void win.loadFile(paths.rendererIndex)
  return win
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
