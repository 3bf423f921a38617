// Where the workspace lives, and that client paths can never leave it.
import assert from 'node:assert/strict'
import { mkdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { StudioError } from '../../src-main/contract/index.ts'
import { Workspace, locateWorkspace } from '../../src-main/core/workspace.ts'
import { tempDir } from '../helpers/studio-fixtures.ts'

describe('locateWorkspace', () => {
  it('prefers --workspace, then DI_STUDIO_HOME, then Electron userData, then ~/.di-studio', () => {
    const env = { DI_STUDIO_HOME: '/data/env' }
    assert.deepEqual(locateWorkspace({ argv: ['--workspace', '/data/flag'], env, electronUserData: '/e' }), { root: '/data/flag', source: 'flag' })
    assert.deepEqual(locateWorkspace({ argv: ['--workspace=/data/eq'], env }), { root: '/data/eq', source: 'flag' })
    assert.deepEqual(locateWorkspace({ argv: [], env, electronUserData: '/e' }), { root: '/data/env', source: 'env' })
    assert.deepEqual(locateWorkspace({ argv: [], env: {}, electronUserData: '/e' }), { root: '/e', source: 'electron' })
    assert.deepEqual(locateWorkspace({ argv: [], env: {}, home: '/home/u' }), { root: '/home/u/.di-studio', source: 'default' })
  })
})

describe('Workspace.resolve', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let ws: Workspace
  before(async () => {
    dir = await tempDir()
    ws = await Workspace.open({ root: join(dir.path, 'ws'), source: 'flag' })
    await mkdir(join(dir.path, 'outside'))
    await symlink(join(dir.path, 'outside'), join(dir.path, 'ws', 'escape'))
  })
  after(() => dir.remove())

  it('creates the standard folders', async () => {
    const { readdir } = await import('node:fs/promises')
    const entries = await readdir(ws.root)
    for (const sub of ['runs', 'gallery', 'preferences', 'jobs']) assert.ok(entries.includes(sub), sub)
  })

  it('resolves relative paths inside the workspace', () => {
    assert.equal(ws.resolve('runs/r1/config.json'), join(ws.root, 'runs', 'r1', 'config.json'))
    assert.equal(ws.resolve('a/../b.json'), join(ws.root, 'b.json'))
    assert.equal(ws.resolve('new/deep/file.json'), join(ws.root, 'new', 'deep', 'file.json'))
  })

  it('refuses escapes, absolute paths, NUL bytes and links to the outside', () => {
    const bad = ['../x', '../../etc/passwd', 'runs/../../x', '/etc/passwd', '', '.', 'runs/..', 'a\0b', 'C:\\Windows', 'escape/secret.txt', 'escape']
    for (const p of bad) {
      assert.throws(() => ws.resolve(p), (err: unknown) => err instanceof StudioError && err.code === 'forbidden', JSON.stringify(p))
    }
  })
})
