// A small DiT (Peebles & Xie 2023) for 32x32 images, written as a pure function of a params record
// so the same code serves the frozen reference, the trainable fake score and the generator.
//
// Shapes are chosen for the wasm backend (docs/measurements/tfjs-wasm-dit.md): every dense layer is
// a flag-free 2-D matMul on [B*T, D] rows with an explicit-transpose gradient, q/k/v are separate
// (a fused qkv needs a rank-5 transpose, which is very slow), patchify uses only rank-4 transposes.
//
// Conditioning: c = MLP(sinusoidal t) + MLP(masked mean of text token embeddings), fed to every
// block by adaLN-zero (shift, scale and gate per block, zero-initialised so blocks start as identity).
// The text encoder is trained jointly; the all-pad (empty) prompt gives the CFG null condition.
//
// The same entry points (validateDitConfig, ditParamShapes, initDitValues, ditEps, countParams) also
// serve the convolutional U-Net of unet.ts when the config says arch 'unet', so every caller (pretraining,
// DI*, distillation, the data-parallel modules, checkpoints) handles both without knowing which it has.
import * as tf from '@tensorflow/tfjs-core'
import { attention as multiHeadAttention, layerNorm, silu } from '../backend/ops.ts'
import { Rng } from '../util/rng.ts'
import { VpSchedule, type ScheduleConfig } from './schedule.ts'
import { denseNamed, encodeText, linear, outputToEps, param2d as p2, textTokenEmbeddings, timestepEmbedding } from './conditioning.ts'
import { initUnetValues, unetEps, unetParamShapes, validateUnetConfig } from './unet.ts'

export { encodeText, timestepEmbedding } from './conditioning.ts'

export interface DitConfig {
  /**
   * The denoiser's architecture (absent = 'dit'). 'unet' is the convolutional U-Net of unet.ts, which
   * reads width as its base channels, depth as residual blocks per resolution level and heads as its
   * attention heads; patch must be 1 and mlpRatio is ignored (see unet.ts).
   */
  arch?: 'dit' | 'unet'
  imageSize: number
  channels: number
  patch: number
  width: number
  depth: number
  heads: number
  mlpRatio: number
  /** tokenizer vocabulary size (id 0 is the pad) */
  vocabSize: number
  /** tokens per prompt (the tokenizer's maxLength) */
  textLength: number
  /** width of the text token embeddings */
  textWidth: number
  /**
   * What the last layer predicts (absent = 'epsilon'). With 'v' (v = alpha eps - sigma x0, Salimans &
   * Ho 2022) ditEps still returns eps, as eps = sigma_t x_t + alpha_t v: at high noise the network
   * then outputs ~ -x0 instead of having to copy x_t through precisely, which on this patch
   * transformer left blocky colour errors in early eps-trained samples.
   */
  output?: 'epsilon' | 'v'
  /** the VP schedule of the v -> eps conversion (required when output is 'v') */
  schedule?: ScheduleConfig
  /**
   * The caption's word tokens also join every block's attention and MLP, next to the image patches
   * (through their own linear map 'tok'), and are dropped before the output layer. Absent = off: the
   * caption then reaches the blocks only through adaLN. With the text init, this raised the
   * high-noise caption gap by half at 2,000 steps, for 40-60% more time per step
   * (docs/experiments/noise-levels.md section 4).
   */
  textTokens?: boolean
  /** U-Net only: channels of each resolution level as multiples of width (default [1, 2, 2]) */
  channelMults?: number[]
  /** U-Net only: the levels (0 = full resolution) with self- and cross-attention (default: the lowest resolution) */
  attentionLevels?: number[]
  /** U-Net only: GroupNorm groups (default 8); must divide every level's channels */
  normGroups?: number
}

export type DitParams = Record<string, tf.Variable>

