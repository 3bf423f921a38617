import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile, readFile, readdir, utimes } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Gallery, GalleryError, INDEX_FILE, type GalleryEntry } from '../../src-main/core/gallery/gallery.ts'
import { metaToText, type ImageMeta } from '../../src-main/core/gallery/image-meta.ts'
import { encodePng } from '../../src-main/core/gallery/png-text.ts'

let root: string
before(async () => { root = await mkdtemp(join(tmpdir(), 'gallery-index-')) })
after(async () => { await rm(root, { recursive: true, force: true }) })

const WORDS = ['red', 'apple', 'black', 'cat', 'smiling', 'face', 'flag', 'heart', 'moon', 'tree']

function meta(i: number): ImageMeta {
  return {
    prompt: `${WORDS[i % 10]} ${WORDS[(i * 7 + 3) % 10]} number${i}`, seed: i % 16,
    model: i % 3 === 0 ? 'reference' : 'generator', modelPath: '/m', modelSha256: 'b'.repeat(64),
    modelKind: i % 3 === 0 ? 'eps' : 'generator', ...(i % 3 === 0 ? {} : { run: `run-${i % 2}` }),
    sampler: i % 3 === 0 ? 'ddim' : 'one-step', steps: i % 3 === 0 ? 25 : 1, cfg: i % 3 === 0 ? 3 : 1,
    width: 2, height: 2, createdAt: new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString(), generationMs: 1,
  }
}

test('add, list, search, filter, page and delete with real PNGs', async () => {
  const dir = join(root, 'small')
  const g = new Gallery(dir)
  assert.deepEqual(await g.open(), { rebuilt: true, problems: [] })
  const metas = Array.from({ length: 6 }, (_, i) => meta(i))
  const entries = await g.addImages(new Float32Array(6 * 12).fill(0.5), metas)
  assert.equal(g.size, 6)
  assert.equal((await readdir(join(dir, 'images'))).length, 6)
  assert.equal(g.list().entries[0]!.id, entries[5]!.id, 'newest first')
  assert.equal(g.list({ order: 'oldest' }).entries[0]!.id, entries[0]!.id)
  // prompts: 'red cat number0', 'apple flag number1', ..., so only entry 0 has both words, in any case
  assert.deepEqual(g.list({ text: 'CAT red' }).entries.map((e) => e.id), [entries[0]!.id])
  assert.equal(g.list({ text: 'number' }).total, 6)
  assert.equal(g.list({ model: 'reference' }).total, 2)
  assert.equal(g.list({ run: 'run-1' }).total, 2) // i = 1, 5
  assert.equal(g.list({ seed: 4 }).total, 1)
  const page = g.list({ limit: 2, offset: 2, order: 'oldest' })
  assert.equal(page.total, 6)
  assert.deepEqual(page.entries.map((e) => e.id), [entries[2]!.id, entries[3]!.id])
  assert.deepEqual((await g.readPixels(entries[0]!.id)).rgb, new Uint8Array(12).fill(191))

  assert.equal(await g.delete([entries[1]!.id]), 1)
  assert.equal(g.get(entries[1]!.id), undefined)
  assert.equal((await readdir(join(dir, 'images'))).length, 5)
  await assert.rejects(g.delete(['nope']), (e: Error) => e instanceof GalleryError && /no image with id 'nope'/.test(e.message))
  // the change is on disk: a fresh Gallery sees the same
  const again = new Gallery(dir)
  assert.deepEqual(await again.open(), { rebuilt: false, problems: [] })
  assert.equal(again.size, 5)
})

test('a missing or corrupt index is rebuilt from the PNGs; unreadable PNGs are reported, not fatal', async () => {
  const dir = join(root, 'rebuild')
  const g = new Gallery(dir)
  await g.open()
  const entries = await g.addImages(new Float32Array(3 * 12), [meta(0), meta(1), meta(2)])
  await writeFile(join(dir, INDEX_FILE), '{"format":"di-studio-gallery-index","version":1,"entries":[{"id":')
  await writeFile(join(dir, 'images', 'junk.png'), 'garbage')
  const g2 = new Gallery(dir)
  const report = await g2.open()
  assert.equal(report.rebuilt, true)
  assert.match(report.problems[0]!, /index\.json is unusable \(not valid JSON\)/)
  assert.match(report.problems[1]!, /images\/junk\.png: .*not a PNG/)
  assert.deepEqual(g2.list({ order: 'oldest' }).entries.map((e) => e.id), entries.map((e) => e.id))
  assert.deepEqual(g2.get(entries[1]!.id), entries[1])
  // and the rebuilt index is valid again
  JSON.parse(await readFile(join(dir, INDEX_FILE), 'utf8'))
  // an index entry pointing outside the gallery is refused as corrupt
  const body = JSON.parse(await readFile(join(dir, INDEX_FILE), 'utf8'))
  body.entries[0].file = '../../etc/passwd'
  await writeFile(join(dir, INDEX_FILE), JSON.stringify(body))
  const g3 = new Gallery(dir)
  assert.match((await g3.open()).problems[0]!, /bad file path/)
  assert.equal(g3.size, 3)
})

