// A small text-conditional convolutional U-Net (Ronneberger et al. 2015, in the form of Ho et al. 2020
// and Dhariwal & Nichol 2021), the second denoiser next to the DiT. A pure function of a params record,
// like ditEps; dit.ts dispatches here when the config says arch 'unet', so the config type stays
// DitConfig and every caller (pretraining, DI*, distillation, data-parallel, checkpoints) works unchanged.
//
// Why: the 1.6M-param patch-4 DiT does not learn emoji shapes at 32x32; convolutions see every pixel
// and its neighbours from the first layer.
//
// Config fields as read here: width = base channels, depth = residual blocks per resolution level,
// heads = attention heads, channelMults (default [1, 2, 2]) = channels per level as multiples of
// width, attentionLevels (default: the lowest resolution) = levels with attention, normGroups
// (default 8). patch must be 1; mlpRatio and textTokens do not apply (the attention blocks have no
// MLP, and the caption's word tokens always reach the image through cross-attention).
//
// The network:
//   c = silu(timeMLP(sinusoidal t) + textMLP(masked mean of word embeddings))   (as the DiT; [B, E], E = 4 width,
//       the sinusoid E wide too)
//   conv_in 3x3
//   down, per level: depth ResBlocks (+ attention), each output kept as a skip; then a stride-2 3x3 conv
//   mid: ResBlock, attention, ResBlock
//   up, per level: depth ResBlocks on concat(h, skip) (+ attention); then nearest x2 (concat + reshape)
//   FiLM (1 + scale, shift from c) -> SiLU -> conv 3x3 to the image channels (no GroupNorm here, see below)
// ResBlock: GN -> SiLU -> conv3x3 -> GN, FiLM (1 + scale, shift from c) -> SiLU -> conv3x3, plus the
// input (through a 1x1 projection when the channels change). Attention: self-attention over the H*W
// pixels, then cross-attention to the caption's word embeddings, each pre-layer-normed and residual.
// The last conv of each ResBlock, the attention output projections and the output conv start at zero,
// so every block starts as the identity and the network as the zero function.
// Lighter than ADM's, for the CPU budget: depth (not depth + 1) blocks per level on the way up, one skip
// per block, and no conv after the upsampling (the next ResBlock's conv follows at once).
// The output head has no GroupNorm (ADM's has): normalising each image's features over all its pixels
// removes their per-image level, which the v/eps target needs. In 100-step trials on the emoji data
// (batch 16, lr 6e-4, the same batches; plain loss on 64 fixed held-out noisings, 0.476 at init) the loss
// barely moved with it (0.433) and fell to 0.352 without it; the FiLM from c at the head, as the DiT's
// final adaLN, and a 4-width sinusoid brought it to 0.312. Over 400 steps: 0.312 / 0.170 / 0.153 / 0.137
// at steps 100-400, the reference DiT 0.259 / 0.193 / 0.177 / 0.168.
//
// Shapes are chosen for the wasm backend: every dense layer is a flag-free 2-D matMul on [rows, C]
// (ops.dense), attention uses ops.attention (rank-4 transposes only), the upsampling is built from
// concat + reshape (ResizeNearestNeighbor's gradient is missing on some backends), and conv gradients
// run as forward convs (wasm-kernels.ts).
import * as tf from '@tensorflow/tfjs-core'
import { attention, conv2d, groupNorm, layerNorm, silu } from '../backend/ops.ts'
import { Rng } from '../util/rng.ts'
import { denseNamed, encodeText, linear, outputToEps, param1d, textTokenEmbeddings, timestepEmbedding } from './conditioning.ts'
import type { DitConfig, DitParams } from './dit.ts'

export const DEFAULT_CHANNEL_MULTS = [1, 2, 2]
export const DEFAULT_NORM_GROUPS = 8
/** GroupNorm's eps (PyTorch's default); the ONNX export uses the same. */
export const GROUP_NORM_EPS = 1e-5

/** What the U-Net's code needs from its config, with the defaults filled in. */
export interface UnetLayout {
  /** channels per level, level 0 = full resolution */
  channels: number[]
  /** image side per level */
  sizes: number[]
  /** attention at level l */
  attention: boolean[]
  /** width of the conditioning vector c */
  condWidth: number
  groups: number
}

