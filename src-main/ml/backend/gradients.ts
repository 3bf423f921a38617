// A faster gradient for tfjs's BatchMatMul kernel on wasm, registered globally by initTf.
//
// The stock gradient of a @ b is dy @ b^T and a^T @ dy written with transpose flags; on wasm any flag
// leaves XNNPACK for a scalar loop (measured 12-38x slower for 1024^3). For 2-D operands without
// flags we use explicit transposes instead. Being a registered gradient (not tf.customGrad), each
// input's gradient is a separate lazy function: the tape skips the ones nobody asked for, so frozen
// weights (the DI* reference, the fake score inside the generator update) cost no weight gradient.
import * as tf from '@tensorflow/tfjs-core'

const FAST = Symbol('di-studio fast BatchMatMul gradient')
let stockGradient: tf.GradConfig | null = null

export function registerFastMatMulGradient(): void {
  const stock = tf.getGradient('BatchMatMul')
  if (!stock) throw new Error('registerFastMatMulGradient: tfjs gradients are not registered (import @tensorflow/tfjs first)')
  if ((stock as { [FAST]?: boolean })[FAST]) return
  stockGradient = stock
  const config: tf.GradConfig & { [FAST]?: boolean } = {
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs
      const plain2d = a.rank === 2 && b.rank === 2 && !transposeA && !transposeB
      // Other backends run flags natively; keep tfjs's gradient there and for batched/flagged products.
      if (!plain2d || tf.getBackend() !== 'wasm') return stock.gradFunc(dy, saved, attrs)
      const dy2 = dy as tf.Tensor2D
      const [n, inSize] = a.shape as [number, number]
      const outSize = (b.shape as [number, number])[1]
      return {
        a: () => tf.matMul(dy2, tf.transpose(b as tf.Tensor2D)),
        // a^T dy transposes an [n, in] matrix; (dy^T a)^T transposes [n, out] and [out, in]: pick the smaller.
        b: () =>
          n * inSize <= n * outSize + inSize * outSize
            ? tf.matMul(tf.transpose(a as tf.Tensor2D), dy2)
            : tf.transpose(tf.matMul(tf.transpose(dy2), a as tf.Tensor2D)),
      }
    },
  }
  config[FAST] = true
  tf.registerGradient(config)
}

/**
 * Runs `fn` (which must compute its gradients synchronously, e.g. tf.grads) with tfjs's stock
 * BatchMatMul gradient, for benchmarks that measure what ours buys.
 */
export function withStockMatMulGradient<T>(fn: () => T): T {
  const ours = tf.getGradient('BatchMatMul')
  if (!stockGradient || !(ours as { [FAST]?: boolean })[FAST]) return fn()
  tf.registerGradient(stockGradient)
  try {
    return fn()
  } finally {
    tf.registerGradient(ours)
  }
}
