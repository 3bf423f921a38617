// Kernels that tfjs-backend-wasm 4.22 lacks or runs slowly, registered for 'wasm' only.
//
// Conv2DBackpropFilter (dW of a convolution) is missing on wasm. Without it, conv training fails and
// even input gradients through a linear-activation conv break (tfjs routes those through fused.conv2d,
// whose gradient computes dW eagerly). We express dW as one forward conv2d, which XNNPACK runs fast
// (measured 33 ms vs 114-294 ms for im2col + matMul, see docs/measurements/feasibility.md).
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

/** The stock kernels we replaced, so benchmarks can compare against them. */
const replaced = new Map<string, tf.KernelConfig>()

/** Replaces a wasm kernel by our version, remembering the stock one. */
function replaceWasmKernel(original: tf.KernelConfig, ours: tf.KernelConfig): void {
  replaced.set(original.kernelName, original)
  tf.unregisterKernel(original.kernelName, 'wasm')
  tf.registerKernel(ours)
}

/**
 * Runs `fn` with tfjs-backend-wasm's stock kernel for `kernelName` instead of ours (for benchmarks
 * that measure what a replacement buys). Synchronous `fn` only: the swap must not leak into other work.
 */
export function withStockWasmKernel<T>(kernelName: 'Sum' | 'BatchMatMul' | 'Transpose', fn: () => T): T {
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

/** Marks our Sum kernel, so registering twice keeps the original delegate. */
const FAST_SUM = Symbol('di-studio fast wasm Sum')

/**
 * wasm's Sum transposes the input so the reduced axes are innermost, then loops: summing a
 * [1024, 512] tensor over axis 0 took 8.3 ms. That is exactly the reduction every bias gradient and
 * broadcast gradient does. Over leading axes the same sum is `ones[1, rows] @ x[rows, cols]`, a 2-D
 * matMul XNNPACK runs in 0.08 ms. Other reductions go to the original kernel.
 */
function registerFastSum(): void {
  const original = tf.getKernel('Sum', 'wasm')
  if (!original || (original as { [FAST_SUM]?: boolean })[FAST_SUM]) return
  const config: tf.KernelConfig & { [FAST_SUM]?: boolean } = {
    kernelName: 'Sum',
    backendName: 'wasm',
    // the original binds its wasm function when the backend starts; keep that
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b)
      const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i)
      if (x.dtype !== 'float32' || !leading) return original.kernelFunc(args)
      const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1)
      const kept = x.shape.slice(axes.length)
      const cols = kept.reduce((a, b) => a * b, 1)
      const outShape = keepDims ? [...axes.map(() => 1), ...kept] : kept
      return runOpsInKernel(args.backend as tf.KernelBackend, [x], (xt) =>
        tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, rows]), tf.reshape(xt, [rows, cols])), outShape)),
      )
    },
  }
  config[FAST_SUM] = true
  replaceWasmKernel(original, config)
}

/** Marks our BatchMatMul wrapper. */
const SAFE_MATMUL = Symbol('di-studio shape-safe wasm BatchMatMul')

/**
 * Works around a tfjs-backend-wasm 4.22 bug: the XNNPACK matMul operator is cached by the id of the
 * `b` operand's buffer, ignoring its shape. A reshape shares its input's buffer, so after
 * `matMul(p, x.reshape([4, 8]))` a later `matMul(q, x.reshape([2, 16]))` reuses the [4, 8] operator and
 * returns wrong numbers or aborts with "memory access out of bounds" (reproduced in
 * tests/unit/backend-ops.test.ts). Backprop does this naturally (one dy, several reshapes). When `b` is
 * viewed in a shape other than its buffer's own, we hand the matMul a copy, so every cached operator
 * for a buffer has that buffer's shape.
 */
function registerShapeSafeMatMul(): void {
  const original = tf.getKernel('BatchMatMul', 'wasm')
  if (!original || (original as { [SAFE_MATMUL]?: boolean })[SAFE_MATMUL]) return
  const config: tf.KernelConfig & { [SAFE_MATMUL]?: boolean } = {
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
      const backend = args.backend as tf.KernelBackend & { dataIdMap?: { get(id: object): { shape: number[] } | undefined } }
      const buffer = backend.dataIdMap?.get(b.dataId)
      const isView = buffer !== undefined && !tf.util.arraysEqual(buffer.shape, b.shape)
      if (!isView) return original.kernelFunc(args)
      const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs
      return runOpsInKernel(backend, [a, b], (at, bt) =>
        tf.tidy(() => tf.matMul(at, tf.add(bt, 0) /* a real copy: new buffer, own shape */, transposeA, transposeB)),
      )
    },
  }
  config[SAFE_MATMUL] = true
  replaceWasmKernel(original, config)
}

/** Marks our Transpose wrapper. */
const FAST_TRANSPOSE = Symbol('di-studio blocked wasm 2-D Transpose')

/**
 * wasm's 2-D Transpose is slow (0.8 ms for [1024, 128], 3.4 ms for [1024, 512]). Viewing the matrix
 * as b x b blocks, [rows/b, b, cols/b, b], and transposing that rank-4 tensor with perm [2, 3, 0, 1]
 * is the same transpose, about 4x faster. Backprop transposes a lot of 2-D matrices.
 */
function registerFastTranspose(): void {
  const original = tf.getKernel('Transpose', 'wasm')
  if (!original || (original as { [FAST_TRANSPOSE]?: boolean })[FAST_TRANSPOSE]) return
  const config: tf.KernelConfig & { [FAST_TRANSPOSE]?: boolean } = {
    kernelName: 'Transpose',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo
      const { perm } = args.attrs as unknown as tf.TransposeAttrs
      const [rows, cols] = x.shape
      const block = x.shape.length === 2 && perm[0] === 1 ? [8, 4].find((b) => rows % b === 0 && cols % b === 0) : undefined
      if (!block || rows * cols < 4096) return original.kernelFunc(args)
      return runOpsInKernel(args.backend as tf.KernelBackend, [x], (xt) =>
        tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(xt, [rows / block, block, cols / block, block]), [2, 3, 0, 1]), [cols, rows])),
      )
    },
  }
  config[FAST_TRANSPOSE] = true
  replaceWasmKernel(original, config)
}

/**
 * Registers the wasm kernels training needs (idempotent): Conv2DBackpropFilter, which wasm lacks; a
 * BatchMatMul safe against the operator-cache bug; a Sum that reduces leading axes with a matMul; a
 * blocked 2-D Transpose.
 */
export function registerWasmTrainingKernels(): void {
  registerConv2DBackpropFilter()
  registerShapeSafeMatMul()
  registerFastSum()
  registerFastTranspose()
}
