// PNG text chunks: encode an RGB image (pngjs) with tEXt/iTXt chunks, and read them back.
//
// Why our own ~100 lines rather than png-chunks-extract / -encode / png-chunk-text: those packages
// are unmaintained since 2017, ship no types, handle tEXt only (no iTXt, which UTF-8 prompts need),
// and re-check nothing. The chunk format is tiny (length, type, data, CRC-32) and Node has zlib.crc32.
// pngjs stays in charge of pixels: it drops unknown chunks, so text chunks are spliced in after IHDR.
//
// Text is written the way other diffusion tools write theirs: a tEXt chunk when keyword and text are
// Latin-1, else an uncompressed iTXt chunk (UTF-8). Reading accepts tEXt, zTXt and iTXt.
import { crc32, inflateSync } from 'node:zlib'
import { PNG } from 'pngjs'

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

export class PngError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PngError'
  }
}

interface Chunk { type: string; data: Buffer }

function chunkBytes(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'latin1')
  data.copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

const isLatin1 = (s: string) => /^[\x20-\x7e\xa0-\xff\n]*$/.test(s)

function textChunk(keyword: string, text: string): Buffer {
  if (keyword.length < 1 || keyword.length > 79 || !/^[\x20-\x7e\xa1-\xff]+$/.test(keyword)) throw new PngError(`PNG text keyword must be 1-79 Latin-1 characters, got '${keyword}'`)
  if (isLatin1(text)) return chunkBytes('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]))
  // iTXt: keyword \0 compression-flag(0) method(0) language-tag \0 translated-keyword \0 text(UTF-8)
  return chunkBytes('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]))
}

/** Splits a PNG file into chunks, checking the signature, lengths and every CRC. */
export function readChunks(file: Uint8Array, where = 'PNG'): Chunk[] {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new PngError(`${where} is not a PNG file (bad signature)`)
  const chunks: Chunk[] = []
  let at = 8
  while (at < buf.length) {
    if (at + 12 > buf.length) throw new PngError(`${where} is truncated (chunk header at byte ${at})`)
    const length = buf.readUInt32BE(at)
    const type = buf.toString('latin1', at + 4, at + 8)
    if (at + 12 + length > buf.length) throw new PngError(`${where} is truncated (chunk ${type} runs past the end)`)
    const data = buf.subarray(at + 8, at + 8 + length)
    if (crc32(buf.subarray(at + 4, at + 8 + length)) !== buf.readUInt32BE(at + 8 + length)) throw new PngError(`${where} is corrupt (CRC mismatch in chunk ${type})`)
    chunks.push({ type, data })
    at += 12 + length
    if (type === 'IEND') break
  }
  if (chunks[0]?.type !== 'IHDR' || chunks[chunks.length - 1]?.type !== 'IEND') throw new PngError(`${where} is truncated or malformed (missing IHDR or IEND)`)
  return chunks
}

function decodeText(c: Chunk): [string, string] | null {
  const nul = c.data.indexOf(0)
  if (nul < 1) return null
  const keyword = c.data.toString('latin1', 0, nul)
  if (c.type === 'tEXt') return [keyword, c.data.toString('latin1', nul + 1)]
  if (c.type === 'zTXt') return [keyword, inflateSync(c.data.subarray(nul + 2)).toString('latin1')]
  if (c.type === 'iTXt') {
    const compressed = c.data[nul + 1] === 1
    const langEnd = c.data.indexOf(0, nul + 3)
    const transEnd = langEnd < 0 ? -1 : c.data.indexOf(0, langEnd + 1)
    if (transEnd < 0) return null
    const body = c.data.subarray(transEnd + 1)
    return [keyword, (compressed ? inflateSync(body) : body).toString('utf8')]
  }
  return null
}

/** All text chunks of a PNG file (later chunks win on duplicate keywords). */
export function readPngText(file: Uint8Array, where = 'PNG'): Record<string, string> {
  const out: Record<string, string> = {}
  for (const c of readChunks(file, where)) {
    if (c.type !== 'tEXt' && c.type !== 'zTXt' && c.type !== 'iTXt') continue
    try {
      const kv = decodeText(c)
      if (kv) out[kv[0]] = kv[1]
    } catch (err) {
      throw new PngError(`${where}: text chunk cannot be decoded (${(err as Error).message})`)
    }
  }
  return out
}

/** Adds text chunks right after IHDR of an encoded PNG. */
export function withPngText(png: Uint8Array, text: Record<string, string>): Buffer {
  const chunks = readChunks(png)
  const parts: Buffer[] = [SIGNATURE]
  for (const c of chunks) {
    parts.push(chunkBytes(c.type, c.data))
    if (c.type === 'IHDR') for (const [k, v] of Object.entries(text)) parts.push(textChunk(k, v))
  }
  return Buffer.concat(parts)
}

/** 8-bit RGB of one NHWC image in [-1, 1] (the same rounding as the sample grids). */
export function toRgb8(image: Float32Array, width: number, height: number): Uint8Array {
  if (image.length !== width * height * 3) throw new PngError(`image has ${image.length} values, expected ${width}x${height}x3`)
  const out = new Uint8Array(image.length)
  for (let k = 0; k < image.length; k++) out[k] = Math.round(Math.min(1, Math.max(-1, image[k]!)) * 127.5 + 127.5)
  return out
}

/** Encodes an RGB8 image as PNG with the given text chunks. */
export function encodePng(rgb: Uint8Array, width: number, height: number, text: Record<string, string> = {}): Buffer {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false })
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength)
  return withPngText(PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }), text)
}

/** Decodes a PNG's pixels to RGB8 (checks chunks and CRCs first, so damage is reported clearly). */
export function decodePng(file: Uint8Array, where = 'PNG'): { width: number; height: number; rgb: Uint8Array } {
  readChunks(file, where)
  let png: PNG
  try {
    png = PNG.sync.read(Buffer.from(file.buffer, file.byteOffset, file.byteLength))
  } catch (err) {
    throw new PngError(`${where}: image data cannot be decoded (${(err as Error).message})`)
  }
  const rgb = new Uint8Array(png.width * png.height * 3)
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = png.data[j]!
    rgb[i + 1] = png.data[j + 1]!
    rgb[i + 2] = png.data[j + 2]!
  }
  return { width: png.width, height: png.height, rgb }
}
