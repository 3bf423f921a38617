// The folder a user asks to import from (a path typed on the web host, or the desktop folder dialog's
// answer): checked like every path the studio accepts before anything reads it. It must be absolute,
// exist, be a folder the studio can read, and have nothing to do with the workspace's own files (not
// the workspace, not inside it, not a folder holding it). The importer then only opens files read-only.
import { constants as fsConstants } from 'node:fs'
import { access, realpath, stat } from 'node:fs/promises'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { StudioError } from '../../contract/index.ts'

function inside(parent: string, child: string): boolean {
  const rel = relative(parent, child)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))
}

/** The folder's real path, or a StudioError saying what is wrong with it. */
export async function checkSourceFolder(path: string, workspaceRoot: string): Promise<string> {
  if (typeof path !== 'string' || path.length === 0) throw new StudioError('invalid-params', 'Type the folder to import')
  if (path.includes('\0')) throw new StudioError('invalid-params', 'The folder path contains a NUL character')
  if (!isAbsolute(path)) throw new StudioError('invalid-params', `The folder must be an absolute path (got ${JSON.stringify(path.slice(0, 300))})`)
  const folder = resolve(path)
  const info = await stat(folder).catch(() => null)
  if (!info) throw new StudioError('not-found', `There is no folder ${folder}`)
  if (!info.isDirectory()) throw new StudioError('invalid-params', `${folder} is a file, not a folder`)
  const real = await realpath(folder)
  await access(real, fsConstants.R_OK | fsConstants.X_OK).catch(() => {
    throw new StudioError('forbidden', `The studio may not read the folder ${folder}`)
  })
  const workspace = await realpath(workspaceRoot).catch(() => resolve(workspaceRoot))
  if (inside(workspace, real)) throw new StudioError('forbidden', `${folder} is the workspace or inside it: import from a folder of your own`)
  if (inside(real, workspace)) throw new StudioError('forbidden', `${folder} holds the studio's workspace (${workspaceRoot}): choose the folder of the images itself`)
  return real
}
