// ONNX export of the U-Net (src-main/ml/diffusion/unet.ts), op for op, with a dynamic batch. The same
// two graphs, inputs and outputs as exportDitToOnnx (export-dit.ts), so the studio's inference,
// samplers and gallery use either network without knowing which it is:
//   'eps'       : (xt [B,H,W,C], t [B] float32, tokens [B,L] int32) -> eps [B,H,W,C]
//   'generator' : (z [B,H,W,C], tokens [B,L] int32) -> x0 [B,H,W,C], x0 = (z - sigma_tinit eps(z, t_init)) / alpha_tinit
// Any change to unetEps must be mirrored here; tests/unit/onnx-export-unet.test.ts checks that
// TensorFlow.js and onnxruntime agree within 1e-4 on random inputs.
//
// Layout: the graph works in NCHW, onnxruntime's native Conv layout: one transpose after the input and
// one before the output (plus two around each attention block, which works on [B, HW, C] rows), instead
// of two around every conv. Conv filters are stored as [cout, cin, kh, kw]; the 1x1 skip projections
// become 1x1 Convs. GroupNormalization is not in opset 17 (and was redefined later): it is a Reshape to
// [B, groups, -1], a LayerNormalization over the last axis, a Reshape back, then the per-channel affine.
// Speed (onnxruntime-node CPU, 1 thread, loaded 2-core machine): the pretrain-unet.json U-Net's eps
// pass takes ~100 ms at batch 16 and ~215 ms at 32 (median of 7), the reference DiT's 29 and 67 ms.
import type { DitConfig } from '../diffusion/dit.ts'
import { ditParamShapes } from '../diffusion/dit.ts'
import { GROUP_NORM_EPS, unetLayout } from '../diffusion/unet.ts'
import { conditioningGraph, generatorOutput, siluGraph, vToEps, type DitExportKind } from './export-dit.ts'
import { OnnxGraphBuilder, type OnnxValue } from './graph-builder.ts'

const LAYER_NORM_EPS = 1e-6 // ops.layerNorm's default, which the U-Net's attention blocks use

/** tfjs 'same' padding for a k x k conv with this stride on a size x size input: [before, after]. */
export function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride)
  const total = Math.max((out - 1) * stride + kernel - size, 0)
  return [Math.floor(total / 2), total - Math.floor(total / 2)]
}

/** [kh, kw, cin, cout] (tfjs) -> [cout, cin, kh, kw] (ONNX Conv). */
function toOihw(w: Float32Array, [kh, kw, cin, cout]: number[]): Float32Array {
  const out = new Float32Array(w.length)
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < cin!; c++) for (let o = 0; o < cout!; o++) {
    out[((o * cin! + c) * kh! + i) * kw! + j] = w[((i * kw! + j) * cin! + c) * cout! + o]!
  }
  return out
}

