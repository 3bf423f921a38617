// Importing a folder of captioned images as a dataset (maths-free: files, decoding, the manifest).
//
// Layouts (README, "Data"):
//   kohya        every image `name.png` beside a caption file `name.txt` (subfolders too); each
//                non-empty line of the .txt is one caption variant of the image
//   imagefolder  Hugging Face's imagefolder: `metadata.jsonl` (one JSON object a line) or
//                `metadata.csv` (a header row) at the top, columns `file_name` (relative path) and
//                `text` (the caption; `caption` is read when there is no `text`); a file named on
//                several rows gets each row's text as a variant
// Images: PNG, JPEG, WebP and GIF (the first frame), decoded by sharp (libvips), whatever their
// extension says; EXIF orientation applied. Policy, chosen at import: the image is flattened onto the
// background colour (transparency), then made square by a centre crop (`crop`, fills the square) or by
// padding with the background colour (`pad`, keeps the whole picture), resampled (Lanczos-3) to 32 or 64
// pixels. An image smaller than the size is scaled up.
//
// Nothing is written into the source folder (files are opened read-only). The dataset is written into
// `.<id>.importing` beside its final folder and renamed into place only when complete, so a failed,
// cancelled or killed import leaves no dataset. Bad files never fail an import: each is skipped and
// listed in the report with its reason (IMPORT_LIMITS states the limits).
//
// The dataset folder: manifest.json (items, captions, split, policy, statistics), report.json (the
// skipped files), pixels.u8 (every item's RGB bytes, imageSize*imageSize*3 each, item order: the
// decoded cache training reads) and sheets/<n>.png (the items in 16x16 grids, for the preview).

import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import type { Dirent } from 'node:fs'
import { basename, dirname, extname, join } from 'node:path'
import sharp, { type Metadata } from 'sharp'
import { z } from 'zod'
import { atomicWriteFile } from '../../util/atomic-write.ts'
import { captionStats, CaptionStatsSchema, type CaptionStats } from './caption-stats.ts'
import type { Dataset, DatasetItem, SplitName } from './dataset.ts'
import {
  DATASET_IMAGE_SIZES, DATASET_LAYOUTS, FIT_POLICIES, IMAGE_EXTENSIONS, IMPORT_LIMITS, IMPORT_VALIDATION_FRACTION,
  type DatasetImageSize, type DatasetLayout, type FitPolicy,
} from './dataset-policy.ts'

export { DATASET_IMAGE_SIZES, DATASET_LAYOUTS, FIT_POLICIES, IMAGE_EXTENSIONS, IMPORT_LIMITS, IMPORT_VALIDATION_FRACTION }
export type { DatasetImageSize, DatasetLayout, FitPolicy }

const DECODED_FORMATS = new Set(['png', 'jpeg', 'webp', 'gif'])

export const DATASET_MANIFEST_FILE = 'manifest.json'
export const DATASET_REPORT_FILE = 'report.json'
export const DATASET_PIXELS_FILE = 'pixels.u8'
export const DATASET_SHEETS_DIR = 'sheets'
/** Preview sheets are grids of this many columns and rows of items. */
export const SHEET_COLUMNS = 16
export const SHEET_ROWS = 16

export interface ImportPolicy {
  imageSize: DatasetImageSize
  fit: FitPolicy
  /** '#rrggbb': fills transparent pixels and, with 'pad', the margins. */
  background: string
}

export interface SkippedFile {
  /** Relative to the source folder, forward slashes. */
  file: string
  reason: string
}

