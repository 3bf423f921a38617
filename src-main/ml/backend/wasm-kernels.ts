// Kernels that tfjs-backend-wasm 4.22 lacks but training needs, registered for 'wasm' only.
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
 * Registers Conv2DBackpropFilter for the wasm backend (no-op if already registered).
 * A kernel receives raw TensorInfos owned by the engine. We wrap them as tensors to use tfjs ops,
 * so we must incRef the inputs (disposing our wrappers would otherwise free the caller's data) and
 * the result (our wrapper of it is disposed by the tidy; the engine takes over the buffer).
 */
export function registerWasmTrainingKernels(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend: anyBackend, attrs }) => {
      const backend = anyBackend as tf.KernelBackend
      const { x: xInfo, dy: dyInfo } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo }
      const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs
      if (a.dataFormat === 'NCHW') {
        throw new Error('Conv2DBackpropFilter on wasm: only NHWC is supported (wasm conv2d is NHWC only)')
      }
      backend.incRef(xInfo.dataId)
      backend.incRef(dyInfo.dataId)
      const engine = tf.engine()
      const x = engine.makeTensorFromTensorInfo(xInfo, backend) as tf.Tensor4D
      const dy = engine.makeTensorFromTensorInfo(dyInfo, backend) as tf.Tensor4D
      const dw = conv2dFilterGrad(x, dy, a.filterShape, a.strides, a.pad, a.dimRoundingMode)
      backend.incRef(dw.dataId)
      x.dispose()
      dy.dispose()
      const out: tf.TensorInfo = { dataId: dw.dataId, shape: dw.shape, dtype: dw.dtype }
      dw.dispose()
      return out
    },
  })
}
