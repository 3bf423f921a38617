// Datasets over a real WebSocket, the import running as a job in its worker thread: a drawn folder of
// shapes imports into datasets/<id> and is listed beside the built-in emoji data, opened page by page
// (captions, preview cells, the split, the report) and deleted; source folders are checked before any
// job starts (relative, missing, a file, the workspace or a folder holding it); a paused then stopped
// import leaves no dataset; the web host has no folder dialog.
import assert from 'node:assert/strict'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { DatasetDetail, DatasetSummary, ServerMessage } from '../../src-main/contract/index.ts'
import { writeShapesDataset } from '../helpers/shapes-dataset.ts'
import { TestSocket, startTestStudio, tempDir, wsUrlOf } from '../helpers/studio-fixtures.ts'

type Reply = Awaited<ReturnType<TestSocket['request']>>
const errorOf = (r: Reply) => (r.ok ? 'ok' : `${r.error.code}: ${r.error.message}`)
function resultOf<T>(r: Reply): T {
  if (!r.ok) throw new Error(`request failed: ${r.error.code}: ${r.error.message}`)
  return r.result as T
}
const isDone = (jobId: string) => (m: ServerMessage) => m.type === 'event' && m.channel === 'job.done' && (m.payload as { jobId: string }).jobId === jobId

