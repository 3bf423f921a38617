// Reads an ONNX file's declared graph inputs and outputs (and where its weights live) without loading
// the weights: a Stable Diffusion UNet is 1.7 GB (SD-Turbo, fp32) to 5 GB (SDXL, fp32 with external
// data), so the folder check walks the protobuf wire format field by field, seeks past node and
// initializer payloads, and decodes only the small ValueInfoProto messages with onnx-proto.
//
// Wire layout read here (onnx/onnx.proto): ModelProto.graph = field 7; GraphProto.initializer = 5,
// input = 11, output = 12. An initializer whose weights live outside the file (TensorProto
// data_location = EXTERNAL) names its file and byte range in external_data ("location", "offset",
// "length"); Optimum writes those to `model.onnx_data` beside `model.onnx` when the model passes 2 GB
// (optimum/exporters/onnx/convert.py, `location=output.name + "_data"`).
import { open, type FileHandle } from 'node:fs/promises'
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

export const ELEM_TYPE_NAMES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
}

export interface OnnxValueDesc {
  name: string
  /** 'float32', 'float16', 'int64', ... (or 'type N' for one without a name here) */
  type: string
  /** fixed sizes as numbers, symbolic ones (dim_param) as strings, unknown as '?' */
  dims: (number | string)[]
}

export interface ExternalDataRef {
  /** file name relative to the model file's folder */
  location: string
  /** first byte after the tensor's data in that file */
  end: number
}

export interface OnnxHeader {
  inputs: OnnxValueDesc[]
  outputs: OnnxValueDesc[]
  externalData: ExternalDataRef[]
  fileBytes: number
}

export class OnnxHeaderError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OnnxHeaderError'
  }
}

const WINDOW = 1 << 16
/** initializer messages smaller than this are decoded to look for external data references */
const SMALL_TENSOR = 1 << 14

/** A forward reader over a file with a small window, so skipping gigabytes of weights costs nothing. */
class FileCursor {
  private buf = Buffer.alloc(0)
  private bufStart = 0
  pos = 0
  constructor(private readonly fh: FileHandle, readonly size: number) {}

  private async fill(at: number, min: number): Promise<void> {
    const want = Math.max(WINDOW, min)
    const buf = Buffer.alloc(Math.min(want, Math.max(0, this.size - at)))
    let got = 0
    while (got < buf.length) {
      const { bytesRead } = await this.fh.read(buf, got, buf.length - got, at + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    this.buf = buf.subarray(0, got)
    this.bufStart = at
  }

  async byte(): Promise<number> {
    if (this.pos >= this.size) throw new OnnxHeaderError('the file ends in the middle of a protobuf field (truncated?)')
    if (this.pos < this.bufStart || this.pos >= this.bufStart + this.buf.length) await this.fill(this.pos, 1)
    return this.buf[this.pos++ - this.bufStart]!
  }

  async varint(): Promise<number> {
    let result = 0
    let mul = 1
    for (let i = 0; i < 10; i++) {
      const b = await this.byte()
      result += (b & 0x7f) * mul
      if ((b & 0x80) === 0) return result
      mul *= 128
    }
    throw new OnnxHeaderError('a malformed protobuf varint')
  }

  async bytes(n: number): Promise<Uint8Array> {
    if (this.pos + n > this.size) throw new OnnxHeaderError('the file ends inside a message (truncated?)')
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) await this.fill(this.pos, n)
    const out = this.buf.subarray(this.pos - this.bufStart, this.pos - this.bufStart + n)
    this.pos += n
    return new Uint8Array(out)
  }

  skip(n: number): void {
    if (this.pos + n > this.size) throw new OnnxHeaderError(`a field of ${n} bytes runs past the end of the file (${this.size} bytes): the file is truncated`)
    this.pos += n
  }
}

/** Skip one field's value of the given wire type. */
async function skipField(c: FileCursor, wireType: number): Promise<void> {
  switch (wireType) {
    case 0: await c.varint(); return
    case 1: c.skip(8); return
    case 2: c.skip(await c.varint()); return
    case 5: c.skip(4); return
    default: throw new OnnxHeaderError(`an unknown protobuf wire type ${wireType} (not an ONNX file, or corrupt)`)
  }
}

function describe(bytes: Uint8Array): OnnxValueDesc {
  const v = onnx.ValueInfoProto.decode(bytes)
  const tt = v.type?.tensorType
  const elem = tt?.elemType ?? 0
  const dims = (tt?.shape?.dim ?? []).map((d): number | string => {
    if (d.dimParam) return d.dimParam
    const n = d.dimValue === undefined || d.dimValue === null ? 0 : Number(d.dimValue)
    return n > 0 ? n : '?'
  })
  return { name: v.name ?? '', type: ELEM_TYPE_NAMES[elem] ?? `type ${elem}`, dims }
}

function externalRef(bytes: Uint8Array): ExternalDataRef | null {
  const t = onnx.TensorProto.decode(bytes)
  if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) return null
  const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']))
  const location = kv.get('location') ?? ''
  const offset = Number(kv.get('offset') ?? 0)
  let length = Number(kv.get('length') ?? NaN)
  if (!Number.isFinite(length)) {
    // no length: the tensor's size from its dims and type
    const count = (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1)
    const width: Record<number, number> = { 1: 4, 10: 2, 16: 2, 11: 8, 7: 8, 6: 4, 2: 1, 3: 1, 9: 1 }
    length = count * (width[t.dataType ?? 1] ?? 4)
  }
  return { location, end: offset + length }
}

