// The gallery on disk: <root>/images/*.png (each carrying its own metadata, see image-meta.ts) and
// <root>/index.json, a cache of that metadata for fast listing. The PNGs are the truth: a missing,
// corrupt or foreign index is rebuilt from them. The index is written atomically, once per batch.
// Two processes use one gallery (a generation job in its worker adds, the core lists and deletes), so
// every change is read-modify-write under <root>/index.lock, re-reading the index first if another
// process changed it; readers call refresh() to pick up others' changes.
// Queries scan an in-memory array with pre-lowered prompts: at 10,000 entries that is well under a
// millisecond per query, so no database is needed.
import { createHash, randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import { atomicWriteFile } from '../../util/atomic-write.ts'
import { metaToText, parseMeta, readImageMeta, type ImageMeta } from './image-meta.ts'
import { encodePng, toRgb8, decodePng } from './png-text.ts'

export const INDEX_FILE = 'index.json'
export const LOCK_FILE = 'index.lock'
/** a lock older than this is left over from a killed process */
const STALE_LOCK_MS = 30_000
const LOCK_WAIT_MS = 15_000
export const IMAGES_DIR = 'images'
const INDEX_FORMAT = 'di-studio-gallery-index'
const INDEX_VERSION = 1

export interface GalleryEntry extends ImageMeta {
  /** stable id = file name without .png */
  id: string
  /** path relative to the gallery root, '/'-separated */
  file: string
}

export interface GalleryQuery {
  /** every word must occur in the prompt (case-insensitive) */
  text?: string
  model?: string
  run?: string
  seed?: number
  /** any of these seeds (the Gallery's seed filter: "0-3, 7"); with `seed`, both must hold */
  seeds?: number[]
  /** ISO dates, inclusive */
  from?: string
  to?: string
  /** default 'newest' */
  order?: 'newest' | 'oldest'
  offset?: number
  /** default 100, at most 1000 */
  limit?: number
}

export interface GalleryPage {
  /** matches before paging */
  total: number
  entries: GalleryEntry[]
}

export interface OpenReport {
  /** true when index.json was missing or unusable and was rebuilt from the PNGs */
  rebuilt: boolean
  /** why it was rebuilt, and PNGs that could not be read (skipped, never deleted) */
  problems: string[]
}

export class GalleryError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'GalleryError'
  }
}

interface Indexed { entry: GalleryEntry; promptLower: string; time: number }

export class Gallery {
  readonly root: string
  private items: Indexed[] = []
  private byId = new Map<string, Indexed>()
  private opened = false
  private serial = 0
  /** mtime, size and inode of index.json as last read or written by us; a difference means someone else wrote */
  private stamp = ''
  /** added with deferIndex, not yet in index.json */
  private pending: GalleryEntry[] = []

  constructor(root: string) {
    this.root = resolve(root)
  }

  get size(): number {
    return this.items.length
  }

  /** Loads index.json, or rebuilds it from the PNGs when it is missing or unusable. */
  async open(): Promise<OpenReport> {
    await fs.mkdir(join(this.root, IMAGES_DIR), { recursive: true })
    const stamp = await this.diskStamp() // before reading: a write in between then shows up as a change
    let text: string | undefined
    try {
      text = await fs.readFile(join(this.root, INDEX_FILE), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new GalleryError(`gallery: cannot read ${INDEX_FILE}: ${(err as Error).message}`)
    }
    if (text === undefined) return { rebuilt: true, problems: (await this.rebuild()).problems }
    let entries: GalleryEntry[]
    try {
      entries = parseIndex(text)
    } catch (err) {
      const report = await this.rebuild()
      return { rebuilt: true, problems: [`${INDEX_FILE} is unusable (${(err as Error).message}); rebuilt from the images`, ...report.problems] }
    }
    this.load(entries)
    this.stamp = stamp
    this.opened = true
    return { rebuilt: false, problems: await this.reconcile() }
  }

  /**
   * Brings the index in line with the images folder after a crash: PNGs written but never indexed are
   * added from their own metadata, entries whose PNG is gone are dropped. Cheap when nothing differs.
   */
  private async reconcile(): Promise<string[]> {
    const names = new Set((await fs.readdir(join(this.root, IMAGES_DIR))).filter((f) => f.endsWith('.png')))
    const gone = this.items.filter((i) => !names.has(`${i.entry.id}.png`)).map((i) => i.entry.id)
    const orphans = [...names].filter((n) => !this.byId.has(n.slice(0, -4))).sort()
    if (gone.length === 0 && orphans.length === 0) return []
    const problems: string[] = []
    const found: GalleryEntry[] = []
    for (const name of orphans) {
      const file = `${IMAGES_DIR}/${name}`
      try {
        found.push({ ...readImageMeta(await fs.readFile(join(this.root, file)), file), id: name.slice(0, -4), file })
      } catch (err) {
        problems.push(`${file}: ${(err as Error).message}`)
      }
    }
    if (gone.length > 0 || found.length > 0) {
      const doomed = new Set(gone)
      await this.mutate(() => {
        this.items = this.items.filter((i) => !doomed.has(i.entry.id))
        for (const id of gone) this.byId.delete(id)
        this.insert(found)
        this.items.sort((a, b) => a.time - b.time)
      })
    }
    if (gone.length > 0) problems.push(`${gone.length} index entr${gone.length === 1 ? 'y' : 'ies'} without a PNG removed`)
    if (found.length > 0) problems.push(`${found.length} PNG${found.length === 1 ? '' : 's'} missing from the index added`)
    return problems
  }

  /** Re-reads every PNG's metadata and rewrites the index. Unreadable PNGs are reported and skipped. */
  async rebuild(): Promise<{ problems: string[] }> {
    const dir = join(this.root, IMAGES_DIR)
    await fs.mkdir(dir, { recursive: true })
    const problems: string[] = []
    const entries: GalleryEntry[] = []
    for (const name of (await fs.readdir(dir)).filter((f) => f.endsWith('.png')).sort()) {
      const file = `${IMAGES_DIR}/${name}`
      try {
        const meta = readImageMeta(await fs.readFile(join(dir, name)), file)
        entries.push({ ...meta, id: name.slice(0, -4), file })
      } catch (err) {
        problems.push(`${file}: ${(err as Error).message}`)
      }
    }
    entries.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.id.localeCompare(b.id))
    this.load(entries)
    this.opened = true
    await this.withLock(() => this.flush())
    return { problems }
  }