describe('web host: datasets', { timeout: 300_000 }, () => {
  let studio: Awaited<ReturnType<typeof startTestStudio>>
  let socket: TestSocket
  let pictures: Awaited<ReturnType<typeof tempDir>>

  before(async () => {
    studio = await startTestStudio()
    socket = await TestSocket.open(wsUrlOf(studio.host))
    pictures = await tempDir('di-datasets-src-')
    await writeShapesDataset(join(pictures.path, 'shapes'), 60, 'kohya')
    await writeFile(join(pictures.path, 'shapes', 'broken.png'), 'not a picture')
    await writeFile(join(pictures.path, 'shapes', 'broken.txt'), 'a broken one')
    // big enough that the pause arrives long before the last image
    await writeShapesDataset(join(pictures.path, 'many'), 400, 'kohya')
  })

  after(async () => {
    socket?.close()
    await studio?.close()
    await pictures?.remove()
  })

  it('lists the built-in emoji data before anything is imported', async () => {
    const list = resultOf<DatasetSummary[]>(await socket.request('datasets.list', {}))
    const emoji = list.find((d) => d.id === 'builtin-emoji')
    assert.ok(emoji?.builtin)
    assert.ok(emoji.counts.items > 3000, `${emoji.counts.items} emoji images`)
    assert.ok(emoji.counts.validation > 0 && emoji.counts.train > emoji.counts.validation)
    assert.ok(list.some((d) => d.id === 'builtin-emoji-multi-style' && d.counts.items > emoji.counts.items))
    const page = resultOf<DatasetDetail>(await socket.request('datasets.open', { id: 'builtin-emoji', limit: 5 }))
    assert.equal(page.items.length, 5)
    assert.equal(page.items[0]!.preview, undefined, 'built-in images are not copied into the workspace')
    assert.match(errorOf(await socket.request('datasets.delete', { id: 'builtin-emoji' })), /^forbidden: .*built in/)
  })

  it('refuses source folders that are not absolute, missing, files, or the workspace, before a job starts', async () => {
    const start = (folder: string) => socket.request('jobs.start', { kind: 'dataset-import', params: { folder } })
    assert.match(errorOf(await start('shapes')), /^invalid-params: .*absolute path/)
    assert.match(errorOf(await start(join(pictures.path, 'nothing-here'))), /^not-found: There is no folder/)
    assert.match(errorOf(await start(join(pictures.path, 'shapes', 'broken.png'))), /^invalid-params: .* is a file, not a folder/)
    assert.match(errorOf(await start(studio.workspace)), /^forbidden: .*the workspace or inside it/)
    await mkdir(join(studio.workspace, 'runs', 'x'), { recursive: true })
    assert.match(errorOf(await start(join(studio.workspace, 'runs', 'x'))), /^forbidden: .*inside it/)
    assert.match(errorOf(await start(join(studio.workspace, '..'))), /^forbidden: .*holds the studio's workspace/)
    const jobs = resultOf<unknown[]>(await socket.request('jobs.list', {}))
    assert.equal(jobs.length, 0, 'no job was started')
  })

  it('imports a folder as a job, then lists, opens and deletes the dataset', async () => {
    const started = resultOf<{ jobId: string }>(await socket.request('jobs.start', {
      kind: 'dataset-import', params: { folder: join(pictures.path, 'shapes'), name: 'Shapes!', imageSize: 32, fit: 'crop', background: '#ffffff' },
    }))
    const done = (await socket.waitFor(isDone(started.jobId), 240_000)) as Extract<ServerMessage, { type: 'event' }>
    const payload = done.payload as { status: string; error?: string; result: { datasetId: string; items: number; skipped: number; path: string } }
    assert.equal(payload.status, 'succeeded', payload.error)
    assert.equal(payload.result.items, 60)
    assert.equal(payload.result.skipped, 1)
    assert.match(payload.result.datasetId, /^shapes-[0-9a-f]{6}$/)
    const id = payload.result.datasetId
    assert.ok(socket.messages.some((m) => m.type === 'event' && m.channel === 'job.progress' && (m.payload as { jobId: string }).jobId === started.jobId))

    const list = resultOf<DatasetSummary[]>(await socket.request('datasets.list', {}))
    const mine = list.find((d) => d.id === id)!
    assert.equal(mine.name, 'Shapes!')
    assert.deepEqual(mine.counts, { items: 60, train: 54, validation: 6, skipped: 1 })
    assert.equal(mine.imageSize, 32)
    assert.deepEqual(mine.policy, { fit: 'crop', background: '#ffffff' })

    const page = resultOf<DatasetDetail>(await socket.request('datasets.open', { id, offset: 10, limit: 20 }))
    assert.equal(page.total, 60)
    assert.equal(page.items.length, 20)
    assert.equal(page.items[0]!.index, 10)
    assert.equal(page.items[0]!.label, 'shape-0010.webp')
    assert.deepEqual(page.items[0]!.preview, { sheet: `datasets/${id}/sheets/0.png`, column: 10, row: 0 })
    assert.deepEqual(page.sheetGrid, { columns: 16, rows: 16, cellSize: 32 })
    assert.deepEqual(page.report, { skipped: [{ file: 'broken.png', reason: 'not an image: the contents are not PNG, JPEG, WebP or GIF' }], total: 1 })
    const validation = resultOf<DatasetDetail>(await socket.request('datasets.open', { id, split: 'validation' }))
    assert.equal(validation.total, 6)
    assert.ok(validation.items.every((i) => i.split === 'validation'))
    // the preview sheet is served like any workspace image
    const sheet = await fetch(`${studio.host.url}/files/datasets/${id}/sheets/0.png`, { headers: { Authorization: `Bearer ${studio.host.token}` } })
    assert.equal(sheet.status, 200)
    assert.equal(sheet.headers.get('content-type'), 'image/png')

    assert.match(errorOf(await socket.request('datasets.delete', { id: '../runs' })), /^invalid-params/)
    assert.deepEqual(resultOf(await socket.request('datasets.delete', { id })), { id, deleted: true })
    assert.deepEqual(await readdir(join(studio.workspace, 'datasets')), [])
    assert.match(errorOf(await socket.request('datasets.open', { id })), /^not-found/)
    assert.match(errorOf(await socket.request('datasets.delete', { id })), /^not-found/)
  })

  it('a paused then stopped import leaves no dataset and no temporary folder', async (t) => {
    const started = resultOf<{ jobId: string }>(await socket.request('jobs.start', { kind: 'dataset-import', params: { folder: join(pictures.path, 'many'), id: 'stopped-one', imageSize: 64 } }))
    const jobId = started.jobId
    await socket.waitFor((m) => m.type === 'event' && m.channel === 'job.progress' && (m.payload as { jobId: string }).jobId === jobId, 120_000)
    resultOf(await socket.request('jobs.control', { jobId, control: { type: 'pause' } }))
    const paused = await socket.waitFor((m) => m.type === 'event' && m.channel === 'job.status' && (m.payload as { jobId: string; status: string }).jobId === jobId &&
      ['paused', 'succeeded'].includes((m.payload as { status: string }).status), 120_000)
    // the import may have finished before the pause arrived; then there is nothing to stop
    if (paused.type === 'event' && (paused.payload as { status: string }).status === 'succeeded') {
      t.diagnostic('the import finished before the pause arrived: nothing was left to stop')
      return
    }
    resultOf(await socket.request('jobs.cancel', { jobId }))
    const done = (await socket.waitFor(isDone(jobId), 120_000)) as Extract<ServerMessage, { type: 'event' }>
    assert.equal((done.payload as { status: string }).status, 'cancelled')
    const left = await readdir(join(studio.workspace, 'datasets'))
    assert.ok(!left.some((name) => name.includes('stopped-one')), `left behind: ${left.join(', ')}`)
    assert.ok(!resultOf<DatasetSummary[]>(await socket.request('datasets.list', {})).some((d) => d.id === 'stopped-one'))
  })

  it('the web host has no folder dialog: the path is typed', async () => {
    assert.deepEqual(resultOf(await socket.request('datasets.pickFolder', {})), { supported: false, folder: null })
  })
})