test('10,000 entries: search, filters, date range and paging stay correct', async () => {
  const dir = join(root, 'big')
  const g = new Gallery(dir)
  await g.open()
  const N = 10_000
  const entries: GalleryEntry[] = Array.from({ length: N }, (_, i) => ({ ...meta(i), id: `e${i}`, file: `images/e${i}.png` }))
  // real (tiny) PNGs, written plainly for speed: the index must agree with the folder on reopen
  const pixels = new Uint8Array(12)
  for (let start = 0; start < N; start += 500) {
    await Promise.all(entries.slice(start, start + 500).map((e) => writeFile(join(dir, e.file), encodePng(pixels, 2, 2, metaToText(meta(Number(e.id.slice(1))))))))
  }
  await g.addEntries(entries)
  assert.equal(g.size, N)
  const want = (f: (i: number) => boolean) => Array.from({ length: N }, (_, i) => i).filter(f).length
  assert.equal(g.list({ text: 'number123' }).total, want((i) => String(i).startsWith('123')))
  assert.equal(g.list({ text: 'red cat' }).total, want((i) => { const p = meta(i).prompt; return p.includes('red') && p.includes('cat') }))
  assert.equal(g.list({ model: 'reference', seed: 5 }).total, want((i) => i % 3 === 0 && i % 16 === 5))
  assert.equal(g.list({ run: 'run-0' }).total, want((i) => i % 3 !== 0 && i % 2 === 0))
  // one day = 24 consecutive entries
  assert.equal(g.list({ from: '2026-01-02', to: '2026-01-02' }).total, 24)
  const last = g.list({ limit: 50, offset: N - 10 })
  assert.equal(last.entries.length, 10)
  assert.equal(last.entries[9]!.id, 'e0')
  assert.throws(() => g.list({ limit: 5000 }), /limit/)
  assert.throws(() => g.list({ from: 'yesterday' }), /not a date/)
  // reopening reads the same 10,000 from the index without a rebuild
  const again = new Gallery(dir)
  assert.deepEqual(await again.open(), { rebuilt: false, problems: [] })
  assert.equal(again.size, N)
  assert.deepEqual(again.facets(), { models: ['generator', 'reference'], runs: ['run-0', 'run-1'] })
  // and a full rebuild from the 10,000 PNGs finds every one of them
  await rm(join(dir, INDEX_FILE))
  const rebuilt = new Gallery(dir)
  assert.deepEqual(await rebuilt.open(), { rebuilt: true, problems: [] })
  assert.equal(rebuilt.list({ text: 'number9999' }).entries[0]!.seed, 9999 % 16)
})

test('after a crash the index is reconciled with the folder: unindexed PNGs added, entries without PNG dropped', async () => {
  const dir = join(root, 'reconcile')
  const g = new Gallery(dir)
  await g.open()
  const [a, b] = await g.addImages(new Float32Array(2 * 12), [meta(0), meta(1)])
  await rm(join(dir, a!.file))
  // a PNG written just before a crash, never indexed
  await writeFile(join(dir, 'images', 'orphan.png'), encodePng(new Uint8Array(12), 2, 2, metaToText(meta(7))))
  const again = new Gallery(dir)
  const report = await again.open()
  assert.equal(report.rebuilt, false)
  assert.deepEqual(report.problems, ['1 index entry without a PNG removed', '1 PNG missing from the index added'])
  assert.deepEqual(again.list({ order: 'oldest' }).entries.map((e) => e.id), [b!.id, 'orphan'])
  assert.deepEqual(await new Gallery(dir).open(), { rebuilt: false, problems: [] }, 'the repair was saved')
})

test('two processes on one gallery (job adds, core deletes) never lose each other\'s changes', async () => {
  const dir = join(root, 'shared')
  const job = new Gallery(dir)
  const core = new Gallery(dir)
  await job.open()
  await core.open()
  const [a] = await job.addImages(new Float32Array(12), [meta(1)])
  const [b] = await core.addImages(new Float32Array(12), [meta(2)]) // core's copy was stale: it must merge, not overwrite
  assert.equal(core.size, 2)
  await core.delete([a!.id])
  await job.addImages(new Float32Array(12), [meta(3)])
  assert.deepEqual(job.list({ order: 'oldest' }).entries.map((e) => e.seed), [2, 3], 'the deleted entry stays deleted')
  await core.refresh()
  assert.deepEqual(core.list({ order: 'oldest' }).entries.map((e) => e.id), [b!.id, job.list().entries[0]!.id])
  // a lock left by a killed process does not block forever once stale
  await writeFile(join(dir, 'index.lock'), '')
  const old = new Date(Date.now() - 60_000)
  await utimes(join(dir, 'index.lock'), old, old)
  await core.addImages(new Float32Array(12), [meta(4)])
  const fresh = new Gallery(dir)
  await fresh.open()
  assert.equal(fresh.size, 3)
})

test('deferred index writes: entries list at once, reach index.json on commit, and survive a crash before it', async () => {
  const dir = join(root, 'deferred')
  const g = new Gallery(dir)
  await g.open()
  const [a] = await g.addImages(new Float32Array(12), [meta(0)], { deferIndex: true })
  assert.equal(g.get(a!.id)?.seed, 0, 'listed by this instance at once')
  const onDisk = () => JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8')).entries.map((e: { id: string }) => e.id)
  assert.deepEqual(onDisk(), [])
  // another process writes meanwhile: our pending entry must not be lost when we reload
  const other = new Gallery(dir)
  assert.deepEqual((await other.open()).problems, ['1 PNG missing from the index added'], 'a crash now would lose nothing')
  const [b] = await g.addImages(new Float32Array(12), [meta(1)], { deferIndex: true })
  await g.commit()
  assert.deepEqual(onDisk().sort(), [a!.id, b!.id].sort())
  assert.equal(g.size, 2)
})
