// A small reader and writer for the safetensors format (https://huggingface.co/docs/safetensors):
//   8 bytes    u64 little-endian N = header length
//   N bytes    JSON header: { "<tensor>": { dtype, shape, data_offsets: [begin, end] }, ...,
//              "__metadata__"?: { "<key>": "<string value>" } }, space-padded to an 8-byte boundary
//   rest       tensor data, little-endian, offsets relative to the end of the header
// Only F32 and I32 are supported. The reader trusts nothing: every length, offset and size is
// checked against the file before any byte is interpreted.

import { CheckpointError } from './checkpoint-error.ts'

export type NamedTensor = { dtype: 'float32' | 'int32'; shape: number[]; data: Float32Array | Int32Array }

/** safetensors uses 100 MB as its header limit; a larger claimed length means a damaged file. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024
const METADATA_KEY = '__metadata__'

const DTYPES = {
  F32: { name: 'float32', bytes: 4 },
  I32: { name: 'int32', bytes: 4 },
} as const
type SafetensorsDtype = keyof typeof DTYPES

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

function checkTensor(name: string, t: NamedTensor): void {
  if (typeof t !== 'object' || t === null) throw new CheckpointError(`Tensor ${name}: expected { dtype, shape, data }, got ${t === null ? 'null' : typeof t}`)
  if (name === METADATA_KEY || name === '__proto__' || name.length === 0) throw new CheckpointError(`Invalid tensor name ${JSON.stringify(name)}`)
  if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new CheckpointError(`Tensor ${name}: shape must be non-negative integers, got ${JSON.stringify(t.shape)}`)
  }
  const expectedType = t.dtype === 'float32' ? Float32Array : t.dtype === 'int32' ? Int32Array : null
  if (!expectedType) throw new CheckpointError(`Tensor ${name}: unsupported dtype ${String(t.dtype)} (float32 or int32)`)
  if (!(t.data instanceof expectedType)) throw new CheckpointError(`Tensor ${name}: dtype ${t.dtype} needs a ${expectedType.name}`)
  if (t.data.length !== elementCount(t.shape)) {
    throw new CheckpointError(`Tensor ${name}: shape [${t.shape.join(', ')}] has ${elementCount(t.shape)} elements but data has ${t.data.length}`)
  }
}

/** Raw little-endian bytes of a typed array (a view on little-endian hosts, a copy otherwise). */
function littleEndianBytes(data: Float32Array | Int32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  const out = new Uint8Array(data.byteLength)
  const view = new DataView(out.buffer)
  // Copy the bit patterns through Uint32 so NaN payloads and -0 survive unchanged.
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length)
  for (let i = 0; i < bits.length; i++) view.setUint32(i * 4, bits[i]!, true)
  return out
}

function fromLittleEndianBytes(bytes: Uint8Array, dtype: NamedTensor['dtype']): Float32Array | Int32Array {
  // Always copy: the slice may be unaligned and must not alias the file buffer.
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  if (!LITTLE_ENDIAN_HOST) {
    const view = new DataView(copy.buffer)
    for (let i = 0; i < copy.byteLength; i += 4) view.setUint32(i, view.getUint32(i, true), false)
  }
  return dtype === 'float32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer)
}

/**
 * Serialises tensors (in name order, so equal inputs give equal bytes) plus string metadata.
 * metadata may be a function of the finished data section, e.g. to embed its checksum.
 */
export function encodeSafetensors(
  tensors: Record<string, NamedTensor>,
  metadata: Record<string, string> | ((dataSection: Uint8Array) => Record<string, string>) = {},
): Uint8Array {
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors)) throw new CheckpointError('Tensors must be a record of name -> { dtype, shape, data }')
  const names = Object.keys(tensors).sort()
  const header: Record<string, unknown> = {}
  let dataBytes = 0
  for (const name of names) {
    const t = tensors[name]!
    checkTensor(name, t)
    header[name] = { dtype: t.dtype === 'float32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [dataBytes, dataBytes + t.data.byteLength] }
    dataBytes += t.data.byteLength
  }
  const dataSection = new Uint8Array(dataBytes)
  let pos = 0
  for (const name of names) {
    const bytes = littleEndianBytes(tensors[name]!.data)
    dataSection.set(bytes, pos)
    pos += bytes.length
  }

  const meta = typeof metadata === 'function' ? metadata(dataSection) : metadata
  for (const [k, v] of Object.entries(meta)) if (typeof v !== 'string') throw new CheckpointError(`Metadata ${k} must be a string`)
  // __metadata__ first, as other safetensors writers do; JSON keeps insertion order.
  const headerJson = JSON.stringify(Object.keys(meta).length > 0 ? { [METADATA_KEY]: meta, ...header } : header)
  const headerBytesLen = Buffer.byteLength(headerJson, 'utf8')
  const headerBytes = Buffer.from(headerJson + ' '.repeat((8 - (headerBytesLen % 8)) % 8), 'utf8')

  const out = new Uint8Array(8 + headerBytes.length + dataBytes)
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true)
  out.set(headerBytes, 8)
  out.set(dataSection, 8 + headerBytes.length)
  return out
}

