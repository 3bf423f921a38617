// Building blocks with gradients that are fast on tfjs-backend-wasm, for the DiT, the U-Net, the reward
// models and DI*: matMul2d, dense, embedding, attention, layerNorm, groupNorm, silu, gelu, conv2d. They are correct on
// every backend. The speed facts behind them (docs/measurements/ and `npm run bench -- --only backend`):
//  - a 2-D matMul without transpose flags runs in XNNPACK (14-28 GFLOP/s per core here); any transpose
//    flag or a batch dimension falls back to a scalar loop (~1 GFLOP/s). tfjs's stock matMul gradient
//    uses flags, so a dense stack's backward pass ran 3-12x slower than it needs to;
//  - a rank-5 transpose is very slow (66 ms vs 0.2 ms for rank 4): keep q/k/v separate;
//  - conv gradients are fastest as forward convs (wasm-kernels.ts, conv2d below);
//  - kernel-level fixes every op benefits from (2-D transposes, bias-gradient sums, the matMul cache
//    bug) live in wasm-kernels.ts and are installed by initTf.
// Each gradient here is checked against finite differences and stock autodiff in
// tests/unit/backend-ops.test.ts.
import * as tf from '@tensorflow/tfjs-core'

// tf.customGrad's typing takes a variadic of Tensor | save-function; these aliases keep call sites readable.
type Saver = tf.GradSaveFunc
type Grad<T extends tf.Tensor> = { value: T; gradFunc: (dy: T, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] }

/** tf.customGrad for a fixed-arity op `f(...tensors, save)`, typed as the op it returns. */
function withCustomGrad<F>(
  f: (...args: never[]) => { value: tf.Tensor; gradFunc: (dy: never, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] },
): F {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as F
}

function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`)
}

// ---------------------------------------------------------------------------------------------
// Matrix products

/**
 * `a @ b` for 2-D a [m,k] and b [k,n]: the one form wasm runs in XNNPACK. Its gradient (registered by
 * initTf, gradients.ts) is made of flag-free 2-D matMuls on explicit transposes, 3-12x faster than
 * tfjs's stock one on wasm, and lazy per input: frozen weights cost no weight gradient.
 */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.rank !== 2 || b.rank !== 2) fail('matMul2d', `needs 2-D operands, got shapes [${a.shape}] and [${b.shape}]`)
  if (a.shape[1] !== b.shape[0]) fail('matMul2d', `inner dimensions differ: [${a.shape}] @ [${b.shape}]`)
  return tf.matMul(a, b)
}

/**
 * Dense layer `x @ w + b` for x of any rank >= 1 whose last dimension is w's input size. The leading
 * dimensions are flattened into one 2-D matMul (no batched matMul), then restored.
 */
export function dense(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor {
  if (w.rank !== 2) fail('dense', `weights must be 2-D [in, out], got [${w.shape}]`)
  const [inSize, outSize] = w.shape
  if (x.rank < 1 || x.shape[x.rank - 1] !== inSize) {
    fail('dense', `input's last dimension must be ${inSize}, got shape [${x.shape}]`)
  }
  if (b && (b.rank !== 1 || b.shape[0] !== outSize)) fail('dense', `bias must be [${outSize}], got [${b.shape}]`)
  return tf.tidy(() => {
    const flat = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, inSize]) as tf.Tensor2D
    let y: tf.Tensor = matMul2d(flat, w)
    if (b) y = tf.add(y, b)
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outSize])
  })
}

// ---------------------------------------------------------------------------------------------
// Embedding lookup

/**
 * Rows of `table` [vocab, dim] picked by integer `ids` (any shape) -> [...ids.shape, dim].
 * tfjs's gather gradient needs UnsortedSegmentSum, which wasm lacks; the one-hot @ table workaround
 * costs a [n, vocab] x [vocab, dim] matMul each way. Here the forward is a gather and the gradient
 * a scatter-add of dy's rows done in JS (n x dim additions). Out-of-range ids are refused.
 */