  private async diskStamp(): Promise<string> {
    try {
      const st = await fs.stat(join(this.root, INDEX_FILE))
      return `${st.mtimeMs}:${st.size}:${st.ino}`
    } catch {
      return 'missing'
    }
  }

  /** Picks up changes another process made to the index (cheap when there are none). */
  async refresh(): Promise<void> {
    this.requireOpen()
    if ((await this.diskStamp()) === this.stamp) return
    const stamp = await this.diskStamp()
    try {
      this.load(parseIndex(await fs.readFile(join(this.root, INDEX_FILE), 'utf8')))
      this.stamp = stamp
    } catch {
      await this.rebuild()
    }
  }

  /** Runs a change under the index lock, starting from the newest index on disk. */
  private async mutate<T>(change: () => T): Promise<T> {
    this.requireOpen()
    return this.withLock(async () => {
      if ((await this.diskStamp()) !== this.stamp) {
        try {
          const stamp = await this.diskStamp()
          this.load(parseIndex(await fs.readFile(join(this.root, INDEX_FILE), 'utf8')))
          this.stamp = stamp
        } catch {
          // unreadable or gone: our in-memory copy is the best there is, and is written below
        }
      }
      // entries waiting for commit() go in with every write (a reload above would have dropped them)
      this.insert(this.pending)
      const result = change()
      const written = this.pending.length // flush serialises synchronously: later additions stay pending
      await this.flush()
      this.pending = this.pending.slice(written)
      return result
    })
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = join(this.root, LOCK_FILE)
    const deadline = Date.now() + LOCK_WAIT_MS
    for (;;) {
      try {
        await (await fs.open(lock, 'wx')).close()
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new GalleryError(`gallery: cannot take ${LOCK_FILE}: ${(err as Error).message}`)
        const age = await fs.stat(lock).then((st) => Date.now() - st.mtimeMs, () => 0)
        if (age > STALE_LOCK_MS) await fs.rm(lock, { force: true })
        else if (Date.now() > deadline) throw new GalleryError(`gallery: ${LOCK_FILE} is held by another process for over ${LOCK_WAIT_MS / 1000} s`)
        else await new Promise((r) => setTimeout(r, 10 + Math.random() * 20))
      }
    }
    try {
      return await fn()
    } finally {
      await fs.rm(lock, { force: true })
    }
  }

  private load(entries: GalleryEntry[]): void {
    this.items = entries.map(indexed)
    this.byId = new Map(this.items.map((i) => [i.entry.id, i]))
  }

  private requireOpen(): void {
    if (!this.opened) throw new GalleryError('gallery: call open() first')
  }

  /** Writes the index atomically (readers see the old or the new file, never half of one); call under the lock. */
  private async flush(): Promise<void> {
    const entriesText = JSON.stringify(this.items.map((i) => i.entry)) // serialised once: the checksum covers this text
    const head = JSON.stringify({ format: INDEX_FORMAT, version: INDEX_VERSION, entriesSha256: sha256Hex(entriesText) })
    await atomicWriteFile(join(this.root, INDEX_FILE), `${head.slice(0, -1)},"entries":${entriesText}}`)
    this.stamp = await this.diskStamp()
  }

