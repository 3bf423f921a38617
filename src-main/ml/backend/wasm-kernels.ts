// Kernels that tfjs-backend-wasm 4.22 lacks, gets wrong or runs slowly, registered for 'wasm' only.
//
// - Conv2DBackpropFilter (dW of a convolution) is missing. Without it, conv training fails and even
//   input gradients through a linear-activation conv break (tfjs routes those through fused.conv2d,
//   whose gradient computes dW eagerly). We express dW as one forward conv2d, which XNNPACK runs fast
//   (33 ms vs 114-294 ms for im2col + matMul, docs/measurements/feasibility.md).
// - BatchMatMul / _FusedMatMul can return wrong numbers (XNNPACK operator cache keyed by buffer only).
// - Sum and Mean over leading axes, 2-D Transpose and Conv2DBackpropInput are slow; we
//   route them to faster forms.
// Replacements keep the stock kernel as the fallback for every case they do not handle.
import * as tf from '@tensorflow/tfjs-core'

/**
 * dW of `conv2d(x, w, strides, pad)` given the upstream gradient dy, computed with a forward conv:
 * the input channels become the conv batch and the image batch becomes the contraction, so
 *   dW[kh,kw,ci,co] = sum_{b,i,j} xPadded[b, i*s+kh, j*s+kw, ci] * dy[b,i,j,co]
 * is `conv2d(transpose(xPadded), transpose(dy))` with dilation = forward stride.
 * Pure tensor ops, so it works on any backend; only dilation 1 (as tfjs's own conv gradient).
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = filterShape
    const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode)
    const { top, bottom, left, right } = info.padInfo
    const sh = info.strideHeight
    const sw = info.strideWidth
    const [, outH, outW] = dy.shape
    // Pad so the dilated walk of dy's grid covers every filter tap, even with 'ceil' rounding.
    const paddedH = x.shape[1] + top + bottom
    const paddedW = x.shape[2] + left + right
    const extraH = Math.max(0, (outH - 1) * sh + kh - paddedH)
    const extraW = Math.max(0, (outW - 1) * sw + kw - paddedW)
    const xPadded = tf.pad(x, [
      [0, 0],
      [top, bottom + extraH],
      [left, right + extraW],
      [0, 0],
    ])
    const xChannelsAsBatch = tf.transpose(xPadded, [3, 1, 2, 0]) // [cin, Hp, Wp, B]
    const dyAsFilter = tf.transpose(dy, [1, 2, 0, 3]) // [outH, outW, B, cout]
    const full = tf.conv2d(xChannelsAsBatch, dyAsFilter, 1, 'valid', 'NHWC', [sh, sw]) // [cin, >=kh, >=kw, cout]
    const taps = tf.slice(full, [0, 0, 0, 0], [cin, kh, kw, cout])
    return tf.transpose(taps, [1, 2, 0, 3]) as tf.Tensor4D
  })
}

/**
 * Runs tfjs ops inside a kernel. A kernel receives raw TensorInfos owned by the engine; we wrap them
 * as tensors, so we must incRef them (disposing our wrappers would otherwise free the caller's data),
 * and incRef the result (our wrapper is disposed; the engine takes over the buffer).
 */
function runOpsInKernel(backend: tf.KernelBackend, inputs: tf.TensorInfo[], compute: (...xs: tf.Tensor[]) => tf.Tensor): tf.TensorInfo {
  const engine = tf.engine()
  const wrapped = inputs.map((info) => {
    backend.incRef(info.dataId)
    return engine.makeTensorFromTensorInfo(info, backend)
  })
  try {
    const result = compute(...wrapped)
    backend.incRef(result.dataId)
    const out: tf.TensorInfo = { dataId: result.dataId, shape: result.shape, dtype: result.dtype }
    result.dispose()
    return out
  } finally {
    tf.dispose(wrapped)
  }
}

function registerConv2DBackpropFilter(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo }
      const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs
      if (a.dataFormat === 'NCHW') {
        throw new Error('Conv2DBackpropFilter on wasm: only NHWC is supported (wasm conv2d is NHWC only)')
      }
      return runOpsInKernel(backend as tf.KernelBackend, [x, dy], (xt, dyt) =>
        conv2dFilterGrad(xt as tf.Tensor4D, dyt as tf.Tensor4D, a.filterShape, a.strides, a.pad, a.dimRoundingMode),
      )
    },
  })
}

