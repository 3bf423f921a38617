// ONNX export of the DiT (src-main/ml/diffusion/dit.ts), op for op, with a dynamic batch.
// Two graphs come from one description:
//   'eps'       : (xt [B,H,W,C], t [B] float32, tokens [B,L] int32) -> eps [B,H,W,C]   (the reference sampler)
//   'generator' : (z [B,H,W,C], tokens [B,L] int32) -> x0 [B,H,W,C], x0 = (z - sigma_tinit eps(z, t_init)) / alpha_tinit
// Any change to ditEps must be mirrored here; tests/unit/onnx-export-dit.test.ts checks that
// TensorFlow.js and onnxruntime agree within 1e-4 on random inputs.
import type { DitConfig } from '../diffusion/dit.ts'
import { ditParamShapes, tokenCount } from '../diffusion/dit.ts'
import { VpSchedule } from '../diffusion/schedule.ts'
import { OnnxGraphBuilder, type OnnxValue } from './graph-builder.ts'

/** The ONNX signature the studio's inference pipeline expects; also the contract for imported generators. */
export const ONNX_SIGNATURES = {
  eps: { inputs: ['xt', 't', 'tokens'], outputs: ['eps'] },
  generator: { inputs: ['z', 'tokens'], outputs: ['x0'] },
} as const

export type DitExportKind = { kind: 'eps' } | { kind: 'generator'; tInit: number; alpha: number; sigma: number }

const LAYER_NORM_EPS = 1e-6 // ops.layerNorm's default, which ditEps uses

