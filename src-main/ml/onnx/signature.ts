// The contract for a one-step generator graph (docs/onnx-import.md), checked statically on the
// decoded ONNX model and then by a trial run, so that a wrong or broken file fails at import with a
// message naming what differs, never later in the middle of a gallery job.
//   inputs : z [B, H, W, 3] float32, and optionally tokens [B, L] int32 (B dynamic; H = W)
//   output : x0 [B, H, W, 3] float32, values in [-1, 1]
import { decodeModel } from './graph-builder.ts'
import { createSession, ort } from './runtime.ts'

export interface GeneratorSignature {
  imageSize: number
  /** L of the tokens input; undefined for a prompt-free (z only) generator */
  textLength?: number
}

const ELEM_FLOAT = 1
const ELEM_INT32 = 6
const ELEM_NAMES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64' }

interface ValueDesc { name: string; elemType: number; dims: (number | string)[] }

function describe(v: { name?: string | null; type?: { tensorType?: { elemType?: number | null; shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null } | null } | null }): ValueDesc {
  const tt = v.type?.tensorType
  const dims = (tt?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : '?'))
  return { name: v.name ?? '', elemType: tt?.elemType ?? 0, dims }
}

const typeName = (e: number) => ELEM_NAMES[e] ?? `type ${e}`
const shapeText = (d: ValueDesc) => `[${d.dims.join(', ')}]`

export class SignatureError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SignatureError'
  }
}

/** Static check of the graph's declared inputs and outputs; returns the sizes it implies. */
export function readGeneratorSignature(bytes: Uint8Array, where = 'ONNX file'): GeneratorSignature {
  let model: ReturnType<typeof decodeModel>
  try {
    model = decodeModel(bytes)
  } catch (err) {
    throw new SignatureError(`${where} is not a valid ONNX model (${(err as Error).message})`)
  }
  const graph = model.graph
  if (!graph || (graph.node ?? []).length === 0) throw new SignatureError(`${where} is not a valid ONNX model (no graph or no nodes)`)
  // initializers may be listed as inputs in older exporters; they are not the caller's inputs
  const initNames = new Set((graph.initializer ?? []).map((i) => i.name))
  const inputs = (graph.input ?? []).filter((i) => !initNames.has(i.name ?? '')).map(describe)
  const outputs = (graph.output ?? []).map(describe)
  const names = inputs.map((i) => i.name)
  const problems: string[] = []
  const z = inputs.find((i) => i.name === 'z')
  const tokens = inputs.find((i) => i.name === 'tokens')
  const extra = names.filter((n) => n !== 'z' && n !== 'tokens')
  if (!z) problems.push(`it has no input named 'z' (inputs: ${names.join(', ') || 'none'})`)
  if (extra.length > 0) problems.push(`unexpected input(s) ${extra.map((n) => `'${n}'`).join(', ')} (allowed: z, tokens)`)
  let imageSize = 0
  if (z) {
    if (z.elemType !== ELEM_FLOAT) problems.push(`input 'z' is ${typeName(z.elemType)}, expected float32`)
    if (z.dims.length !== 4) problems.push(`input 'z' has shape ${shapeText(z)}, expected rank 4 [B, H, W, 3]`)
    else {
      const [, h, w, c] = z.dims
      if (c !== 3) problems.push(`input 'z' has ${String(c)} channels in its last axis, expected 3 (NHWC)`)
      if (typeof h !== 'number' || typeof w !== 'number' || h !== w || h < 1) problems.push(`input 'z' must have a fixed square image size, got H=${String(h)}, W=${String(w)}`)
      else imageSize = h
    }
  }
  let textLength: number | undefined
  if (tokens) {
    if (tokens.elemType !== ELEM_INT32) problems.push(`input 'tokens' is ${typeName(tokens.elemType)}, expected int32`)
    if (tokens.dims.length !== 2 || typeof tokens.dims[1] !== 'number') problems.push(`input 'tokens' has shape ${shapeText(tokens)}, expected [B, L] with a fixed L`)
    else textLength = tokens.dims[1]
  }
  const x0 = outputs.find((o) => o.name === 'x0')
  if (!x0) problems.push(`it has no output named 'x0' (outputs: ${outputs.map((o) => o.name).join(', ') || 'none'})`)
  else {
    if (x0.elemType !== ELEM_FLOAT) problems.push(`output 'x0' is ${typeName(x0.elemType)}, expected float32`)
    if (x0.dims.length !== 4) problems.push(`output 'x0' has shape ${shapeText(x0)}, expected rank 4 [B, H, W, 3]`)
  }
  if (problems.length > 0) throw new SignatureError(`${where} does not match the one-step generator signature (docs/onnx-import.md): ${problems.join('; ')}`)
  return { imageSize, ...(textLength !== undefined ? { textLength } : {}) }
}

/**
 * Static check, then a trial run at batch 1 and 2 (proves the batch is dynamic and the output has
 * the right shape and finite values). `textLength`, when given, must equal the graph's L.
 */
export async function checkGeneratorSignature(bytes: Uint8Array, opts: { textLength?: number; where?: string } = {}): Promise<GeneratorSignature> {
  const where = opts.where ?? 'ONNX file'
  const sig = readGeneratorSignature(bytes, where)
  if (sig.textLength !== undefined && opts.textLength !== undefined && sig.textLength !== opts.textLength) {
    throw new SignatureError(`${where}: input 'tokens' has length ${sig.textLength}, but the tokenizer produces ${opts.textLength} ids per prompt`)
  }
  const session = await createSession(bytes, { threads: 1 }).catch((err: Error) => {
    throw new SignatureError(`${where}: ${err.message}`)
  })
  try {
    const S = sig.imageSize
    for (const B of [1, 2]) {
      const feeds: Record<string, ort.Tensor> = { z: new ort.Tensor('float32', new Float32Array(B * S * S * 3), [B, S, S, 3]) }
      if (sig.textLength !== undefined) feeds.tokens = new ort.Tensor('int32', new Int32Array(B * sig.textLength), [B, sig.textLength])
      let out: ort.Tensor | undefined
      try {
        out = (await session.run(feeds)).x0
      } catch (err) {
        throw new SignatureError(`${where}: a trial run at batch ${B} failed: ${(err as Error).message}`)
      }
      const dims = out?.dims ?? []
      if (dims.length !== 4 || dims[0] !== B || dims[1] !== S || dims[2] !== S || dims[3] !== 3) {
        throw new SignatureError(`${where}: for z of shape [${B}, ${S}, ${S}, 3] the output 'x0' has shape [${dims.join(', ')}], expected [${B}, ${S}, ${S}, 3]`)
      }
      if (out!.type !== 'float32' || !(out!.data as Float32Array).every(Number.isFinite)) throw new SignatureError(`${where}: the trial run's output 'x0' is not finite float32`)
    }
  } finally {
    await session.release()
  }
  return sig
}