  /**
   * Saves images as PNGs with their metadata and adds them to the index (one index write per call).
   * `pixels` holds the images NHWC in [-1, 1], one meta per image. With `deferIndex` the entries wait
   * in memory until commit() (a long job commits every second or so instead of rewriting a large index
   * after every batch); they are listed by this instance at once, and a crash before commit() loses
   * nothing, since open() re-adds PNGs missing from the index.
   */
  async addImages(pixels: Float32Array, metas: ImageMeta[], opts: { deferIndex?: boolean } = {}): Promise<GalleryEntry[]> {
    this.requireOpen()
    const added: GalleryEntry[] = []
    let offset = 0
    for (const meta of metas) {
      const per = meta.width * meta.height * 3
      if (offset + per > pixels.length) throw new GalleryError(`gallery: ${pixels.length} pixel values for ${metas.length} images`)
      const rgb = toRgb8(pixels.subarray(offset, offset + per), meta.width, meta.height)
      offset += per
      const id = this.newId(meta)
      const file = `${IMAGES_DIR}/${id}.png`
      await atomicWriteFile(join(this.root, file), encodePng(rgb, meta.width, meta.height, metaToText(meta)))
      added.push({ ...meta, id, file })
    }
    // PNGs first, index second: a crash in between leaves PNGs that the next open re-adds
    this.pending.push(...added)
    this.insert(added)
    if (!opts.deferIndex) await this.commit()
    return added
  }

  /** Writes entries added with deferIndex to the index (every other change writes them too). */
  async commit(): Promise<void> {
    if (this.pending.length > 0) await this.mutate(() => {})
  }

  /** Adds entries; an id already present is skipped (ids are unique per file: another process got there first). */
  private insert(entries: GalleryEntry[]): void {
    const first = this.items.length
    for (const e of entries) {
      if (this.byId.has(e.id)) continue
      const item = indexed(e)
      this.items.push(item)
      this.byId.set(e.id, item)
    }
    // keep the array in time order even if a clock went backwards or another process interleaved
    if (first > 0 && first < this.items.length && this.items[first - 1]!.time > this.items[first]!.time) this.items.sort((a, b) => a.time - b.time)
  }

  /** Adds entries to the index only (for tests and for imports of already written files). */
  async addEntries(entries: GalleryEntry[]): Promise<void> {
    const checked = entries.map((e) => ({ ...parseMeta(e, e.id), id: e.id, file: e.file }))
    const dup = checked.find((e) => this.byId.has(e.id))
    if (dup) throw new GalleryError(`gallery: duplicate id ${dup.id}`)
    await this.mutate(() => {
      this.insert(checked)
      this.items.sort((a, b) => a.time - b.time)
    })
  }