export function unetLayout(c: DitConfig): UnetLayout {
  const mults = c.channelMults ?? DEFAULT_CHANNEL_MULTS
  const levels = mults.length
  const attentionLevels = c.attentionLevels ?? [levels - 1]
  return {
    channels: mults.map((m) => m * c.width),
    sizes: mults.map((_, l) => c.imageSize / 2 ** l),
    attention: mults.map((_, l) => attentionLevels.includes(l)),
    condWidth: 4 * c.width,
    groups: c.normGroups ?? DEFAULT_NORM_GROUPS,
  }
}

/** The U-Net-specific checks (validateDitConfig did the common ones). */
export function validateUnetConfig(c: DitConfig): void {
  const fail = (m: string): never => { throw new Error(`DitConfig (unet): ${m}`) }
  if (c.patch !== 1) fail(`patch must be 1 (the U-Net works on pixels), got ${c.patch}`)
  if (c.textTokens) fail('textTokens does not apply: the U-Net always cross-attends to the caption tokens')
  const mults = c.channelMults ?? DEFAULT_CHANNEL_MULTS
  if (!Array.isArray(mults) || mults.length < 1 || mults.length > 6 || !mults.every((m) => Number.isInteger(m) && m >= 1)) {
    fail(`channelMults must be 1 to 6 positive integers, got ${JSON.stringify(c.channelMults)}`)
  }
  const levels = mults.length
  if (c.imageSize % 2 ** (levels - 1) !== 0) fail(`imageSize ${c.imageSize} is not divisible by 2^${levels - 1} (${levels} levels)`)
  const att = c.attentionLevels ?? [levels - 1]
  if (!Array.isArray(att) || !att.every((l) => Number.isInteger(l) && l >= 0 && l < levels)) {
    fail(`attentionLevels must be level indices 0..${levels - 1}, got ${JSON.stringify(c.attentionLevels)}`)
  }
  const groups = c.normGroups ?? DEFAULT_NORM_GROUPS
  if (!Number.isInteger(groups) || groups < 1) fail(`normGroups must be a positive integer, got ${String(c.normGroups)}`)
  const layout = unetLayout(c)
  for (const [l, ch] of layout.channels.entries()) {
    if (ch % groups !== 0) fail(`level ${l} has ${ch} channels, not divisible by normGroups ${groups}`)
  }
  // attention runs at the listed levels and always in the mid block (the lowest level)
  for (const l of new Set([...att, levels - 1])) {
    if (layout.channels[l]! % c.heads !== 0) fail(`level ${l} has ${layout.channels[l]} channels, not divisible by heads ${c.heads}`)
  }
}

// ---------- parameters ----------

function resBlockShapes(s: Record<string, number[]>, p: string, cin: number, cout: number, E: number): void {
  Object.assign(s, {
    [p + 'norm1.g']: [cin], [p + 'norm1.b']: [cin],
    [p + 'conv1.w']: [3, 3, cin, cout], [p + 'conv1.b']: [cout],
    [p + 'film.w']: [E, 2 * cout], [p + 'film.b']: [2 * cout],
    [p + 'conv2.w']: [3, 3, cout, cout], [p + 'conv2.b']: [cout],
  })
  if (cin !== cout) Object.assign(s, { [p + 'skip.w']: [cin, cout], [p + 'skip.b']: [cout] })
}

function attentionShapes(s: Record<string, number[]>, p: string, C: number, textWidth: number): void {
  for (const n of ['attn.q', 'attn.k', 'attn.v', 'attn.o', 'xattn.q']) Object.assign(s, { [`${p}${n}.w`]: [C, C], [`${p}${n}.b`]: [C] })
  for (const n of ['xattn.k', 'xattn.v']) Object.assign(s, { [`${p}${n}.w`]: [textWidth, C], [`${p}${n}.b`]: [C] })
  Object.assign(s, { [`${p}xattn.o.w`]: [C, C], [`${p}xattn.o.b`]: [C] })
}

/**
 * Every parameter's shape, by name, in the order the forward pass uses them (the seeded init draws in
 * this order). Names: time.*, text.* (as the DiT), in.*, down.<level>.<block>.*, down.<level>.down.*,
 * mid.{0,1}.*, mid.attn.* / mid.xattn.*, up.<level>.<block>.*, out.*.
 */
