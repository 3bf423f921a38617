// Reading workspace files for a page (web host /files/..., Electron studio-file://...): the path is
// resolved inside the workspace, and only plain data and image types are served.
import { stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { SERVABLE_FILE_TYPES, StudioError } from '../contract/index.ts'
import type { Workspace } from './workspace.ts'

export interface ServableFile {
  path: string
  mime: string
  size: number
}

/**
 * `urlPath` is the part of the URL after the route or scheme, still percent-encoded.
 * Throws StudioError: 'forbidden' (outside the workspace, or a type not served), 'not-found'.
 */
export async function findServableFile(workspace: Workspace, urlPath: string): Promise<ServableFile> {
  let relative: string
  try {
    relative = urlPath.split('/').map(decodeURIComponent).join('/')
  } catch {
    throw new StudioError('forbidden', 'Malformed file path')
  }
  const path = workspace.resolve(relative)
  const mime = SERVABLE_FILE_TYPES[extname(path).toLowerCase()]
  if (!mime) throw new StudioError('forbidden', `Files of type ${JSON.stringify(extname(path) || '(none)')} are not served`)
  const info = await stat(path).catch(() => null)
  if (!info?.isFile()) throw new StudioError('not-found', `No file ${JSON.stringify(relative)} in the workspace`)
  return { path, mime, size: info.size }
}