export function embedding(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  if (table.rank !== 2) fail('embedding', `table must be 2-D [vocab, dim], got [${table.shape}]`)
  if (ids.dtype !== 'int32') fail('embedding', `ids must be int32, got ${ids.dtype}`)
  const [vocab, dim] = table.shape
  const idValues = ids.dataSync() as Int32Array
  for (const id of idValues) {
    if (id < 0 || id >= vocab) fail('embedding', `id ${id} is outside the table's ${vocab} rows`)
  }
  const flatIds = tf.tensor1d(idValues, 'int32')
  const lookup = withCustomGrad<(t: tf.Tensor2D) => tf.Tensor2D>((t: tf.Tensor2D): Grad<tf.Tensor2D> => ({
    value: tf.gather(t, flatIds),
    gradFunc: (dy) => {
      const rows = dy.dataSync()
      const grad = new Float32Array(vocab * dim)
      idValues.forEach((id, r) => {
        for (let j = 0; j < dim; j++) grad[id * dim + j] += rows[r * dim + j]
      })
      return tf.tensor2d(grad, [vocab, dim])
    },
  }))
  try {
    return tf.reshape(lookup(table), [...ids.shape, dim])
  } finally {
    flatIds.dispose()
  }
}

// ---------------------------------------------------------------------------------------------
// Attention

export interface AttentionShape {
  /** number of sequences; the token tensors are [batch * tokens, heads * headDim] */
  batch: number
  heads: number
}

/**
 * Multi-head scaled dot-product attention on token-major tensors q [B*Tq, D] and k, v [B*Tk, D]
 * (D = heads * headDim), the layout a DiT keeps so every projection is a 2-D matMul. Returns [B*Tq, D].
 * Tk may differ from Tq (cross-attention, e.g. image tokens attending to caption tokens).
 * Heads are split with rank-4 transposes only (rank 5 is very slow on wasm). The products are batched
 * matMuls over B*H, which wasm runs on a scalar loop (~1 GFLOP/s); the alternatives measured no faster
 * at B16, T64, D128, 4 heads (fwd+bwd, loaded machine): batched 71 ms, per-(b,h) 2-D matMuls 108 ms,
 * one block-diagonal 2-D matMul per sequence 289 ms, depthwise conv for q k^T about equal to batched.
 * Small 2-D matMuls pay XNNPACK's per-call operator setup, which eats their speed at this size.
 */