/** The graph's inputs (minus initializers listed as inputs by old exporters), outputs and external data. */
export async function readOnnxHeader(path: string): Promise<OnnxHeader> {
  let fh: FileHandle
  try {
    fh = await open(path, 'r')
  } catch (err) {
    throw new OnnxHeaderError(`cannot open it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  try {
    const size = (await fh.stat()).size
    if (size === 0) throw new OnnxHeaderError('the file is empty')
    const c = new FileCursor(fh, size)
    let graphStart = -1
    let graphEnd = -1
    while (c.pos < size) {
      const tag = await c.varint()
      const field = Math.floor(tag / 8)
      const wire = tag & 7
      if (field === 0) throw new OnnxHeaderError('not an ONNX model (a protobuf field number 0)')
      if (field === 7 && wire === 2) {
        const len = await c.varint()
        graphStart = c.pos
        graphEnd = c.pos + len
        if (graphEnd > size) throw new OnnxHeaderError(`its graph is ${len} bytes but the file ends after ${size - graphStart}: the file is truncated`)
        c.skip(len)
      } else await skipField(c, wire)
    }
    if (graphStart < 0) throw new OnnxHeaderError('not an ONNX model (no graph)')
    const inputs: OnnxValueDesc[] = []
    const outputs: OnnxValueDesc[] = []
    const externalData: ExternalDataRef[] = []
    const initializerNames = new Set<string>()
    c.pos = graphStart
    while (c.pos < graphEnd) {
      const tag = await c.varint()
      const field = Math.floor(tag / 8)
      const wire = tag & 7
      if ((field === 11 || field === 12) && wire === 2) {
        const desc = describe(await c.bytes(await c.varint()))
        ;(field === 11 ? inputs : outputs).push(desc)
      } else if (field === 5 && wire === 2) {
        const len = await c.varint()
        if (len <= SMALL_TENSOR) {
          const t = await c.bytes(len)
          const ref = externalRef(t)
          if (ref) externalData.push(ref)
          initializerNames.add(onnx.TensorProto.decode(t).name ?? '')
        } else {
          // a large initializer holds its weights inline: read only its name (field 8, written before
          // raw_data = 9) so that an old exporter's initializer-as-input is not taken for a caller's input
          const end = c.pos + len
          if (end > graphEnd) throw new OnnxHeaderError('an initializer runs past the end of the graph: the file is truncated')
          while (c.pos < end) {
            const t = await c.varint()
            if (Math.floor(t / 8) === 8 && (t & 7) === 2) {
              initializerNames.add(new TextDecoder().decode(await c.bytes(await c.varint())))
              break
            }
            await skipField(c, t & 7)
          }
          c.pos = end
        }
      } else await skipField(c, wire)
    }
    return { inputs: inputs.filter((i) => !initializerNames.has(i.name)), outputs, externalData, fileBytes: size }
  } catch (err) {
    if (err instanceof OnnxHeaderError) throw err
    throw new OnnxHeaderError(`not a readable ONNX model (${(err as Error).message})`)
  } finally {
    await fh.close()
  }
}