export interface DecodedSafetensors {
  tensors: Record<string, NamedTensor>
  metadata: Record<string, string>
  /** The data section (after the header), e.g. to verify a checksum over it. */
  dataSection: Uint8Array
}

/** Parses and fully validates a safetensors file; `what` names the file in error messages. */
export function decodeSafetensors(file: Uint8Array, what = 'safetensors file'): DecodedSafetensors {
  const fail = (why: string): never => {
    throw new CheckpointError(`${what}: ${why}`)
  }
  if (file.byteLength < 8) fail(`truncated: ${file.byteLength} bytes, too short for the 8-byte header length`)
  const headerLenBig = new DataView(file.buffer, file.byteOffset, file.byteLength).getBigUint64(0, true)
  if (headerLenBig < 2n || headerLenBig > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLenBig} is out of range (2..${MAX_HEADER_BYTES})`)
  const headerLen = Number(headerLenBig)
  if (8 + headerLen > file.byteLength) fail(`truncated: header claims ${headerLen} bytes but only ${file.byteLength - 8} follow`)

  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLen)))
  } catch (err) {
    fail(`header is not valid JSON (${(err as Error).message})`)
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object')
  const entries = header as Record<string, unknown>

  const metadata: Record<string, string> = {}
  const rawMeta = entries[METADATA_KEY]
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null || Array.isArray(rawMeta)) fail('__metadata__ is not an object')
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`)
      metadata[k] = v as string
    }
  }

  const dataSection = file.subarray(8 + headerLen)
  type Span = { name: string; dtype: NamedTensor['dtype']; shape: number[]; begin: number; end: number }
  const spans: Span[] = []
  for (const [name, raw] of Object.entries(entries)) {
    if (name === METADATA_KEY) continue
    if (name === '__proto__' || name.length === 0) fail(`invalid tensor name ${JSON.stringify(name)}`)
    if (typeof raw !== 'object' || raw === null) fail(`tensor ${name}: entry is not an object`)
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>
    if (typeof dtype !== 'string' || !(dtype in DTYPES)) fail(`tensor ${name}: unsupported dtype ${JSON.stringify(dtype)} (F32 or I32)`)
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) fail(`tensor ${name}: invalid shape ${JSON.stringify(shape)}`)
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || (o as number) < 0)) {
      fail(`tensor ${name}: invalid data_offsets ${JSON.stringify(offsets)}`)
    }
    const [begin, end] = offsets as [number, number]
    if (begin > end) fail(`tensor ${name}: data_offsets [${begin}, ${end}] run backwards`)
    if (end > dataSection.byteLength) fail(`tensor ${name}: data_offsets [${begin}, ${end}] run past the end of the data (${dataSection.byteLength} bytes; truncated file?)`)
    const { name: dtypeName, bytes } = DTYPES[dtype as SafetensorsDtype]
    const expected = elementCount(shape as number[]) * bytes
    if (end - begin !== expected) fail(`tensor ${name}: shape [${(shape as number[]).join(', ')}] x ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`)
    spans.push({ name, dtype: dtypeName, shape: shape as number[], begin, end })
  }

  // The data section must be tiled exactly: no gaps, no overlaps, nothing left over.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end)
  let cursor = 0
  for (const s of spans) {
    if (s.begin < cursor) fail(`tensor ${s.name}: data overlaps the previous tensor`)
    if (s.begin > cursor) fail(`tensor ${s.name}: gap of ${s.begin - cursor} bytes before its data (offsets not contiguous)`)
    cursor = s.end
  }
  if (cursor !== dataSection.byteLength) fail(`data section is ${dataSection.byteLength} bytes but the tensors cover ${cursor} (trailing or missing bytes)`)

  const tensors: Record<string, NamedTensor> = {}
  for (const s of spans) tensors[s.name] = { dtype: s.dtype, shape: s.shape, data: fromLittleEndianBytes(dataSection.subarray(s.begin, s.end), s.dtype) }
  return { tensors, metadata, dataSection }
}