export function attention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, shape: AttentionShape): tf.Tensor2D {
  const { batch, heads } = shape
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.rank !== 2) fail('attention', `${name} must be 2-D [batch*tokens, dim], got [${t.shape}]`)
  }
  if (!v.shape.every((d, i) => d === k.shape[i]) || k.shape[1] !== q.shape[1]) {
    fail('attention', `q, k, v shapes differ: [${q.shape}] [${k.shape}] [${v.shape}]`)
  }
  const [rows, dim] = q.shape
  if (!Number.isInteger(batch) || batch < 1 || rows % batch !== 0 || k.shape[0] % batch !== 0) {
    fail('attention', `${rows} query rows and ${k.shape[0]} key rows do not split into batch ${batch}`)
  }
  if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) fail('attention', `dim ${dim} not divisible by ${heads} heads`)
  const tokens = rows / batch
  const keyTokens = k.shape[0] / batch
  const headDim = dim / heads
  return tf.tidy(() => {
    const split = (t: tf.Tensor2D, n: number) => tf.transpose(tf.reshape(t, [batch, n, heads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D
    const qh = tf.mul(split(q, tokens), 1 / Math.sqrt(headDim))
    const scores = tf.matMul(qh, split(k, keyTokens), false, true) // [B, H, Tq, Tk]
    const probs = tf.softmax(scores)
    const out = tf.matMul(probs, split(v, keyTokens)) // [B, H, Tq, dh]
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [rows, dim]) as tf.Tensor2D
  })
}

// ---------------------------------------------------------------------------------------------
// Normalisation and activations (closed-form gradients: a handful of ops instead of the long tape
// that autodiff of moments / sigmoid-products builds)

const layerNormWithGrad = (eps: number) =>
  withCustomGrad<(x: tf.Tensor) => tf.Tensor>((x: tf.Tensor, save: Saver): Grad<tf.Tensor> => {
    const axis = x.rank - 1
    const mean = tf.mean(x, axis, true)
    const centred = tf.sub(x, mean)
    const variance = tf.mean(tf.square(centred), axis, true)
    const invStd = tf.rsqrt(tf.add(variance, eps))
    const xHat = tf.mul(centred, invStd)
    save([xHat, invStd])
    return {
      value: xHat,
      // dx = invStd * (dy - mean(dy) - xHat * mean(dy * xHat)), all means over the normalised axis.
      gradFunc: (dy, [sxHat, sInvStd]) => {
        const meanDy = tf.mean(dy, axis, true)
        const meanDyXHat = tf.mean(tf.mul(dy, sxHat), axis, true)
        return tf.mul(sInvStd, tf.sub(tf.sub(dy, meanDy), tf.mul(sxHat, meanDyXHat)))
      },
    }
  })

const layerNormCache = new Map<number, (x: tf.Tensor) => tf.Tensor>()

/**
 * Layer normalisation over the last axis: `(x - mean) / sqrt(var + eps)`, then `* gamma + beta` if
 * given (omit both for adaLN, which modulates with its own scale and shift).
 */
export function layerNorm(x: tf.Tensor, opts: { gamma?: tf.Tensor1D; beta?: tf.Tensor1D; eps?: number } = {}): tf.Tensor {
  const eps = opts.eps ?? 1e-6
  if (!(eps > 0)) fail('layerNorm', `eps must be > 0, got ${eps}`)
  if (x.rank < 1) fail('layerNorm', 'needs a tensor of rank >= 1')
  const d = x.shape[x.rank - 1]
  for (const [name, p] of [['gamma', opts.gamma], ['beta', opts.beta]] as const) {
    if (p && (p.rank !== 1 || p.shape[0] !== d)) fail('layerNorm', `${name} must be [${d}], got [${p.shape}]`)
  }
  let normalise = layerNormCache.get(eps)
  if (!normalise) {
    normalise = layerNormWithGrad(eps)
    layerNormCache.set(eps, normalise)
  }
  return tf.tidy(() => {
    let y = normalise(x)
    if (opts.gamma) y = tf.mul(y, opts.gamma)
    if (opts.beta) y = tf.add(y, opts.beta)
    return y
  })
}

/**
 * Mean over each group of [B, HW, G, Cg]: innermost axis first (cheap), then the spatial axis of the
 * Cg-times smaller tensor, so no full-size transpose is needed on wasm. -> [B, 1, G, 1].
 */
const groupMean = (t: tf.Tensor) => tf.mean(tf.mean(t, 3, true), 1, true)

const groupNormWithGrad = (groups: number, eps: number) =>
  withCustomGrad<(x: tf.Tensor4D) => tf.Tensor4D>((x: tf.Tensor4D, save: Saver): Grad<tf.Tensor4D> => {
    const [B, H, W, C] = x.shape
    const grouped = tf.reshape(x, [B, H * W, groups, C / groups])
    const centred = tf.sub(grouped, groupMean(grouped))
    const invStd = tf.rsqrt(tf.add(groupMean(tf.square(centred)), eps))
    const xHat = tf.mul(centred, invStd)
    save([xHat, invStd])
    return {
      value: tf.reshape(xHat, x.shape) as tf.Tensor4D,
      // as layerNorm's, with the means over each group: invStd * (dy - mean(dy) - xHat * mean(dy * xHat))
      gradFunc: (dy, [sxHat, sInvStd]) => {
        const g = tf.reshape(dy, sxHat.shape)
        const dx = tf.mul(sInvStd, tf.sub(tf.sub(g, groupMean(g)), tf.mul(sxHat, groupMean(tf.mul(g, sxHat)))))
        return tf.reshape(dx, x.shape)
      },
    }
  })

const groupNormCache = new Map<string, (x: tf.Tensor4D) => tf.Tensor4D>()

/**
 * Group normalisation (Wu & He 2018) of NHWC x: the channels are split into `groups` contiguous
 * groups, each normalised over its channels and all pixels of one image; then `* gamma + beta` per
 * channel if given. Closed-form gradient, as layerNorm. eps defaults to 1e-5 (PyTorch's).
 */
export function groupNorm(x: tf.Tensor4D, groups: number, opts: { gamma?: tf.Tensor1D; beta?: tf.Tensor1D; eps?: number } = {}): tf.Tensor4D {
  const eps = opts.eps ?? 1e-5
  if (!(eps > 0)) fail('groupNorm', `eps must be > 0, got ${eps}`)
  if (x.rank !== 4) fail('groupNorm', `x must be NHWC rank 4, got [${x.shape}]`)
  const c = x.shape[3]
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) fail('groupNorm', `${c} channels do not split into ${groups} groups`)
  for (const [name, p] of [['gamma', opts.gamma], ['beta', opts.beta]] as const) {
    if (p && (p.rank !== 1 || p.shape[0] !== c)) fail('groupNorm', `${name} must be [${c}], got [${p.shape}]`)
  }
  const key = `${groups}:${eps}`
  let normalise = groupNormCache.get(key)
  if (!normalise) {
    normalise = groupNormWithGrad(groups, eps)
    groupNormCache.set(key, normalise)
  }
  return tf.tidy(() => {
    let y: tf.Tensor = normalise(x)
    if (opts.gamma) y = tf.mul(y, opts.gamma)
    if (opts.beta) y = tf.add(y, opts.beta)
    return y as tf.Tensor4D
  })
}

