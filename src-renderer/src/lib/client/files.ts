// URLs for workspace files (sample grids, gallery images, metrics) that work in both hosts.
import { ELECTRON_FILE_SCHEME, WORKSPACE_FILE_ROUTE, encodeWorkspacePath } from '../../../../src-main/contract/index.ts'

/** `relativePath` uses forward slashes, relative to the workspace root (e.g. runs/r1/samples/0.png). */
export function workspaceFileUrl(relativePath: string): string {
  const encoded = encodeWorkspacePath(relativePath)
  return window.studio ? `${ELECTRON_FILE_SCHEME}://workspace/${encoded}` : `${WORKSPACE_FILE_ROUTE}${encoded}`
}

/** Makes the browser download a file (the web host: Export also saves to the user's downloads). */
export function downloadFile(url: string, name: string): void {
  const link = document.createElement('a')
  link.href = url
  link.download = name
  link.rel = 'noopener'
  document.body.appendChild(link)
  link.click()
  link.remove()
}