export const DatasetManifest = z.object({
  format: z.literal('di-studio-dataset'),
  version: z.literal(1),
  id: z.string().min(1),
  name: z.string().min(1),
  createdAt: z.string(),
  source: z.object({ folder: z.string(), layout: z.enum(DATASET_LAYOUTS) }),
  policy: z.object({ imageSize: z.union([z.literal(32), z.literal(64)]), fit: z.enum(FIT_POLICIES), background: z.string().regex(/^#[0-9a-f]{6}$/) }),
  validationFraction: z.number().min(0).max(1),
  counts: z.object({ items: z.int().min(1), train: z.int().min(0), validation: z.int().min(0), skipped: z.int().min(0), filesSeen: z.int().min(0) }),
  /** How many images the policy changed: made square (cropped or padded), scaled up, flattened (had alpha). */
  notes: z.object({ nonSquare: z.int().min(0), upscaled: z.int().min(0), hadAlpha: z.int().min(0) }),
  stats: CaptionStatsSchema,
  pixels: z.object({ file: z.string(), bytes: z.int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  sheets: z.object({ dir: z.string(), columns: z.int().min(1), rows: z.int().min(1), count: z.int().min(1) }),
  items: z.array(z.object({
    /** The image file, relative to the source folder. */
    file: z.string(),
    captions: z.array(z.string().min(1)).min(1),
    split: z.enum(['train', 'validation']),
    /** sha256 of the file's bytes: duplicates are found, and the split is decided, on it. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    width: z.int().min(1),
    height: z.int().min(1),
  })).min(1),
})
export type DatasetManifest = z.output<typeof DatasetManifest>

export const DatasetReport = z.object({
  skipped: z.array(z.object({ file: z.string(), reason: z.string() })),
})
export type DatasetReport = z.output<typeof DatasetReport>

export interface ImportOptions extends ImportPolicy {
  id: string
  name: string
  /** 'auto' (the default): imagefolder when metadata.jsonl or metadata.csv is at the top, kohya otherwise. */
  layout?: DatasetLayout | 'auto'
}

export interface ImportHooks {
  /** Called between files: throws to stop (a cancelled job); the import then removes what it wrote. */
  checkpoint?(): Promise<void>
  progress?(done: number, total: number, message: string): void
}

/** A file the scan found usable as far as names and captions go; decoding decides the rest. */
interface Candidate {
  file: string
  path: string
  captions: string[]
}

export interface FolderScan {
  layout: DatasetLayout
  candidates: Candidate[]
  skipped: SkippedFile[]
  filesSeen: number
}

const toPosix = (p: string) => p.split(/[\\/]+/).filter(Boolean).join('/')

/** Every file below `root` (no links followed), sorted by relative path; links, hidden entries and overflow reported. */
async function walk(root: string): Promise<{ files: { file: string; path: string }[]; skipped: SkippedFile[] }> {
  const files: { file: string; path: string }[] = []
  const skipped: SkippedFile[] = []
  let seen = 0
  let stopped = false
  const visit = async (dir: string, rel: string, depth: number): Promise<void> => {
    let entries: Dirent[]
    try {
      entries = await fs.readdir(dir, { withFileTypes: true })
    } catch (err) {
      skipped.push({ file: rel || '.', reason: `folder cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` })
      return
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      const file = rel ? `${rel}/${entry.name}` : entry.name
      if (stopped) return
      if (++seen > IMPORT_LIMITS.maxFiles) {
        stopped = true
        skipped.push({ file, reason: `the scan stopped after ${IMPORT_LIMITS.maxFiles.toLocaleString('en')} files; this one and the rest were not looked at` })
        return
      }
      if (entry.name.startsWith('.')) skipped.push({ file, reason: entry.isDirectory() ? 'hidden folder (not searched)' : 'hidden file (ignored)' })
      else if (entry.isSymbolicLink()) skipped.push({ file, reason: 'symbolic link (not followed)' })
      else if (entry.isDirectory()) {
        if (depth >= IMPORT_LIMITS.maxDepth) skipped.push({ file, reason: `folder deeper than ${IMPORT_LIMITS.maxDepth} levels (not searched)` })
        else await visit(join(dir, entry.name), file, depth + 1)
      } else if (entry.isFile()) files.push({ file, path: join(dir, entry.name) })
      else skipped.push({ file, reason: 'not a regular file' })
    }
  }
  await visit(root, '', 0)
  return { files, skipped }
}

/** Caption variants from a text: one per non-empty line, whitespace collapsed; a BOM dropped. */
export function captionLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n|\r/).map((l) => l.replace(/\s+/g, ' ').trim()).filter((l) => l.length > 0)
}

function tooLongCaption(captions: string[]): string | null {
  const long = captions.find((c) => c.length > IMPORT_LIMITS.maxCaptionChars)
  return long ? `caption longer than ${IMPORT_LIMITS.maxCaptionChars} characters (${long.length})` : null
}

async function readSmallText(path: string, limit: number): Promise<string | { problem: string }> {
  const handle = await fs.open(path, 'r')
  try {
    const { size } = await handle.stat()
    if (size > limit) return { problem: `is ${formatBytes(size)}, over the ${formatBytes(limit)} limit` }
    return (await handle.readFile()).toString('utf8')
  } finally {
    await handle.close()
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(bytes >= 10 * 1024 * 1024 ? 0 : 1)} MB`
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KB`
  return `${bytes} bytes`
}

const isImageName = (file: string) => IMAGE_EXTENSIONS.includes(extname(file).toLowerCase())
const notImage = (file: string): SkippedFile => ({
  file,
  reason: `not an image file (${extname(file) || 'no extension'}); PNG, JPEG, WebP and GIF are read`,
})

/** Splits one CSV text (RFC 4180: quotes, doubled quotes, newlines inside quotes) into rows of fields. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  const src = text.replace(/^\uFEFF/, '')
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') (field += '"'), i++
      else if (c === '"') quoted = false
      else field += c
    } else if (c === '"' && field === '') quoted = true
    else if (c === ',') row.push(field), (field = '')
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && src[i + 1] === '\n') i++
      row.push(field)
      rows.push(row)
      row = []
      field = ''
    } else field += c
  }
  if (field !== '' || row.length > 0) row.push(field), rows.push(row)
  return rows.filter((r) => r.some((f) => f.trim() !== ''))
}

/** metadata.jsonl / metadata.csv -> file_name -> its texts; problems with lines go to `skipped`. */
function readMetadata(text: string, kind: 'jsonl' | 'csv', skipped: SkippedFile[]): Map<string, { texts: string[]; line: number }> {
  const where = `metadata.${kind}`
  const out = new Map<string, { texts: string[]; line: number }>()
  const add = (fileName: unknown, caption: unknown, line: number) => {
    if (typeof fileName !== 'string' || fileName.trim() === '') return void skipped.push({ file: `${where}:${line}`, reason: 'no file_name on this line' })
    const file = toPosix(fileName.trim().replace(/^\.\//, ''))
    if (fileName.startsWith('/') || /^[A-Za-z]:/.test(fileName) || file.split('/').includes('..')) {
      return void skipped.push({ file: `${where}:${line}`, reason: `file_name ${JSON.stringify(fileName.slice(0, 200))} points outside the folder` })
    }
    const entry = out.get(file) ?? { texts: [], line }
    if (typeof caption === 'string') entry.texts.push(caption)
    else if (caption !== undefined && caption !== null) entry.texts.push(String(caption))
    out.set(file, entry)
  }
  if (kind === 'jsonl') {
    text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
      if (raw.trim() === '') return
      let row: unknown
      try {
        row = JSON.parse(raw)
      } catch {
        return void skipped.push({ file: `${where}:${i + 1}`, reason: 'line is not valid JSON' })
      }
      if (typeof row !== 'object' || row === null || Array.isArray(row)) return void skipped.push({ file: `${where}:${i + 1}`, reason: 'line is not a JSON object' })
      const r = row as Record<string, unknown>
      add(r.file_name, r.text ?? r.caption, i + 1)
    })
  } else {
    const [header, ...rows] = parseCsv(text)
    const names = (header ?? []).map((h) => h.trim())
    const fileColumn = names.indexOf('file_name')
    const textColumn = names.includes('text') ? names.indexOf('text') : names.indexOf('caption')
    if (fileColumn < 0) {
      skipped.push({ file: where, reason: `the header has no file_name column (it has ${names.map((n) => JSON.stringify(n)).join(', ') || 'nothing'})` })
      return out
    }
    rows.forEach((r, i) => add(r[fileColumn], textColumn >= 0 ? r[textColumn] : undefined, i + 2))
  }
  return out
}

/** Finds the images and their captions; names what it cannot use, and why. Reads no image. */
export async function scanImageFolder(root: string, layoutWanted: DatasetLayout | 'auto' = 'auto'): Promise<FolderScan> {
  const { files, skipped } = await walk(root)
  const top = new Set(files.filter((f) => !f.file.includes('/')).map((f) => f.file))
  const metaName = top.has('metadata.jsonl') ? 'metadata.jsonl' : top.has('metadata.csv') ? 'metadata.csv' : null
  const layout: DatasetLayout = layoutWanted === 'auto' ? (metaName ? 'imagefolder' : 'kohya') : layoutWanted
  const candidates: Candidate[] = []
  const withCaptions = (c: Candidate, captionsFrom: string): void => {
    if (c.captions.length === 0) return void skipped.push({ file: c.file, reason: `empty caption (${captionsFrom})` })
    const long = tooLongCaption(c.captions)
    if (long) return void skipped.push({ file: c.file, reason: long })
    candidates.push(c)
  }

  if (layout === 'kohya') {
    const byPath = new Map(files.map((f) => [f.file, f]))
    const usedCaptions = new Set<string>()
    for (const f of files) {
      if (!isImageName(f.file)) continue
      const captionFile = `${f.file.slice(0, f.file.length - extname(f.file).length)}.txt`
      const caption = byPath.get(captionFile)
      if (!caption) {
        skipped.push({ file: f.file, reason: `no caption: ${basename(captionFile)} is missing` })
        continue
      }
      usedCaptions.add(captionFile)
      const text = await readSmallText(caption.path, IMPORT_LIMITS.maxCaptionFileBytes).catch((err: Error) => ({ problem: `cannot be read (${err.message})` }))
      if (typeof text !== 'string') {
        skipped.push({ file: f.file, reason: `caption file ${basename(captionFile)} ${text.problem}` })
        continue
      }
      withCaptions({ file: f.file, path: f.path, captions: captionLines(text) }, basename(captionFile))
    }
    for (const f of files) {
      if (isImageName(f.file)) continue
      if (extname(f.file).toLowerCase() === '.txt') {
        if (!usedCaptions.has(f.file)) skipped.push({ file: f.file, reason: 'caption file without an image of the same name' })
      } else skipped.push(notImage(f.file))
    }
  } else {
    const metaFile = metaName ?? 'metadata.jsonl'
    let metadata = new Map<string, { texts: string[]; line: number }>()
    const meta = files.find((f) => f.file === metaFile)
    if (!meta) skipped.push({ file: metaFile, reason: 'the imagefolder layout needs metadata.jsonl or metadata.csv at the top of the folder' })
    else {
      const text = await readSmallText(meta.path, IMPORT_LIMITS.maxMetadataBytes).catch((err: Error) => ({ problem: `cannot be read (${err.message})` }))
      if (typeof text !== 'string') skipped.push({ file: metaFile, reason: `${metaFile} ${text.problem}` })
      else metadata = readMetadata(text, metaFile.endsWith('.csv') ? 'csv' : 'jsonl', skipped)
    }
    const present = new Map(files.map((f) => [f.file, f]))
    for (const f of files) {
      if (f.file === metaFile) continue
      if (f.file === 'metadata.csv' && metaFile === 'metadata.jsonl') {
        skipped.push({ file: f.file, reason: 'ignored: metadata.jsonl is read when both are present' })
        continue
      }
      if (!isImageName(f.file)) {
        skipped.push(notImage(f.file))
        continue
      }
      const entry = metadata.get(f.file)
      if (!entry) {
        skipped.push({ file: f.file, reason: `no caption: not named in ${metaFile}` })
        continue
      }
      withCaptions({ file: f.file, path: f.path, captions: entry.texts.flatMap(captionLines) }, `${metaFile} line ${entry.line}`)
    }
    for (const [file, entry] of metadata) {
      if (!present.has(file)) skipped.push({ file, reason: `named in ${metaFile} (line ${entry.line}) but there is no such file` })
    }
  }
  return { layout, candidates, skipped, filesSeen: files.length }
}

export interface DecodedImage {
  /** imageSize*imageSize*3 bytes, RGB, row-major. */
  rgb: Uint8Array
  format: string
  width: number
  height: number
  hasAlpha: boolean
}

/** The background colour as sharp wants it. */
function rgbOf(hex: string): { r: number; g: number; b: number } {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex)
  if (!m) throw new RangeError(`background must be #rrggbb, got ${JSON.stringify(hex)}`)
  return { r: parseInt(m[1]!, 16), g: parseInt(m[2]!, 16), b: parseInt(m[3]!, 16) }
}

/** Decodes one image with the policy, or throws an Error whose message is the report's reason. */
export async function decodeImage(bytes: Uint8Array, policy: ImportPolicy): Promise<DecodedImage> {
  const background = rgbOf(policy.background)
  const failure = (err: unknown): Error => {
    const message = String((err as Error)?.message ?? err).split('\n')[0]!.trim()
    if (/unsupported image format/i.test(message)) return new Error('not an image: the contents are not PNG, JPEG, WebP or GIF')
    if (/pixel limit/i.test(message)) return new Error(`image has more than ${IMPORT_LIMITS.maxPixels / 1e6} million pixels`)
    return new Error(`corrupt or truncated image (${message})`)
  }
  const open = () => sharp(bytes, { pages: 1, limitInputPixels: IMPORT_LIMITS.maxPixels, failOn: 'warning' })
  let meta: Metadata
  try {
    meta = await open().metadata()
  } catch (err) {
    throw failure(err)
  }
  if (!meta.format || !DECODED_FORMATS.has(meta.format)) throw new Error(`unsupported image format (${meta.format ?? 'unknown'}); PNG, JPEG, WebP and GIF are read`)
  try {
    const { data, info } = await open()
      .rotate()
      .flatten({ background })
      .resize(policy.imageSize, policy.imageSize, { fit: policy.fit === 'crop' ? 'cover' : 'contain', position: 'centre', background, kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true })
    if (info.width !== policy.imageSize || info.height !== policy.imageSize || info.channels !== 3) throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`)
    const upright = (meta.orientation ?? 1) >= 5
    return {
      rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      format: meta.format,
      width: upright ? meta.height! : meta.width!,
      height: upright ? meta.width! : meta.height!,
      hasAlpha: meta.hasAlpha === true,
    }
  } catch (err) {
    throw failure(err)
  }
}

/** Which items are held out: the round(n * fraction) (at least 1 from 2 items on) with the smallest content hash. */
export function chooseValidation(hashes: readonly string[], fraction = IMPORT_VALIDATION_FRACTION): SplitName[] {
  const n = hashes.length
  const count = n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * fraction)))
  const order = hashes.map((h, i) => ({ h, i })).sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : a.i - b.i))
  const out: SplitName[] = hashes.map(() => 'train')
  for (const { i } of order.slice(0, count)) out[i] = 'validation'
  return out
}

/** Where an import writes before it is complete (removed on failure; the core also removes a killed job's). */
export function importingDirFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.importing`)
}

/** Encodes the items of one preview sheet as a PNG. */
async function writeSheet(path: string, rgb: Uint8Array, size: number): Promise<void> {
  const png = await sharp(rgb, { raw: { width: SHEET_COLUMNS * size, height: SHEET_ROWS * size, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer()
  await fs.writeFile(path, png)
}

/**
 * Imports `source` into the dataset folder `target` (which must not exist yet): scans, decodes and
 * writes everything into importingDirFor(target), then renames it into place. On any failure, and when
 * hooks.checkpoint throws (a cancel), removes what it wrote and rethrows: no dataset is left.
 */
export async function importImageFolder(source: string, target: string, opts: ImportOptions, hooks: ImportHooks = {}): Promise<{ manifest: DatasetManifest; report: DatasetReport }> {
  sharp.cache(false) // every image is read once: keep no decoded copies in memory
  const policy: ImportPolicy = { imageSize: opts.imageSize, fit: opts.fit, background: opts.background.toLowerCase() }
  rgbOf(policy.background)
  if (!DATASET_IMAGE_SIZES.includes(policy.imageSize)) throw new RangeError(`imageSize must be 32 or 64, got ${policy.imageSize}`)
  if (await fs.stat(target).then(() => true, () => false)) throw new Error(`a dataset folder ${target} exists already`)
  const temp = importingDirFor(target)
  await fs.rm(temp, { recursive: true, force: true })
  await fs.mkdir(join(temp, DATASET_SHEETS_DIR), { recursive: true })
  try {
    hooks.progress?.(0, 1, 'looking through the folder')
    const scan = await scanImageFolder(source, opts.layout ?? 'auto')
    const skipped = [...scan.skipped]
    const size = policy.imageSize
    const perItem = size * size * 3
    const perSheet = SHEET_COLUMNS * SHEET_ROWS
    const sheet = new Uint8Array(perSheet * perItem)
    let sheets = 0
    const pixels = await fs.open(join(temp, DATASET_PIXELS_FILE), 'w')
    const pixelHash = createHash('sha256')
    const items: Omit<DatasetManifest['items'][number], 'split'>[] = []
    const firstOfHash = new Map<string, string>()
    const notes = { nonSquare: 0, upscaled: 0, hadAlpha: 0 }
    try {
      const total = scan.candidates.length
      for (const [i, c] of scan.candidates.entries()) {
        await hooks.checkpoint?.()
        hooks.progress?.(i, Math.max(1, total), `${i} of ${total} images: ${c.file}`)
        if (items.length >= IMPORT_LIMITS.maxItems) {
          skipped.push({ file: c.file, reason: `over the limit of ${IMPORT_LIMITS.maxItems.toLocaleString('en')} images per dataset` })
          continue
        }
        let bytes: Buffer
        try {
          const handle = await fs.open(c.path, 'r')
          try {
            const { size: fileBytes } = await handle.stat()
            if (fileBytes > IMPORT_LIMITS.maxFileBytes) {
              skipped.push({ file: c.file, reason: `file is ${formatBytes(fileBytes)}, over the ${formatBytes(IMPORT_LIMITS.maxFileBytes)} limit` })
              continue
            }
            if (fileBytes === 0) {
              skipped.push({ file: c.file, reason: 'empty file (0 bytes)' })
              continue
            }
            bytes = await handle.readFile()
          } finally {
            await handle.close()
          }
        } catch (err) {
          skipped.push({ file: c.file, reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` })
          continue
        }
        const sha256 = createHash('sha256').update(bytes).digest('hex')
        const first = firstOfHash.get(sha256)
        if (first !== undefined) {
          skipped.push({ file: c.file, reason: `duplicate of ${first} (same bytes)` })
          continue
        }
        let decoded: DecodedImage
        try {
          decoded = await decodeImage(bytes, policy)
        } catch (err) {
          skipped.push({ file: c.file, reason: (err as Error).message })
          continue
        }
        firstOfHash.set(sha256, c.file)
        if (decoded.width !== decoded.height) notes.nonSquare++
        if ((policy.fit === 'crop' ? Math.min(decoded.width, decoded.height) : Math.max(decoded.width, decoded.height)) < size) notes.upscaled++
        if (decoded.hasAlpha) notes.hadAlpha++
        await pixels.write(decoded.rgb)
        pixelHash.update(decoded.rgb)
        // the item's cell in its preview sheet
        const cell = items.length % perSheet
        const col = cell % SHEET_COLUMNS
        const row = Math.floor(cell / SHEET_COLUMNS)
        for (let y = 0; y < size; y++) {
          const from = y * size * 3
          sheet.set(decoded.rgb.subarray(from, from + size * 3), ((row * size + y) * SHEET_COLUMNS * size + col * size) * 3)
        }
        items.push({ file: c.file, captions: c.captions, sha256, width: decoded.width, height: decoded.height })
        if (cell === perSheet - 1) {
          await writeSheet(join(temp, DATASET_SHEETS_DIR, `${sheets++}.png`), sheet, size)
          sheet.fill(0)
        }
      }
      if (items.length % perSheet !== 0) await writeSheet(join(temp, DATASET_SHEETS_DIR, `${sheets++}.png`), sheet, size)
      await pixels.sync()
    } finally {
      await pixels.close()
    }
    if (items.length === 0) {
      const reasons = [...new Set(skipped.map((s) => s.reason.replace(/\(.*$/, '').trim()))].slice(0, 3)
      throw new Error(`No usable image in ${source}: ${skipped.length} file${skipped.length === 1 ? '' : 's'} skipped${reasons.length ? ` (${reasons.join('; ')})` : ''}`)
    }
    const splits = chooseValidation(items.map((i) => i.sha256))
    const withSplit = items.map((item, i) => ({ ...item, split: splits[i]! }))
    const validation = splits.filter((s) => s === 'validation').length
    const manifest: DatasetManifest = {
      format: 'di-studio-dataset',
      version: 1,
      id: opts.id,
      name: opts.name,
      createdAt: new Date().toISOString(),
      source: { folder: source, layout: scan.layout },
      policy,
      validationFraction: IMPORT_VALIDATION_FRACTION,
      counts: { items: items.length, train: items.length - validation, validation, skipped: skipped.length, filesSeen: scan.filesSeen },
      notes,
      stats: captionStats(items),
      pixels: { file: DATASET_PIXELS_FILE, bytes: items.length * perItem, sha256: pixelHash.digest('hex') },
      sheets: { dir: DATASET_SHEETS_DIR, columns: SHEET_COLUMNS, rows: SHEET_ROWS, count: sheets },
      items: withSplit,
    }
    const report: DatasetReport = { skipped }
    await atomicWriteFile(join(temp, DATASET_REPORT_FILE), `${JSON.stringify(report, null, 1)}\n`)
    await atomicWriteFile(join(temp, DATASET_MANIFEST_FILE), `${JSON.stringify(manifest)}\n`)
    await hooks.checkpoint?.()
    hooks.progress?.(1, 1, `${items.length} images imported, ${skipped.length} skipped`)
    await fs.rename(temp, target)
    return { manifest, report }
  } catch (err) {
    await fs.rm(temp, { recursive: true, force: true }).catch(() => {})
    throw err
  }
}

export async function readDatasetManifest(dir: string): Promise<DatasetManifest> {
  const text = await fs.readFile(join(dir, DATASET_MANIFEST_FILE), 'utf8')
  return DatasetManifest.parse(JSON.parse(text))
}

export async function readDatasetReport(dir: string): Promise<DatasetReport> {
  return DatasetReport.parse(JSON.parse(await fs.readFile(join(dir, DATASET_REPORT_FILE), 'utf8')))
}

/** An imported dataset folder as a Dataset (its pixels from the decoded cache, checked against the manifest). */
export async function openImportedDataset(dir: string): Promise<Dataset> {
  const manifest = await readDatasetManifest(dir)
  const items: DatasetItem[] = manifest.items.map((item, i) => ({ id: String(i), captions: item.captions, split: item.split }))
  return {
    id: manifest.id,
    imageSize: manifest.policy.imageSize,
    items,
    async loadPixels() {
      const bytes = await fs.readFile(join(dir, manifest.pixels.file))
      if (bytes.length !== manifest.pixels.bytes) throw new Error(`${join(dir, manifest.pixels.file)} is ${bytes.length} bytes, the manifest says ${manifest.pixels.bytes}`)
      if (createHash('sha256').update(bytes).digest('hex') !== manifest.pixels.sha256) throw new Error(`${join(dir, manifest.pixels.file)} does not match its checksum (damaged): import the folder again`)
      const out = new Float32Array(bytes.length)
      for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! / 127.5 - 1
      return out
    },
  }
}