export function unetParamShapes(c: DitConfig): Record<string, number[]> {
  const { channels, attention: att, condWidth: E } = unetLayout(c)
  const levels = channels.length
  const s: Record<string, number[]> = {
    'time.w1': [E, E], 'time.b1': [E], 'time.w2': [E, E], 'time.b2': [E],
    'text.embed': [c.vocabSize, c.textWidth], 'text.pos': [c.textLength, c.textWidth],
    'text.w1': [c.textWidth, E], 'text.b1': [E], 'text.w2': [E, E], 'text.b2': [E],
    'in.w': [3, 3, c.channels, channels[0]!], 'in.b': [channels[0]!],
  }
  let ch = channels[0]!
  const skips: number[] = []
  for (let l = 0; l < levels; l++) {
    for (let i = 0; i < c.depth; i++) {
      resBlockShapes(s, `down.${l}.${i}.`, ch, channels[l]!, E)
      ch = channels[l]!
      if (att[l]) attentionShapes(s, `down.${l}.${i}.`, ch, c.textWidth)
      skips.push(ch)
    }
    if (l < levels - 1) Object.assign(s, { [`down.${l}.down.w`]: [3, 3, ch, ch], [`down.${l}.down.b`]: [ch] })
  }
  resBlockShapes(s, 'mid.0.', ch, ch, E)
  attentionShapes(s, 'mid.', ch, c.textWidth)
  resBlockShapes(s, 'mid.1.', ch, ch, E)
  for (let l = levels - 1; l >= 0; l--) {
    for (let i = 0; i < c.depth; i++) {
      resBlockShapes(s, `up.${l}.${i}.`, ch + skips.pop()!, channels[l]!, E)
      ch = channels[l]!
      if (att[l]) attentionShapes(s, `up.${l}.${i}.`, ch, c.textWidth)
    }
  }
  Object.assign(s, { 'out.film.w': [E, 2 * ch], 'out.film.b': [2 * ch], 'out.w': [3, 3, ch, c.channels], 'out.b': [c.channels] })
  return s
}

/** Weights that start at zero, so each residual branch (and the whole network) starts as the identity (zero). */
const isZeroInit = (name: string) => name.endsWith('conv2.w') || name.endsWith('attn.o.w') || name === 'out.w'

/**
 * Initial values, seeded: Xavier-normal dense and conv weights (conv fans include the 3x3 taps), small
 * text embeddings (0.02, as the DiT), zero biases, GroupNorm gains of one, and zeros for the weights
 * of isZeroInit.
 */
export function initUnetValues(c: DitConfig, seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed)
  const out: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(unetParamShapes(c))) {
    const size = shape.reduce((a, b) => a * b, 1)
    if (shape.length === 1) {
      out[name] = new Float32Array(size).fill(name.endsWith('.g') ? 1 : 0)
      continue
    }
    if (isZeroInit(name)) {
      out[name] = new Float32Array(size)
      continue
    }
    let std: number
    if (name === 'text.embed' || name === 'text.pos') std = 0.02
    else if (shape.length === 4) std = Math.sqrt(2 / (shape[0]! * shape[1]! * (shape[2]! + shape[3]!)))
    else std = Math.sqrt(2 / (shape[0]! + shape[1]!))
    const v = rng.normals(size)
    for (let i = 0; i < size; i++) v[i]! *= std
    out[name] = v
  }
  return out
}

// ---------- network ----------

function conv(params: DitParams, prefix: string, x: tf.Tensor4D, stride = 1): tf.Tensor4D {
  const y = conv2d(x, params[prefix + '.w'] as tf.Tensor as tf.Tensor4D, stride, 'same')
  return tf.add(y, param1d(params, prefix + '.b'))
}

/** FiLM: x * (1 + scale) + shift, a per-image, per-channel scale and shift from the conditioning vector. */
function film(params: DitParams, prefix: string, x: tf.Tensor4D, cond: tf.Tensor2D): tf.Tensor4D {
  const [B, , , C] = x.shape
  const [scale, shift] = tf.split(tf.reshape(linear(params, prefix, cond), [B, 1, 1, 2 * C]), 2, 3) as [tf.Tensor, tf.Tensor]
  return tf.add(tf.mul(x, tf.add(scale, 1)), shift) as tf.Tensor4D
}

function resBlock(params: DitParams, p: string, x: tf.Tensor4D, cout: number, cond: tf.Tensor2D, groups: number): tf.Tensor4D {
  const [B, H, W, cin] = x.shape
  let h = conv(params, p + 'conv1', silu(groupNorm(x, groups, { gamma: param1d(params, p + 'norm1.g'), beta: param1d(params, p + 'norm1.b'), eps: GROUP_NORM_EPS })) as tf.Tensor4D)
  h = film(params, p + 'film', groupNorm(h, groups, { eps: GROUP_NORM_EPS }), cond)
  h = conv(params, p + 'conv2', silu(h) as tf.Tensor4D)
  const skip = cin === cout ? x : tf.reshape(linear(params, p + 'skip', tf.reshape(x, [B * H * W, cin])), [B, H, W, cout])
  return tf.add(skip, h)
}

