// Which workspace files a page may read by URL (web host /files/..., Electron studio-file://...).
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { StudioError, encodeWorkspacePath } from '../../src-main/contract/index.ts'
import { findServableFile } from '../../src-main/core/workspace-files.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { tempDir } from '../helpers/studio-fixtures.ts'

const refusedWith = (code: string) => (err: unknown) => err instanceof StudioError && err.code === code

describe('findServableFile', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let ws: Workspace
  before(async () => {
    dir = await tempDir()
    ws = await Workspace.open({ root: join(dir.path, 'ws'), source: 'flag' })
    await mkdir(join(ws.root, 'runs', 'r 1', 'samples'), { recursive: true })
    await writeFile(join(ws.root, 'runs', 'r 1', 'samples', 'step 0.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]))
    await writeFile(join(ws.root, 'runs', 'r 1', 'run.sh'), 'rm -rf /')
    const outside = await mkdtemp(join(dir.path, 'outside-'))
    await writeFile(join(outside, 'secret.png'), 'x')
    await symlink(outside, join(ws.root, 'linked'))
  })
  after(() => dir.remove())

  it('finds images and data files by their encoded URL path', async () => {
    const file = await findServableFile(ws, encodeWorkspacePath('runs/r 1/samples/step 0.png'))
    assert.equal(file.path, join(ws.root, 'runs', 'r 1', 'samples', 'step 0.png'))
    assert.equal(file.mime, 'image/png')
    assert.equal(file.size, 4)
  })

  it('refuses other types, escapes, links out and malformed encodings', async () => {
    await assert.rejects(findServableFile(ws, 'runs/r%201/run.sh'), refusedWith('forbidden'))
    await assert.rejects(findServableFile(ws, '..%2F..%2Fetc%2Fpasswd.png'), refusedWith('forbidden'))
    await assert.rejects(findServableFile(ws, '%2e%2e/%2e%2e/x.png'), refusedWith('forbidden'))
    await assert.rejects(findServableFile(ws, '%2Fetc%2Fhosts.txt'), refusedWith('forbidden'))
    await assert.rejects(findServableFile(ws, 'linked/secret.png'), refusedWith('forbidden'))
    await assert.rejects(findServableFile(ws, 'bad%E0%A4%A.png'), refusedWith('forbidden'))
    await assert.rejects(findServableFile(ws, 'a%00b.png'), refusedWith('forbidden'))
  })

  it('reports missing files and folders as not found', async () => {
    await assert.rejects(findServableFile(ws, 'runs/none.png'), refusedWith('not-found'))
    await mkdir(join(ws.root, 'folder.png'))
    await assert.rejects(findServableFile(ws, 'folder.png'), refusedWith('not-found'))
  })
})