const siluWithGrad = withCustomGrad<(x: tf.Tensor) => tf.Tensor>((x: tf.Tensor, save: Saver): Grad<tf.Tensor> => {
  const s = tf.sigmoid(x)
  save([x, s])
  return {
    value: tf.mul(x, s),
    // d/dx x*s(x) = s * (1 + x * (1 - s))
    gradFunc: (dy, [sx, ss]) => tf.mul(dy, tf.mul(ss, tf.add(1, tf.mul(sx, tf.sub(1, ss))))),
  }
})

/** SiLU / swish, `x * sigmoid(x)`, with a closed-form gradient. */
export function silu(x: tf.Tensor): tf.Tensor {
  return siluWithGrad(x)
}

const GELU_C = Math.sqrt(2 / Math.PI)
const geluWithGrad = withCustomGrad<(x: tf.Tensor) => tf.Tensor>((x: tf.Tensor, save: Saver): Grad<tf.Tensor> => {
  // tanh approximation: 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
  const x2 = tf.square(x)
  const th = tf.tanh(tf.mul(GELU_C, tf.mul(x, tf.add(1, tf.mul(0.044715, x2)))))
  save([x, x2, th])
  return {
    value: tf.mul(tf.mul(0.5, x), tf.add(1, th)),
    // 0.5 (1 + th) + 0.5 x (1 - th^2) c (1 + 3 * 0.044715 x^2)
    gradFunc: (dy, [sx, sx2, sth]) => {
      const sech2 = tf.sub(1, tf.square(sth))
      const inner = tf.mul(GELU_C, tf.add(1, tf.mul(3 * 0.044715, sx2)))
      const d = tf.add(tf.mul(0.5, tf.add(1, sth)), tf.mul(tf.mul(0.5, sx), tf.mul(sech2, inner)))
      return tf.mul(dy, d)
    },
  }
})

/** GELU (tanh approximation, as in DiT), with a closed-form gradient. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return geluWithGrad(x)
}

// ---------------------------------------------------------------------------------------------
// Convolution

/**
 * 2-D convolution (NHWC, filter [kh, kw, cin, cout]); padding 'same', 'valid' or a number. This is
 * tf.conv2d with input checks: on wasm its gradients are fast through initTf's kernels
 * (wasm-kernels.ts): dx as a forward conv for stride 1 (33 ms vs 157 ms for wasm's own
 * Conv2DBackpropInput), dW as a forward conv (wasm lacks that kernel). tfjs's conv gradient is lazy
 * per input, so a frozen filter costs no dW.
 */
export function conv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number = 1,
  pad: 'same' | 'valid' | number = 'same',
): tf.Tensor4D {
  if (x.rank !== 4) fail('conv2d', `x must be NHWC rank 4, got [${x.shape}]`)
  if (w.rank !== 4) fail('conv2d', `filter must be [kh, kw, cin, cout], got [${w.shape}]`)
  if (x.shape[3] !== w.shape[2]) fail('conv2d', `input has ${x.shape[3]} channels, filter expects ${w.shape[2]}`)
  if (!Number.isInteger(stride) || stride < 1) fail('conv2d', `stride must be a positive integer, got ${stride}`)
  return tf.conv2d(x, w, stride, pad)
}
