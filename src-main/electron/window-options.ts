// The studio window's options, kept free of Electron imports so a test can check them.
import type { BrowserWindowConstructorOptions } from 'electron'

export function studioWindowOptions(preload: string): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 840,
    minWidth: 900,
    minHeight: 600,
    title: 'DI Studio',
    show: false,
    webPreferences: {
      preload,
      // The Electron security checklist: isolated, sandboxed, no Node in the page or its workers.
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  }
}