export function exportDitToOnnx(config: DitConfig, values: Record<string, Float32Array>, what: DitExportKind, docString = ''): Uint8Array {
  const shapes = ditParamShapes(config)
  for (const [name, shape] of Object.entries(shapes)) {
    const v = values[name]
    const size = shape.reduce((a, b) => a * b, 1)
    if (!v || v.length !== size) throw new Error(`ONNX export: parameter '${name}' is missing or not of shape [${shape}]`)
  }
  const { imageSize: S, channels: C, patch: p, width: D, heads, textLength: L } = config
  const T = tokenCount(config)
  const g = new OnnxGraphBuilder(what.kind === 'eps' ? 'dit_eps' : 'dit_generator')
  const w = (name: string) => g.weight(name, shapes[name]!, values[name]!)
  const shape = (dims: number[]) => g.int64s(dims, 'shape')
  const reshape = (x: OnnxValue, dims: number[]) => g.op1('Reshape', [x, shape(dims)])
  const linear = (prefix: string, x: OnnxValue) => g.op1('Add', [g.op1('MatMul', [x, w(prefix + '.w')]), w(prefix + '.b')])
  const linearNamed = (prefix: string, i: number, x: OnnxValue) =>
    g.op1('Add', [g.op1('MatMul', [x, w(`${prefix}.w${i}`)]), w(`${prefix}.b${i}`)])
  const ones = g.weight('const.ln_scale', [D], new Float32Array(D).fill(1))
  const layerNorm = (x: OnnxValue) => g.op1('LayerNormalization', [x, ones], { axis: -1, epsilon: { float: LAYER_NORM_EPS } })
  const one = g.scalar(1, 'one')
  const modulate = (x: OnnxValue, shift: OnnxValue, scale: OnnxValue) => g.op1('Add', [g.op1('Mul', [x, g.op1('Add', [scale, one])]), shift])

  const x = what.kind === 'eps' ? g.input('xt', 'float32', ['batch', S, S, C]) : g.input('z', 'float32', ['batch', S, S, C])
  const { tInput, cond, emb } = conditioningGraph(g, config, w, what) // cond [B, D], emb [B, L, tw]

  // patchify: [B,H,W,C] -> [B*T, p*p*C] -> tokens [B, T, D]
  const rows = reshape(x, [-1, p, S / p, p * C])
  const patches = reshape(g.op1('Transpose', [rows], { perm: [0, 2, 1, 3] }), [-1, p * p * C])
  let h = g.op1('Add', [reshape(linear('patch', patches), [-1, T, D]), w('pos')])
  // config.textTokens: the caption's word tokens join the sequence (as ditEps does), N = T + L rows
  const N = config.textTokens ? T + L : T
  if (config.textTokens) h = g.op1('Concat', [h, linear('tok', emb)], { axis: 1 })

  const headDim = D / heads
  const splitHeads = (v: OnnxValue) => g.op1('Transpose', [reshape(v, [-1, N, heads, headDim])], { perm: [0, 2, 1, 3] })
  const invSqrt = g.scalar(1 / Math.sqrt(headDim), 'inv_sqrt_dh')
  for (let i = 0; i < config.depth; i++) {
    const pre = `blocks.${i}.`
    const mods = g.op('Split', [reshape(linear(pre + 'ada', cond), [-1, 1, 6 * D])], { axis: 2 }, 6)
    const [shiftA, scaleA, gateA, shiftM, scaleM, gateM] = mods as [OnnxValue, OnnxValue, OnnxValue, OnnxValue, OnnxValue, OnnxValue]
    const normed = reshape(modulate(layerNorm(h), shiftA, scaleA), [-1, D])
    const q = g.op1('Mul', [splitHeads(linear(pre + 'q', normed)), invSqrt])
    const k = splitHeads(linear(pre + 'k', normed))
    const v = splitHeads(linear(pre + 'v', normed))
    const scores = g.op1('MatMul', [q, g.op1('Transpose', [k], { perm: [0, 1, 3, 2] })])
    const mixed = g.op1('MatMul', [g.op1('Softmax', [scores], { axis: -1 }), v])
    const merged = reshape(g.op1('Transpose', [mixed], { perm: [0, 2, 1, 3] }), [-1, D])
    h = g.op1('Add', [h, g.op1('Mul', [gateA, reshape(linear(pre + 'o', merged), [-1, N, D])])])
    const hidden = siluGraph(g, linearNamed(pre + 'mlp', 1, modulate(layerNorm(h), shiftM, scaleM)))
    h = g.op1('Add', [h, g.op1('Mul', [gateM, linearNamed(pre + 'mlp', 2, hidden)])])
  }
  if (config.textTokens) h = g.op1('Slice', [h, g.int64s([0], 'starts'), g.int64s([T], 'ends'), g.int64s([1], 'axes')])
  const [shiftF, scaleF] = g.op('Split', [reshape(linear('final.ada', cond), [-1, 1, 2 * D])], { axis: 2 }, 2) as [OnnxValue, OnnxValue]
  const out = linear('final', modulate(layerNorm(h), shiftF, scaleF)) // [B, T, p*p*C]
  const grid = reshape(out, [-1, S / p, p, p * C])
  const raw = reshape(g.op1('Transpose', [grid], { perm: [0, 2, 1, 3] }), [-1, S, S, C])
  const eps = (config.output ?? 'epsilon') === 'epsilon' ? raw : vToEps(g, config, raw, x, tInput, what)

  if (what.kind === 'eps') {
    g.output(eps, 'eps', 'float32', ['batch', S, S, C])
  } else {
    g.output(generatorOutput(g, x, eps, what), 'x0', 'float32', ['batch', S, S, C])
  }
  return g.encode(docString)
}

export const siluGraph = (g: OnnxGraphBuilder, x: OnnxValue) => g.op1('Mul', [x, g.op1('Sigmoid', [x])])

/**
 * The inputs 'tokens' (and 't' for the eps graph) and the conditioning both denoisers share
 * (conditioning.ts): c = silu(timeMLP(sinusoidal t) + textMLP(masked mean of word embeddings)), [B, width]
 * for the DiT, [B, 4 width] for the U-Net (timeDim: the sinusoid's width, 4 width for the U-Net); also the
 * word embeddings + positions, [B, L, textWidth].
 * The generator's t is the constant t_init, so its time embedding is [1, .] and broadcasts.
 */
