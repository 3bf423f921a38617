// Preload (sandboxed, contextIsolation on): exposes the narrow `window.studio` API of task verbs.
// ipcRenderer itself never reaches the page.
import { contextBridge, ipcRenderer } from 'electron'
import { createPreloadApi } from './preload-api.ts'

contextBridge.exposeInMainWorld(
  'studio',
  createPreloadApi(
    (channel, params) => ipcRenderer.invoke(channel, params),
    (channel, listener) => {
      const handler = (_event: Electron.IpcRendererEvent, payload: unknown): void => listener(payload)
      ipcRenderer.on(channel, handler)
      return () => ipcRenderer.removeListener(channel, handler)
    },
  ),
)
