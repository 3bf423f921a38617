// How a page reads files from the workspace (sample grids, gallery images, metrics): by URL, never
// by an arbitrary path. The web host serves them under /files/, Electron under studio-file://.
// Both resolve the path inside the workspace and serve only these types.

export const WORKSPACE_FILE_ROUTE = '/files/'
export const ELECTRON_FILE_SCHEME = 'studio-file'

export const SERVABLE_FILE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'application/x-ndjson; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
}

/** Encode a workspace-relative path (forward slashes) as a URL path, one segment at a time. */
export function encodeWorkspacePath(relativePath: string): string {
  return relativePath.split('/').filter(Boolean).map(encodeURIComponent).join('/')
}