/**
 * dx of a stride-1 `conv2d(x, w, 1, pad)`: a full correlation of dy with the spatially flipped,
 * in/out-swapped filter, cropped by the forward padding; one forward conv2d. Null when the padding is
 * wider than the kernel (then the caller keeps the stock path).
 */
export function conv2dInputGradStride1(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  xShape: [number, number, number, number],
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D | null {
  const [kh, kw] = w.shape
  const info = tf.backend_util.computeConv2DInfo(xShape, w.shape, 1, 1, pad, dimRoundingMode)
  const { top, bottom, left, right } = info.padInfo
  if (Math.max(top, bottom) > kh - 1 || Math.max(left, right) > kw - 1) return null
  return tf.tidy(() => {
    const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])
    const dyPadded = tf.pad(dy, [
      [0, 0],
      [kh - 1 - top, kh - 1 - bottom],
      [kw - 1 - left, kw - 1 - right],
      [0, 0],
    ])
    return tf.conv2d(dyPadded, flipped, 1, 'valid') as tf.Tensor4D
  })
}

/**
 * dx of a strided `conv2d(x, w, stride, pad)`: the strided conv is the stride-1 conv (same padding)
 * read at every stride-th position, so dx is the stride-1 dx of dy spread onto that full grid with
 * zeros in between (built from concat + reshape, rank 4 at most). Costs one stride-1 forward conv at
 * the input's resolution: 18 vs 35 ms for wasm's own kernel (B16, 32x32x32, 3x3, stride 2). Null when
 * the stride-1 path does not apply.
 */