/** Self-attention over the pixels, then cross-attention to the caption's (layer-normed) word embeddings. */
function attentionBlock(params: DitParams, p: string, x: tf.Tensor4D, words: tf.Tensor2D, heads: number): tf.Tensor4D {
  const [B, H, W, C] = x.shape
  let rows: tf.Tensor = tf.reshape(x, [B * H * W, C])
  const proj = (name: string, input: tf.Tensor) => linear(params, p + name, input) as tf.Tensor2D
  const n1 = layerNorm(rows)
  rows = tf.add(rows, proj('attn.o', attention(proj('attn.q', n1), proj('attn.k', n1), proj('attn.v', n1), { batch: B, heads })))
  const n2 = layerNorm(rows)
  rows = tf.add(rows, proj('xattn.o', attention(proj('xattn.q', n2), proj('xattn.k', words), proj('xattn.v', words), { batch: B, heads })))
  return tf.reshape(rows, [B, H, W, C])
}

/** Nearest-neighbour x2 from concat + reshape: each pixel repeated along W, then each row along H. */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [B, H, W, C] = x.shape
  const wide = tf.reshape(tf.concat([x, x], 3), [B, H, 1, 2 * W * C])
  return tf.reshape(tf.concat([wide, wide], 2), [B, 2 * H, 2 * W, C])
}

/**
 * Predicts eps for x_t, as ditEps (which calls this for arch 'unet'), including the v -> eps conversion.
 * xt: [B, H, W, C]; t: [B] timesteps; tokens: [B, L] int32.
 */
export function unetEps(params: DitParams, c: DitConfig, xt: tf.Tensor4D, t: tf.Tensor1D, tokens: tf.Tensor2D): tf.Tensor4D {
  const [B, H, W, C] = xt.shape
  if (H !== c.imageSize || W !== c.imageSize || C !== c.channels) {
    throw new Error(`U-Net: input is ${H}x${W}x${C}, config expects ${c.imageSize}x${c.imageSize}x${c.channels}`)
  }
  if (t.shape[0] !== B || tokens.shape[0] !== B) throw new Error(`U-Net: batch sizes differ (x ${B}, t ${t.shape[0]}, tokens ${tokens.shape[0]})`)
  const { channels, attention: att, groups } = unetLayout(c)
  const levels = channels.length

  const timeEmb = denseNamed(params, 'time', 2, silu(denseNamed(params, 'time', 1, timestepEmbedding(t, 4 * c.width))))
  const words = textTokenEmbeddings(params, c, tokens) // [B, L, textWidth]
  const cond = silu(tf.add(timeEmb, encodeText(params, c, tokens, words))) as tf.Tensor2D
  // The cross-attention keys and values: every caption token (pads too, so the all-pad prompt stays a
  // fixed CFG null condition), layer-normed so their scale does not depend on the embedding init.
  const wordRows = layerNorm(tf.reshape(words, [B * c.textLength, c.textWidth])) as tf.Tensor2D

  let h = conv(params, 'in', xt)
  const skips: tf.Tensor4D[] = []
  for (let l = 0; l < levels; l++) {
    for (let i = 0; i < c.depth; i++) {
      h = resBlock(params, `down.${l}.${i}.`, h, channels[l]!, cond, groups)
      if (att[l]) h = attentionBlock(params, `down.${l}.${i}.`, h, wordRows, c.heads)
      skips.push(h)
    }
    if (l < levels - 1) h = conv(params, `down.${l}.down`, h, 2)
  }
  h = resBlock(params, 'mid.0.', h, channels[levels - 1]!, cond, groups)
  h = attentionBlock(params, 'mid.', h, wordRows, c.heads)
  h = resBlock(params, 'mid.1.', h, channels[levels - 1]!, cond, groups)
  for (let l = levels - 1; l >= 0; l--) {
    for (let i = 0; i < c.depth; i++) {
      h = resBlock(params, `up.${l}.${i}.`, tf.concat([h, skips.pop()!], 3), channels[l]!, cond, groups)
      if (att[l]) h = attentionBlock(params, `up.${l}.${i}.`, h, wordRows, c.heads)
    }
    if (l > 0) h = upsampleNearest2x(h)
  }
  const out = conv(params, 'out', silu(film(params, 'out.film', h, cond)) as tf.Tensor4D)
  return outputToEps(c, out, xt, t)
}