export function validateDitConfig(c: DitConfig): DitConfig {
  const ints: (keyof DitConfig)[] = ['imageSize', 'channels', 'patch', 'width', 'depth', 'heads', 'mlpRatio', 'vocabSize', 'textLength', 'textWidth']
  for (const k of ints) {
    const v = c[k]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`DitConfig.${k} must be a positive integer, got ${String(v)}`)
  }
  if (c.arch !== undefined && c.arch !== 'dit' && c.arch !== 'unet') throw new Error(`DitConfig.arch must be 'dit' or 'unet', got '${String(c.arch)}'`)
  if (c.width % 2 !== 0) throw new Error(`DitConfig: width must be even (sinusoidal time embedding), got ${c.width}`)
  const output = c.output ?? 'epsilon'
  if (output !== 'epsilon' && output !== 'v') throw new Error(`DitConfig.output must be 'epsilon' or 'v', got '${String(c.output)}'`)
  if (output === 'v') {
    if (!c.schedule) throw new Error("DitConfig: output 'v' needs the schedule it converts with")
    new VpSchedule(c.schedule) // validates
  }
  if (c.arch === 'unet') {
    validateUnetConfig(c)
    return c
  }
  for (const k of ['channelMults', 'attentionLevels', 'normGroups'] as const) {
    if (c[k] !== undefined) throw new Error(`DitConfig.${k} is a U-Net setting; set arch 'unet' to use it`)
  }
  if (c.imageSize % c.patch !== 0) throw new Error(`DitConfig: imageSize ${c.imageSize} is not divisible by patch ${c.patch}`)
  if (c.width % c.heads !== 0) throw new Error(`DitConfig: width ${c.width} is not divisible by heads ${c.heads}`)
  if (c.textTokens !== undefined && typeof c.textTokens !== 'boolean') throw new Error(`DitConfig.textTokens must be true or false, got ${String(c.textTokens)}`)
  return c
}

/** Image tokens of the DiT (patches); not defined for the U-Net. */
export function tokenCount(c: DitConfig): number {
  if (c.arch === 'unet') throw new Error('tokenCount: the U-Net has no patch tokens')
  return (c.imageSize / c.patch) ** 2
}

/** Every parameter's shape, by name. Also what checkpoint loading checks files against. */
export function ditParamShapes(c: DitConfig): Record<string, number[]> {
  validateDitConfig(c)
  if (c.arch === 'unet') return unetParamShapes(c)
  const D = c.width
  const patchDim = c.patch * c.patch * c.channels
  const hidden = D * c.mlpRatio
  const s: Record<string, number[]> = {
    'patch.w': [patchDim, D], 'patch.b': [D], 'pos': [tokenCount(c), D],
    'time.w1': [D, D], 'time.b1': [D], 'time.w2': [D, D], 'time.b2': [D],
    'text.embed': [c.vocabSize, c.textWidth], 'text.pos': [c.textLength, c.textWidth],
    'text.w1': [c.textWidth, D], 'text.b1': [D], 'text.w2': [D, D], 'text.b2': [D],
  }
  for (let i = 0; i < c.depth; i++) {
    const p = `blocks.${i}.`
    Object.assign(s, {
      [p + 'ada.w']: [D, 6 * D], [p + 'ada.b']: [6 * D],
      [p + 'q.w']: [D, D], [p + 'q.b']: [D], [p + 'k.w']: [D, D], [p + 'k.b']: [D],
      [p + 'v.w']: [D, D], [p + 'v.b']: [D], [p + 'o.w']: [D, D], [p + 'o.b']: [D],
      [p + 'mlp.w1']: [D, hidden], [p + 'mlp.b1']: [hidden], [p + 'mlp.w2']: [hidden, D], [p + 'mlp.b2']: [D],
    })
  }
  Object.assign(s, { 'final.ada.w': [D, 2 * D], 'final.ada.b': [2 * D], 'final.w': [D, patchDim], 'final.b': [patchDim] })
  // last, so the seeded init of every other parameter is the same with and without it
  if (c.textTokens) Object.assign(s, { 'tok.w': [c.textWidth, D], 'tok.b': [D] })
  return s
}

