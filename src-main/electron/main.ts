// Electron main process: a hardened window, IPC wired to the studio core, and nothing else.
import { BrowserWindow, app, dialog, ipcMain } from 'electron'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatBackendReport } from '../core/backend-report.ts'
import { createLogger } from '../core/logger.ts'
import { locateConfigDir } from '../core/settings.ts'
import { StudioCore } from '../core/studio-core.ts'
import { locateWorkspace } from '../core/workspace.ts'
import { registerIpcHandlers } from './ipc.ts'
import { trustedSenderCheck } from './sender-check.ts'
import { createStudioWindow, hardenApp } from './window.ts'
import { handleWorkspaceFiles, registerWorkspaceScheme } from './workspace-protocol.ts'

const log = createLogger('electron')
const here = dirname(fileURLToPath(import.meta.url))
const paths = {
  preload: join(here, '..', 'preload', 'index.cjs'),
  rendererIndex: join(here, '..', 'renderer', 'index.html'),
}

app.enableSandbox()
hardenApp(log)
registerWorkspaceScheme()

if (!app.requestSingleInstanceLock()) {
  app.quit()
} else {
  let win: BrowserWindow | null = null
  let core: StudioCore | null = null

  app.on('second-instance', () => {
    if (win?.isMinimized()) win.restore()
    win?.focus()
  })

  app.whenReady().then(async () => {
    const workspace = locateWorkspace({ argv: process.argv, env: process.env, electronUserData: app.getPath('userData') })
    const configDir = locateConfigDir({ argv: process.argv, env: process.env, electronUserData: app.getPath('userData') })
    // datasets.pickFolder: the Data view's "Choose a folder…" opens the system folder dialog; the path it
    // returns is checked by the core like a typed one before anything reads it
    const pickFolder = async (): Promise<string | null> => {
      const options: Electron.OpenDialogOptions = { title: 'Import a folder of captioned images', properties: ['openDirectory'] }
      const picked = win && !win.isDestroyed() ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options)
      return picked.canceled ? null : (picked.filePaths[0] ?? null)
    }
    const started = await StudioCore.create({ workspace, host: 'electron', configDir, pickFolder })
    core = started
    const report = await core.dispatch('app.getBackendReport', {})
    if (report.ok) for (const line of formatBackendReport(report.result as never)) console.log(line)
    console.log(`Workspace: ${started.workspace.root} (${started.workspace.info.source}); settings in ${configDir}`)

    const isTrusted = trustedSenderCheck(() => (win && !win.isDestroyed() ? win.webContents.id : null), paths.rendererIndex)
    registerIpcHandlers(ipcMain, core, isTrusted, log)
    handleWorkspaceFiles(() => started.workspace, log) // follows a workspace switched in Settings
    core.onEvent((event) => {
      if (win && !win.isDestroyed()) win.webContents.send(event.channel, event.payload)
    })
    win = createStudioWindow(paths)
    win.on('closed', () => (win = null))
  }).catch((err: Error) => {
    log.error(`Start-up failed: ${err.stack ?? err.message}`)
    app.exit(1)
  })

  app.on('window-all-closed', () => {
    void (core?.close() ?? Promise.resolve()).finally(() => app.quit())
  })
}
