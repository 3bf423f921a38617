// Binary cache of decoded emoji pixels, so the PNGs are decoded once per machine.
//
// File layout: 8-byte magic, u32 LE header length, JSON header, then float32 pixels in native byte order (the cache is machine-local).
// The header records what the pixels were made from (cache key: package versions, options,
// loader version), the exact image list, and a sha256 of the pixels. Any mismatch or damage
// makes readImageCache return a reason instead of data; the caller rebuilds and overwrites.

import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { atomicWriteFile } from '../../util/atomic-write.ts'

const MAGIC = 'DIEMOJI1'
const MAX_HEADER_BYTES = 16 * 1024 * 1024

export interface ImageCacheHeader {
  /** Everything the pixels depend on; compared field by field on read. */
  key: Record<string, string | number | boolean>
  /** One id per image in order, e.g. "1f34e/twitter". */
  imageIds: string[]
  /** Floats per image (size*size*3). */
  floatsPerImage: number
  dataSha256: string
  /** Images that could not be decoded (blank pixels), as "<image id>: reason"; absent = none. */
  skipped?: string[]
}

export type CacheRead = { ok: true; images: Float32Array; skipped: string[] } | { ok: false; reason: string }

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export async function writeImageCache(path: string, key: ImageCacheHeader['key'], imageIds: string[], floatsPerImage: number, images: Float32Array, skipped: string[] = []): Promise<void> {
  const data = new Uint8Array(images.buffer, images.byteOffset, images.byteLength)
  const header: ImageCacheHeader = { key, imageIds, floatsPerImage, dataSha256: sha256Hex(data), ...(skipped.length > 0 ? { skipped } : {}) }
  // Pad the header so the pixels start 4-byte aligned and can be read without a copy.
  let headerJson = JSON.stringify(header)
  headerJson += ' '.repeat((4 - (Buffer.byteLength(headerJson, 'utf8') % 4)) % 4)
  const headerBytes = Buffer.from(headerJson, 'utf8')
  const prefix = Buffer.alloc(12)
  prefix.write(MAGIC, 0, 'latin1')
  prefix.writeUInt32LE(headerBytes.length, 8)
  await atomicWriteFile(path, Buffer.concat([prefix, headerBytes, data]))
}

export async function readImageCache(path: string, key: ImageCacheHeader['key'], imageIds: string[], floatsPerImage: number): Promise<CacheRead> {
  let file: Buffer
  try {
    file = await fs.readFile(path)
  } catch (err) {
    return { ok: false, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no cache file yet' : `unreadable: ${(err as Error).message}` }
  }
  if (file.length < 12 || file.toString('latin1', 0, 8) !== MAGIC) return { ok: false, reason: 'not an emoji cache file' }
  const headerLen = file.readUInt32LE(8)
  if (headerLen > MAX_HEADER_BYTES || 12 + headerLen > file.length) return { ok: false, reason: 'header length out of range' }
  let header: ImageCacheHeader
  try {
    header = JSON.parse(file.toString('utf8', 12, 12 + headerLen)) as ImageCacheHeader
  } catch {
    return { ok: false, reason: 'header is not valid JSON' }
  }
  if (typeof header !== 'object' || header === null || typeof header.key !== 'object' || header.key === null) return { ok: false, reason: 'header has no key' }
  for (const k of new Set([...Object.keys(key), ...Object.keys(header.key)])) {
    if (header.key[k] !== key[k]) return { ok: false, reason: `made with ${k}=${String(header.key[k])}, need ${String(key[k])}` }
  }
  if (header.floatsPerImage !== floatsPerImage) return { ok: false, reason: 'image size differs' }
  if (!Array.isArray(header.imageIds) || header.imageIds.length !== imageIds.length || header.imageIds.some((id, i) => id !== imageIds[i])) {
    return { ok: false, reason: 'image list differs from the installed emoji packages' }
  }
  const dataStart = 12 + headerLen
  const expectedBytes = imageIds.length * floatsPerImage * 4
  if (file.length - dataStart !== expectedBytes) return { ok: false, reason: `pixel data is ${file.length - dataStart} bytes, expected ${expectedBytes}` }
  let data = file.subarray(dataStart)
  if (data.byteOffset % 4 !== 0) data = Buffer.from(data) // a Float32Array view needs 4-byte alignment
  if (sha256Hex(data) !== header.dataSha256) return { ok: false, reason: 'pixel checksum mismatch (corrupt file)' }
  const ids = new Set(imageIds)
  const skipped = header.skipped ?? []
  if (!Array.isArray(skipped) || skipped.some((s) => typeof s !== 'string' || !ids.has(s.split(':')[0]!))) return { ok: false, reason: 'skipped-image list is invalid' }
  return { ok: true, images: new Float32Array(data.buffer, data.byteOffset, expectedBytes / 4), skipped }
}