export function countParams(c: DitConfig): number {
  return Object.values(ditParamShapes(c)).reduce((n, shape) => n + shape.reduce((a, b) => a * b, 1), 0)
}

/**
 * Initial values, seeded: Xavier-normal weights, small text embeddings, zeros for biases and the
 * adaLN-zero layers, and 2-D sin-cos patch positions (as in DiT). A near-zero learned position
 * start left early samples blocky, each patch coloured on its own: without position the attention
 * cannot tell neighbours apart, and learning positions from scratch is slow at this budget.
 */
export function initDitValues(c: DitConfig, seed: number): Record<string, Float32Array> {
  if (c.arch === 'unet') return initUnetValues(c, seed)
  const rng = new Rng(seed)
  const out: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(c))) {
    const size = shape.reduce((a, b) => a * b, 1)
    const isZeroInit = shape.length === 1 || name.endsWith('ada.w') || name === 'final.w'
    if (isZeroInit) {
      out[name] = new Float32Array(size)
      continue
    }
    if (name === 'pos' && c.width % 4 === 0) {
      out[name] = sinCosPositions(c.imageSize / c.patch, c.width)
      continue
    }
    const std = name === 'pos' || name === 'text.embed' || name === 'text.pos' ? 0.02 : Math.sqrt(2 / (shape[0]! + shape[1]!))
    const v = rng.normals(size)
    for (let i = 0; i < size; i++) v[i]! *= std
    out[name] = v
  }
  return out
}

/** [grid*grid, width]: the first half of each row encodes the patch row, the second half its column. */
export function sinCosPositions(grid: number, width: number): Float32Array {
  const quarter = width / 4
  const out = new Float32Array(grid * grid * width)
  for (let r = 0; r < grid; r++) {
    for (let col = 0; col < grid; col++) {
      const row = out.subarray((r * grid + col) * width, (r * grid + col + 1) * width)
      for (let i = 0; i < quarter; i++) {
        const omega = 1 / 10000 ** (i / quarter)
        row[i] = Math.sin(r * omega)
        row[quarter + i] = Math.cos(r * omega)
        row[2 * quarter + i] = Math.sin(col * omega)
        row[3 * quarter + i] = Math.cos(col * omega)
      }
    }
  }
  return out
}

let variableSerial = 0

/** Wraps plain values as tf.Variables (globally unique names, so several models can coexist). */
export function paramsFromValues(c: DitConfig, values: Record<string, Float32Array>, trainable: boolean): DitParams {
  const shapes = ditParamShapes(c)
  const prefix = `dit${variableSerial++}`
  const params: DitParams = {}
  for (const [name, shape] of Object.entries(shapes)) {
    const v = values[name]
    if (!v) throw new Error(`DiT params: missing '${name}'`)
    if (v.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`DiT params: '${name}' has ${v.length} values, expected shape [${shape}]`)
    // inside tidy, so the initial tensor is released and only the variable holds the data
    params[name] = tf.tidy(() => tf.variable(tf.tensor(v, shape, 'float32'), trainable, `${prefix}/${name}`))
  }
  return params
}

export function initDitParams(c: DitConfig, seed: number, trainable = true): DitParams {
  return paramsFromValues(c, initDitValues(c, seed), trainable)
}

export function disposeParams(params: DitParams): void {
  for (const v of Object.values(params)) v.dispose()
}

// ---------- network ----------

function modulate(x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor): tf.Tensor {
  return tf.add(tf.mul(x, tf.add(scale, 1)), shift)
}

/** [B, H, W, C] -> [B*T, p*p*C] with rank-4 transposes only. */
export function patchify(x: tf.Tensor4D, p: number): tf.Tensor2D {
  const [B, H, W, C] = x.shape
  const rows = tf.reshape(x, [B * (H / p), p, W / p, p * C])
  return tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [-1, p * p * C]) as tf.Tensor2D
}