  private newId(meta: ImageMeta): string {
    const stamp = meta.createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-')
    const safeModel = meta.model.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 32) || 'model'
    let id: string
    // the padded serial keeps ids of one batch (same createdAt) in generation order when sorted
    do id = `${stamp}-${safeModel}-s${meta.seed}-${(this.serial++).toString(36).padStart(5, '0')}${randomBytes(2).toString('hex')}`
    while (this.byId.has(id))
    return id
  }

  get(id: string): GalleryEntry | undefined {
    return this.byId.get(id)?.entry
  }

  /** Absolute path of an entry's PNG (ids are checked, so no path escapes the gallery). */
  pathOf(id: string): string {
    const item = this.byId.get(id)
    if (!item) throw new GalleryError(`gallery: no image with id '${id}'`)
    const path = resolve(this.root, item.entry.file)
    if (!path.startsWith(this.root + sep)) throw new GalleryError(`gallery: entry '${id}' points outside the gallery`)
    return path
  }

  async readPixels(id: string): Promise<{ width: number; height: number; rgb: Uint8Array }> {
    const path = this.pathOf(id)
    return decodePng(await fs.readFile(path), this.byId.get(id)!.entry.file)
  }

  list(q: GalleryQuery = {}): GalleryPage {
    this.requireOpen()
    const limit = q.limit ?? 100
    const offset = q.offset ?? 0
    if (!Number.isInteger(limit) || limit < 0 || limit > 1000) throw new GalleryError(`gallery: limit must be an integer in 0..1000, got ${limit}`)
    if (!Number.isInteger(offset) || offset < 0) throw new GalleryError(`gallery: offset must be a non-negative integer, got ${offset}`)
    const words = (q.text ?? '').toLowerCase().split(/\s+/).filter(Boolean)
    const from = q.from !== undefined ? parseDate(q.from, 'from') : -Infinity
    const to = q.to !== undefined ? parseDate(q.to, 'to', true) : Infinity
    const seeds = q.seeds === undefined ? null : new Set(q.seeds)
    const matches = (i: Indexed) =>
      (q.model === undefined || i.entry.model === q.model) &&
      (q.run === undefined || i.entry.run === q.run) &&
      (q.seed === undefined || i.entry.seed === q.seed) &&
      (seeds === null || seeds.has(i.entry.seed)) &&
      i.time >= from && i.time <= to &&
      words.every((w) => i.promptLower.includes(w))
    const newest = (q.order ?? 'newest') === 'newest'
    const entries: GalleryEntry[] = []
    let total = 0
    const n = this.items.length
    for (let k = 0; k < n; k++) {
      const item = this.items[newest ? n - 1 - k : k]!
      if (!matches(item)) continue
      if (total >= offset && entries.length < limit) entries.push(item.entry)
      total++
    }
    return { total, entries }
  }

  /** Distinct model names and run ids, for filter menus. */
  facets(): { models: string[]; runs: string[] } {
    const models = new Set<string>()
    const runs = new Set<string>()
    for (const i of this.items) {
      models.add(i.entry.model)
      if (i.entry.run) runs.add(i.entry.run)
    }
    return { models: [...models].sort(), runs: [...runs].sort() }
  }

  /** Deletes images (file and index entry). Unknown ids are an error; nothing is deleted then. */
  async delete(ids: string[]): Promise<number> {
    // index first: a crash after this leaves orphan PNGs, which the next rebuild simply re-adds
    const paths = await this.mutate(() => {
      const unknown = ids.filter((id) => !this.byId.has(id))
      if (unknown.length > 0) throw new GalleryError(`gallery: no image with id ${unknown.map((u) => `'${u}'`).join(', ')}`)
      const paths = ids.map((id) => this.pathOf(id))
      const doomed = new Set(ids)
      this.items = this.items.filter((i) => !doomed.has(i.entry.id))
      for (const id of ids) this.byId.delete(id)
      return paths
    })
    for (const p of paths) await fs.rm(p, { force: true })
    return ids.length
  }
}

function indexed(entry: GalleryEntry): Indexed {
  return { entry, promptLower: entry.prompt.toLowerCase(), time: Date.parse(entry.createdAt) }
}

function parseDate(value: string, name: string, endOfDay = false): number {
  const t = Date.parse(value)
  if (Number.isNaN(t)) throw new GalleryError(`gallery: '${name}' is not a date: ${JSON.stringify(value)}`)
  // a bare day as 'to' includes the whole day
  return endOfDay && /^\d{4}-\d{2}-\d{2}$/.test(value) ? t + 86_400_000 - 1 : t
}

/**
 * sha256 of the entries as JSON. JSON.parse then JSON.stringify gives back the exact text this build
 * wrote, so the reader recomputes it from the parsed entries. A damaged index whose JSON still parses
 * (a flipped bit in a prompt, a seed, a date) is caught by it.
 */
function entriesChecksum(entries: unknown): string {
  return sha256Hex(JSON.stringify(entries))
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

const INDEX_KEYS = new Set(['format', 'version', 'entriesSha256', 'entries'])

function parseIndex(text: string): GalleryEntry[] {
  let body: { format?: unknown; version?: unknown; entriesSha256?: unknown; entries?: unknown }
  try {
    body = JSON.parse(text) as typeof body
  } catch {
    throw new Error('not valid JSON')
  }
  if (!body || body.format !== INDEX_FORMAT) throw new Error('not a gallery index')
  // a flipped bit in a key name (say, of entriesSha256 itself) must not pass as an older index
  const unknownKey = Object.keys(body).find((key) => !INDEX_KEYS.has(key))
  if (unknownKey !== undefined) throw new Error(`unknown field ${JSON.stringify(unknownKey.slice(0, 40))}`)
  if (body.version !== INDEX_VERSION) throw new Error(`index version ${String(body.version)}, this build reads ${INDEX_VERSION}`)
  if (!Array.isArray(body.entries)) throw new Error('entries is not a list')
  const entries = body.entries.map((e: unknown, k: number) => {
    const o = e as { id?: unknown; file?: unknown }
    if (typeof o?.id !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(o.id)) throw new Error(`entry ${k} has a bad id`)
    if (o.file !== `${IMAGES_DIR}/${o.id}.png`) throw new Error(`entry ${k} has a bad file path`)
    return { ...parseMeta(e, `entry ${k}`), id: o.id, file: o.file }
  })
  // Indexes written before the checksum existed have none; they are still read (and get one on the next write).
  if (body.entriesSha256 !== undefined && body.entriesSha256 !== entriesChecksum(body.entries)) throw new Error('its checksum does not match: the file is damaged')
  return entries
}