export function exportUnetToOnnx(config: DitConfig, values: Record<string, Float32Array>, what: DitExportKind, docString = ''): Uint8Array {
  if (config.arch !== 'unet') throw new Error("ONNX export: exportUnetToOnnx needs a config with arch 'unet'")
  const shapes = ditParamShapes(config)
  for (const [name, shape] of Object.entries(shapes)) {
    const v = values[name]
    const size = shape.reduce((a, b) => a * b, 1)
    if (!v || v.length !== size) throw new Error(`ONNX export: parameter '${name}' is missing or not of shape [${shape}]`)
  }
  const { imageSize: S, channels: C, heads } = config
  const { channels, sizes, attention: att, groups } = unetLayout(config)
  const levels = channels.length
  const g = new OnnxGraphBuilder(what.kind === 'eps' ? 'unet_eps' : 'unet_generator')
  const w = (name: string) => g.weight(name, shapes[name]!, values[name]!)
  const shape = (dims: number[]) => g.int64s(dims, 'shape')
  const reshape = (x: OnnxValue, dims: number[]) => g.op1('Reshape', [x, shape(dims)])
  const linear = (prefix: string, x: OnnxValue) => g.op1('Add', [g.op1('MatMul', [x, w(prefix + '.w')]), w(prefix + '.b')])
  const silu = (x: OnnxValue) => siluGraph(g, x)
  /** A per-channel vector as [C, 1, 1], broadcasting over NCHW. */
  const channelVector = (name: string) => g.weight(name, [shapes[name]![0]!, 1, 1], values[name]!)
  // LayerNormalization's scale input: a vector of ones per normalised size, stored once
  const onesCache = new Map<number, OnnxValue>()
  const onesOf = (n: number) => {
    let v = onesCache.get(n)
    if (!v) {
      v = g.weight(`const.ones_${n}`, [n], new Float32Array(n).fill(1))
      onesCache.set(n, v)
    }
    return v
  }

  const conv = (prefix: string, x: OnnxValue, size: number, stride = 1) => {
    const [kh, kw, cin, cout] = shapes[prefix + '.w']!
    const [top, bottom] = samePadding(size, kh!, stride)
    const [left, right] = samePadding(size, kw!, stride)
    const filter = g.weight(prefix + '.w', [cout!, cin!, kh!, kw!], toOihw(values[prefix + '.w']!, shapes[prefix + '.w']!))
    return g.op1('Conv', [x, filter, w(prefix + '.b')], { kernel_shape: [kh!, kw!], strides: [stride, stride], pads: [top, left, bottom, right] })
  }
  /** GroupNorm of NCHW x (ch channels, size x size), then `* gamma + beta` if given (names of [ch] params). */
  const groupNorm = (x: OnnxValue, ch: number, size: number, affine?: string) => {
    const perGroup = (ch / groups) * size * size
    const normed = g.op1('LayerNormalization', [reshape(x, [0, groups, perGroup]), onesOf(perGroup)], { axis: -1, epsilon: { float: GROUP_NORM_EPS } })
    const back = reshape(normed, [0, ch, size, size])
    return affine ? g.op1('Add', [g.op1('Mul', [back, channelVector(affine + '.g')]), channelVector(affine + '.b')]) : back
  }
  const one = g.scalar(1, 'one')

  /** x * (1 + scale) + shift with scale, shift [B, C, 1, 1] from the conditioning vector. */
  const film = (prefix: string, x: OnnxValue, ch: number, cond: OnnxValue) => {
    const [scale, shift] = g.op('Split', [reshape(linear(prefix, cond), [-1, 2 * ch, 1, 1])], { axis: 1 }, 2) as [OnnxValue, OnnxValue]
    return g.op1('Add', [g.op1('Mul', [x, g.op1('Add', [scale, one])]), shift])
  }
  const resBlock = (p: string, x: OnnxValue, cin: number, cout: number, size: number, cond: OnnxValue) => {
    let h = conv(p + 'conv1', silu(groupNorm(x, cin, size, p + 'norm1')), size)
    h = film(p + 'film', groupNorm(h, cout, size), cout, cond)
    h = conv(p + 'conv2', silu(h), size)
    if (cin === cout) return g.op1('Add', [x, h])
    const skipW = g.weight(p + 'skip.w', [cout, cin, 1, 1], toOihw(values[p + 'skip.w']!, [1, 1, cin, cout]))
    return g.op1('Add', [g.op1('Conv', [x, skipW, w(p + 'skip.b')], { kernel_shape: [1, 1] }), h])
  }

  const attentionHeads = (v: OnnxValue, n: number, ch: number) =>
    g.op1('Transpose', [reshape(v, [-1, n, heads, ch / heads])], { perm: [0, 2, 1, 3] }) // [B, heads, n, dh]
  const attend = (q: OnnxValue, k: OnnxValue, v: OnnxValue, nq: number, nk: number, ch: number) => {
    const scaled = g.op1('Mul', [attentionHeads(q, nq, ch), g.scalar(1 / Math.sqrt(ch / heads), 'inv_sqrt_dh')])
    const scores = g.op1('MatMul', [scaled, g.op1('Transpose', [attentionHeads(k, nk, ch)], { perm: [0, 1, 3, 2] })])
    const mixed = g.op1('MatMul', [g.op1('Softmax', [scores], { axis: -1 }), attentionHeads(v, nk, ch)])
    return reshape(g.op1('Transpose', [mixed], { perm: [0, 2, 1, 3] }), [-1, nq, ch])
  }
  const layerNorm = (x: OnnxValue, n: number) => g.op1('LayerNormalization', [x, onesOf(n)], { axis: -1, epsilon: { float: LAYER_NORM_EPS } })
  /** Self-attention over the pixels, then cross-attention to the (layer-normed) caption tokens; NCHW in and out. */
  const attentionBlock = (p: string, x: OnnxValue, ch: number, size: number, words: OnnxValue) => {
    const n = size * size
    let rows = reshape(g.op1('Transpose', [x], { perm: [0, 2, 3, 1] }), [-1, n, ch]) // [B, HW, C]
    const n1 = layerNorm(rows, ch)
    rows = g.op1('Add', [rows, linear(p + 'attn.o', attend(linear(p + 'attn.q', n1), linear(p + 'attn.k', n1), linear(p + 'attn.v', n1), n, n, ch))])
    const n2 = layerNorm(rows, ch)
    const L = config.textLength
    rows = g.op1('Add', [rows, linear(p + 'xattn.o', attend(linear(p + 'xattn.q', n2), linear(p + 'xattn.k', words), linear(p + 'xattn.v', words), n, L, ch))])
    return g.op1('Transpose', [reshape(rows, [-1, size, size, ch])], { perm: [0, 3, 1, 2] })
  }
  /** Nearest-neighbour x2 of NCHW x: each value broadcast over a 2 x 2 block. */
  const upsample = (x: OnnxValue, ch: number, size: number) => {
    const spread = g.op1('Expand', [reshape(x, [-1, ch, size, 1, size, 1]), g.int64s([1, 1, 1, 2, 1, 2], 'expand')])
    return reshape(spread, [-1, ch, 2 * size, 2 * size])
  }

  const x = what.kind === 'eps' ? g.input('xt', 'float32', ['batch', S, S, C]) : g.input('z', 'float32', ['batch', S, S, C])
  const { tInput, cond, emb } = conditioningGraph(g, config, w, what, 4 * config.width) // cond [B, 4 width], emb [B, L, tw]
  const words = layerNorm(emb, config.textWidth)

  let h = conv('in', g.op1('Transpose', [x], { perm: [0, 3, 1, 2] }), S)
  let ch = channels[0]!
  const skips: { value: OnnxValue; ch: number }[] = []
  for (let l = 0; l < levels; l++) {
    for (let i = 0; i < config.depth; i++) {
      h = resBlock(`down.${l}.${i}.`, h, ch, channels[l]!, sizes[l]!, cond)
      ch = channels[l]!
      if (att[l]) h = attentionBlock(`down.${l}.${i}.`, h, ch, sizes[l]!, words)
      skips.push({ value: h, ch })
    }
    if (l < levels - 1) h = conv(`down.${l}.down`, h, sizes[l]!, 2)
  }
  const bottom = sizes[levels - 1]!
  h = resBlock('mid.0.', h, ch, ch, bottom, cond)
  h = attentionBlock('mid.', h, ch, bottom, words)
  h = resBlock('mid.1.', h, ch, ch, bottom, cond)
  for (let l = levels - 1; l >= 0; l--) {
    for (let i = 0; i < config.depth; i++) {
      const skip = skips.pop()!
      h = resBlock(`up.${l}.${i}.`, g.op1('Concat', [h, skip.value], { axis: 1 }), ch + skip.ch, channels[l]!, sizes[l]!, cond)
      ch = channels[l]!
      if (att[l]) h = attentionBlock(`up.${l}.${i}.`, h, ch, sizes[l]!, words)
    }
    if (l > 0) h = upsample(h, ch, sizes[l]!)
  }
  const outNchw = conv('out', silu(film('out.film', h, ch, cond)), S)
  const raw = g.op1('Transpose', [outNchw], { perm: [0, 2, 3, 1] }) // back to [B, H, W, C]
  const eps = (config.output ?? 'epsilon') === 'epsilon' ? raw : vToEps(g, config, raw, x, tInput, what)

  if (what.kind === 'eps') g.output(eps, 'eps', 'float32', ['batch', S, S, C])
  else g.output(generatorOutput(g, x, eps, what), 'x0', 'float32', ['batch', S, S, C])
  return g.encode(docString)
}