export function conditioningGraph(
  g: OnnxGraphBuilder, config: DitConfig, w: (name: string) => OnnxValue, what: DitExportKind, timeDim = config.width,
): { tInput: OnnxValue | null; cond: OnnxValue; emb: OnnxValue } {
  const linearNamed = (prefix: string, i: number, x: OnnxValue) =>
    g.op1('Add', [g.op1('MatMul', [x, w(`${prefix}.w${i}`)]), w(`${prefix}.b${i}`)])
  const silu = (x: OnnxValue) => siluGraph(g, x)
  const tokens = g.input('tokens', 'int32', ['batch', config.textLength])

  // timestep embedding: [B or 1, timeDim]
  const half = timeDim / 2
  const freqs = new Float32Array(half)
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / half)
  const tInput = what.kind === 'eps' ? g.input('t', 'float32', ['batch']) : null
  const tColumn = what.kind === 'eps' ? g.op1('Reshape', [tInput!, g.int64s([-1, 1], 'shape')]) : g.weight('const.t_init', [1, 1], new Float32Array([what.tInit]))
  const args = g.op1('Mul', [tColumn, g.weight('const.freqs', [1, half], freqs)])
  const tEmb = g.op1('Concat', [g.op1('Sin', [args]), g.op1('Cos', [args])], { axis: 1 })
  const timeEmb = linearNamed('time', 2, silu(linearNamed('time', 1, tEmb)))

  // text encoder: embeddings + positions, mean over non-pad tokens, MLP
  const emb = g.op1('Add', [g.op1('Gather', [w('text.embed'), tokens], { axis: 0 }), w('text.pos')]) // [B, L, tw]
  const notPad = g.op1('Not', [g.op1('Equal', [tokens, g.op1('Cast', [g.int64s([0], 'zero')], { to: 6 })])])
  const mask = g.op1('Unsqueeze', [g.op1('Cast', [notPad], { to: 1 }), g.int64s([2], 'axes')]) // [B, L, 1]
  const count = g.op1('Max', [g.op1('ReduceSum', [mask, g.int64s([1], 'axes')], { keepdims: 0 }), g.scalar(1, 'one')])
  const pooled = g.op1('Div', [g.op1('ReduceSum', [g.op1('Mul', [emb, mask]), g.int64s([1], 'axes')], { keepdims: 0 }), count])
  const textEmb = linearNamed('text', 2, silu(linearNamed('text', 1, pooled)))
  return { tInput, cond: silu(g.op1('Add', [timeEmb, textEmb])), emb }
}

/** x0 = (z - sigma_tinit eps) / alpha_tinit, the one-step generator's output. */
export function generatorOutput(g: OnnxGraphBuilder, z: OnnxValue, eps: OnnxValue, what: DitExportKind & { kind: 'generator' }): OnnxValue {
  if (!(what.alpha > 0)) throw new Error(`ONNX export: generator alpha_tinit must be > 0, got ${what.alpha}`)
  return g.op1('Div', [g.op1('Sub', [z, g.op1('Mul', [eps, g.scalar(what.sigma, 'sigma_tinit')])]), g.scalar(what.alpha, 'alpha_tinit')])
}

/**
 * A v-predicting DiT (config.output 'v') returns v; ditEps converts with eps = sigma_t x_t + alpha_t v,
 * looking alpha_t and sigma_t up in float32 tables by the integer timestep. The eps graph gathers them
 * by t; the generator's t_init is fixed, so there they are constants.
 */
export function vToEps(g: OnnxGraphBuilder, config: DitConfig, v: OnnxValue, x: OnnxValue, t: OnnxValue | null, what: DitExportKind): OnnxValue {
  if (!config.schedule) throw new Error("ONNX export: a v-output DiT needs config.schedule to convert v to eps")
  const schedule = new VpSchedule(config.schedule)
  const alphas = Float32Array.from(schedule.alphas)
  const sigmas = Float32Array.from(schedule.sigmas)
  let alpha: OnnxValue
  let sigma: OnnxValue
  if (t) {
    const index = g.op1('Cast', [t], { to: 7 }) // float -> int64 truncates, as tf.cast(t, 'int32') does
    const column = (table: Float32Array, name: string) =>
      g.op1('Reshape', [g.op1('Gather', [g.weight(name, [schedule.T], table), index], { axis: 0 }), g.int64s([-1, 1, 1, 1], 'shape')])
    alpha = column(alphas, 'const.v_alphas')
    sigma = column(sigmas, 'const.v_sigmas')
  } else {
    if (what.kind !== 'generator') throw new Error('ONNX export: internal error, the eps graph has a t input')
    if (!Number.isInteger(what.tInit) || what.tInit < 0 || what.tInit >= schedule.T) throw new Error(`ONNX export: t_init must be an integer in [0, ${schedule.T - 1}], got ${what.tInit}`)
    alpha = g.scalar(alphas[what.tInit]!, 'v_alpha_tinit')
    sigma = g.scalar(sigmas[what.tInit]!, 'v_sigma_tinit')
  }
  return g.op1('Add', [g.op1('Mul', [sigma, x]), g.op1('Mul', [alpha, v])])
}