/** Inverse of patchify: [B*T, p*p*C] -> [B, H, W, C]. */
export function unpatchify(tokens: tf.Tensor, B: number, H: number, W: number, C: number, p: number): tf.Tensor4D {
  const grid = tf.reshape(tokens, [B * (H / p), W / p, p, p * C])
  return tf.reshape(tf.transpose(grid, [0, 2, 1, 3]), [B, H, W, C]) as tf.Tensor4D
}

function attention(params: DitParams, prefix: string, x: tf.Tensor, B: number, T: number, heads: number): tf.Tensor {
  const D = x.shape[x.shape.length - 1]!
  const rows = tf.reshape(x, [B * T, D])
  const project = (name: string) => linear(params, prefix + name, rows) as tf.Tensor2D
  const mixed = multiHeadAttention(project('q'), project('k'), project('v'), { batch: B, heads })
  return tf.reshape(linear(params, prefix + 'o', mixed), [B, T, D])
}

/**
 * Predicts the noise eps in x_t = alpha_t x0 + sigma_t eps.
 * xt: [B, H, W, C] float; t: [B] timesteps (integer values 0..T-1, any dtype); tokens: [B, L] int32.
 */
export function ditEps(params: DitParams, c: DitConfig, xt: tf.Tensor4D, t: tf.Tensor1D, tokens: tf.Tensor2D): tf.Tensor4D {
  if (c.arch === 'unet') return unetEps(params, c, xt, t, tokens)
  const [B, H, W, C] = xt.shape
  if (H !== c.imageSize || W !== c.imageSize || C !== c.channels) {
    throw new Error(`DiT: input is ${H}x${W}x${C}, config expects ${c.imageSize}x${c.imageSize}x${c.channels}`)
  }
  if (t.shape[0] !== B || tokens.shape[0] !== B) throw new Error(`DiT: batch sizes differ (x ${B}, t ${t.shape[0]}, tokens ${tokens.shape[0]})`)
  const T = tokenCount(c)
  const D = c.width

  let h: tf.Tensor = tf.add(tf.reshape(linear(params, 'patch', patchify(xt, c.patch)), [B, T, D]), p2(params, 'pos'))

  const timeEmb = denseNamed(params, 'time', 2, silu(denseNamed(params, 'time', 1, timestepEmbedding(t, D))))
  const words = textTokenEmbeddings(params, c, tokens)
  const cond = silu(tf.add(timeEmb, encodeText(params, c, tokens, words)))
  // Caption tokens in the sequence (pads included: they are learned tokens, and the all-pad prompt
  // stays the CFG null condition), so every patch can attend to the words themselves.
  const L = c.textTokens ? c.textLength : 0
  if (c.textTokens) {
    const wordRows = tf.reshape(words, [B * L, c.textWidth])
    h = tf.concat([h, tf.reshape(linear(params, 'tok', wordRows), [B, L, D])], 1)
  }

  for (let i = 0; i < c.depth; i++) {
    const p = `blocks.${i}.`
    const mods = tf.split(tf.reshape(linear(params, p + 'ada', cond), [B, 1, 6 * D]), 6, 2)
    const [shiftA, scaleA, gateA, shiftM, scaleM, gateM] = mods as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]
    h = tf.add(h, tf.mul(gateA, attention(params, p, modulate(layerNorm(h), shiftA, scaleA), B, T + L, c.heads)))
    const hidden = silu(denseNamed(params, p + 'mlp', 1, modulate(layerNorm(h), shiftM, scaleM)))
    h = tf.add(h, tf.mul(gateM, denseNamed(params, p + 'mlp', 2, hidden)))
  }
  if (c.textTokens) h = tf.slice(h, [0, 0, 0], [B, T, D])

  const [shiftF, scaleF] = tf.split(tf.reshape(linear(params, 'final.ada', cond), [B, 1, 2 * D]), 2, 2) as [tf.Tensor, tf.Tensor]
  const out = unpatchify(linear(params, 'final', modulate(layerNorm(h), shiftF, scaleF)), B, H, W, C, c.patch)
  return outputToEps(c, out, xt, t)
}
