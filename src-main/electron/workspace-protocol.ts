// studio-file://workspace/<path>: workspace files (sample grids, gallery images) for the page in
// the desktop app, resolved inside the workspace exactly as the web host's /files/ route does.
import { protocol } from 'electron'
import { readFile } from 'node:fs/promises'
import { ELECTRON_FILE_SCHEME, StudioError } from '../contract/index.ts'
import type { Logger } from '../core/logger.ts'
import { findServableFile } from '../core/workspace-files.ts'
import type { Workspace } from '../core/workspace.ts'

/** Must run before the app is ready. */
export function registerWorkspaceScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: ELECTRON_FILE_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ])
}

/** `workspace` is asked on every request, so files come from the folder in use at that moment. */
export function handleWorkspaceFiles(workspace: () => Workspace, log: Logger): void {
  protocol.handle(ELECTRON_FILE_SCHEME, async (request) => {
    const url = new URL(request.url)
    if (url.host !== 'workspace' || request.method !== 'GET') return new Response('Forbidden', { status: 403 })
    try {
      const file = await findServableFile(workspace(), url.pathname.replace(/^\//, ''))
      return new Response(await readFile(file.path), { headers: { 'Content-Type': file.mime, 'Cache-Control': 'no-cache' } })
    } catch (err) {
      if (err instanceof StudioError) {
        log.warn(`Refused ${request.url}: ${err.message}`)
        return new Response(err.message, { status: err.code === 'not-found' ? 404 : 403 })
      }
      throw err
    }
  })
}