export function conv2dInputGradStrided(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  xShape: [number, number, number, number],
  strides: [number, number],
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D | null {
  const [sh, sw] = strides
  const [kh, kw] = w.shape
  const info = tf.backend_util.computeConv2DInfo(xShape, w.shape, strides, 1, pad, dimRoundingMode)
  const { top, bottom, left, right } = info.padInfo
  // the stride-1 conv over the same padded input: its output grid, which dy samples every stride-th point of
  const fullH = xShape[1] + top + bottom - kh + 1
  const fullW = xShape[2] + left + right - kw + 1
  const [B, outH, outW, C] = dy.shape
  if (Math.max(top, bottom) > kh - 1 || Math.max(left, right) > kw - 1) return null
  if (fullH < 1 || fullW < 1 || (outH - 1) * sh >= fullH || (outW - 1) * sw >= fullW) return null
  const explicit: tf.backend_util.ExplicitPadding = [[0, 0], [top, bottom], [left, right], [0, 0]]
  return tf.tidy(() => {
    let spread: tf.Tensor4D = dy
    if (sw > 1) spread = tf.reshape(tf.concat([spread, tf.zeros([B, outH, outW, (sw - 1) * C])], 3), [B, outH, outW * sw, C])
    if (sh > 1) {
      const rows = tf.reshape(spread, [B, outH, 1, outW * sw * C])
      spread = tf.reshape(tf.concat([rows, tf.zeros([B, outH, sh - 1, outW * sw * C])], 2), [B, outH * sh, outW * sw, C])
    }
    const full = tf.slice(spread, [0, 0, 0, 0], [B, fullH, fullW, C])
    // never null: the padding was checked above
    return conv2dInputGradStride1(full, w, xShape, explicit)!
  })
}

/** The stock kernels we replaced, so benchmarks can compare against them. */
const replaced = new Map<string, tf.KernelConfig>()
const OURS = Symbol('di-studio wasm kernel')

type KernelArgs = Parameters<tf.KernelFunc>[0]

/**
 * Replaces a wasm kernel by `fastPath`, which returns a result for the cases it handles and null for
 * the rest (those run the stock kernel). Idempotent; keeps the stock setup (it binds wasm functions).
 */
function replaceWasmKernel(kernelName: string, fastPath: (args: KernelArgs, backend: WasmBackendView) => tf.TensorInfo | null): void {
  const original = tf.getKernel(kernelName, 'wasm')
  if (!original || (original as { [OURS]?: boolean })[OURS]) return
  const config: tf.KernelConfig & { [OURS]?: boolean } = {
    kernelName,
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: (args) => fastPath(args, args.backend as WasmBackendView) ?? original.kernelFunc(args),
  }
  config[OURS] = true
  replaced.set(kernelName, original)
  tf.unregisterKernel(kernelName, 'wasm')
  tf.registerKernel(config)
}

/** The part of tfjs-backend-wasm's BackendWasm we read: the shape each buffer was allocated with. */
type WasmBackendView = tf.KernelBackend & { dataIdMap?: { get(id: object): { shape: number[] } | undefined } }

/**
 * Runs `fn` with tfjs-backend-wasm's stock kernel for `kernelName` instead of ours (for benchmarks
 * that measure what a replacement buys). Synchronous `fn` only: the swap must not leak into other work.
 */
export function withStockWasmKernel<T>(kernelName: 'Sum' | 'Mean' | 'BatchMatMul' | 'Transpose' | 'Conv2DBackpropInput', fn: () => T): T {
  const stock = replaced.get(kernelName)
  if (!stock) return fn()
  const ours = tf.getKernel(kernelName, 'wasm')
  tf.unregisterKernel(kernelName, 'wasm')
  tf.registerKernel(stock)
  try {
    return fn()
  } finally {
    tf.unregisterKernel(kernelName, 'wasm')
    tf.registerKernel(ours)
  }
}

/**
 * True when a tensor views its buffer in a shape other than the buffer's own (a reshape shares its
 * input's buffer). See the matMul fix below for why that matters.
 */
function isReshapedView(backend: WasmBackendView, t: tf.TensorInfo): boolean {
  const buffer = backend.dataIdMap?.get(t.dataId)
  return buffer !== undefined && !tf.util.arraysEqual(buffer.shape, t.shape)
}

/** A real copy: a new buffer allocated in the tensor's own shape. */
const copyOf = (t: tf.Tensor) => tf.add(t, tf.zeros([], t.dtype))

/**
 * tfjs-backend-wasm 4.22 caches the XNNPACK matMul operator by the id of the `b` operand's buffer,
 * ignoring its shape. After `matMul(p, x.reshape([4, 8]))`, a later `matMul(q, x.reshape([2, 16]))`
 * reuses the [4, 8] operator and returns wrong numbers or aborts with "memory access out of bounds"
 * (reproduced in tests/unit/backend-ops.test.ts). Backprop does this naturally (one dy, several
 * reshapes). When `b` is a reshaped view we hand the matMul a copy, so every cached operator for a
 * buffer has that buffer's own shape.
 */
function registerShapeSafeMatMuls(): void {
  replaceWasmKernel('BatchMatMul', (args, backend) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
    if (!isReshapedView(backend, b)) return null
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs
    return runOpsInKernel(backend, [a, b], (at, bt) => tf.tidy(() => tf.matMul(at, copyOf(bt), transposeA, transposeB)))
  })
  replaceWasmKernel('_FusedMatMul', (args, backend) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as tf._FusedMatMulInputs
    if (!isReshapedView(backend, b)) return null
    const attrs = args.attrs as unknown as tf._FusedMatMulAttrs
    const extras = [bias, preluActivationWeights].filter((t): t is tf.TensorInfo => t !== undefined)
    return runOpsInKernel(backend, [a, b, ...extras], (at, bt, ...rest) =>
      tf.tidy(() =>
        tf.fused.matMul({
          a: at,
          b: copyOf(bt),
          transposeA: attrs.transposeA,
          transposeB: attrs.transposeB,
          activation: attrs.activation,
          leakyreluAlpha: attrs.leakyreluAlpha,
          bias: bias ? rest[0] : undefined,
          preluActivationWeights: preluActivationWeights ? rest[bias ? 1 : 0] : undefined,
        }),
      ),
    )
  })
}

/**
 * wasm's Sum and Mean move the reduced axes innermost with its slow transpose, then loop. Over leading
 * axes (every bias and broadcast gradient) we flatten to [rows, cols], transpose with the blocked
 * kernel below and reduce the innermost axis. With fresh inputs, as in backprop, [1024, 512] over
 * axis 0 went from about 4.2 to 1.5 ms. (ones @ x looked faster on a reused input, but XNNPACK
 * repacks a fresh b operand on every call.)
 */
function registerLeadingAxisReductions(): void {
  for (const kernelName of ['Sum', 'Mean'] as const) {
    replaceWasmKernel(kernelName, (args, backend) => {
      const x = args.inputs.x as tf.TensorInfo
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q)
      const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i)
      if (x.dtype !== 'float32' || !leading) return null
      const rows = x.shape.slice(0, axes.length).reduce((p, q) => p * q, 1)
      const kept = x.shape.slice(axes.length)
      const cols = kept.reduce((p, q) => p * q, 1)
      const outShape = keepDims ? [...axes.map(() => 1), ...kept] : kept
      const reduce = kernelName === 'Mean' ? tf.mean : tf.sum
      return runOpsInKernel(backend, [x], (xt) =>
        tf.tidy(() => tf.reshape(reduce(tf.transpose(tf.reshape(xt, [rows, cols])), 1), outShape)),
      )
    })
  }
}

/**
 * wasm's 2-D Transpose is slow (0.8-1.3 ms for [1024, 128], 3.4-4.2 ms for [1024, 512]). Viewing the
 * matrix as b x b blocks, [rows/b, b, cols/b, b], and transposing that rank-4 tensor with perm
 * [2, 3, 0, 1] is the same transpose, about 4x faster. Backprop transposes many 2-D matrices.
 */
function registerBlockedTranspose(): void {
  replaceWasmKernel('Transpose', (args, backend) => {
    const x = args.inputs.x as tf.TensorInfo
    const { perm } = args.attrs as unknown as tf.TransposeAttrs
    if (x.shape.length !== 2 || perm[0] !== 1) return null
    const [rows, cols] = x.shape
    const block = [8, 4].find((b) => rows % b === 0 && cols % b === 0)
    if (!block || rows * cols < 4096) return null
    return runOpsInKernel(backend, [x], (xt) =>
      tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(xt, [rows / block, block, cols / block, block]), [2, 3, 0, 1]), [cols, rows])),
    )
  })
}

/**
 * wasm's Conv2DBackpropInput (dx of a conv, also conv2dTranspose's forward) took 157 ms where the
 * same result as one forward conv takes 33 ms (B16, 32x32x32, 3x3). Stride 1 directly, other strides
 * through the zero-spread dy (the U-Net's stride-2 downsampling); NCHW and very wide padding keep the
 * stock kernel.
 */
function registerFastConv2DBackpropInput(): void {
  replaceWasmKernel('Conv2DBackpropInput', (args, backend) => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo }
    const a = args.attrs as unknown as tf.Conv2DBackpropInputAttrs
    const strides: [number, number] = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides
    if (a.dataFormat === 'NCHW') return null
    const [kh, kw] = filter.shape
    const info = tf.backend_util.computeConv2DInfo(a.inputShape, filter.shape as [number, number, number, number], strides, 1, a.pad, a.dimRoundingMode)
    const { top, bottom, left, right } = info.padInfo
    if (Math.max(top, bottom) > kh - 1 || Math.max(left, right) > kw - 1) return null
    if (strides[0] === 1 && strides[1] === 1) {
      return runOpsInKernel(backend, [dy, filter], (dyt, wt) =>
        conv2dInputGradStride1(dyt as tf.Tensor4D, wt as tf.Tensor4D, a.inputShape, a.pad, a.dimRoundingMode) as tf.Tensor4D,
      )
    }
    // checked on shapes first, so a case it cannot do falls back to the stock kernel
    const fullH = a.inputShape[1] + top + bottom - kh + 1
    const fullW = a.inputShape[2] + left + right - kw + 1
    if ((dy.shape[1]! - 1) * strides[0] >= fullH || (dy.shape[2]! - 1) * strides[1] >= fullW) return null
    return runOpsInKernel(backend, [dy, filter], (dyt, wt) =>
      conv2dInputGradStrided(dyt as tf.Tensor4D, wt as tf.Tensor4D, a.inputShape, strides, a.pad, a.dimRoundingMode) as tf.Tensor4D,
    )
  })
}

/**
 * Registers the wasm kernel fixes (idempotent): Conv2DBackpropFilter, which wasm lacks; matMuls safe
 * against the operator-cache bug; Sum and Mean over leading axes via the fast transpose; a blocked 2-D Transpose;
 * Conv2DBackpropInput as a forward conv (strided ones on the zero-spread dy).
 */
export function registerWasmTrainingKernels(): void {
  registerConv2DBackpropFilter()
  registerShapeSafeMatMuls()
  registerLeadingAxisReductions()
  registerBlockedTranspose()
  registerFastConv2DBackpropInput()
}
