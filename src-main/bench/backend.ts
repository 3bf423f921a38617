// Backend benchmarks: raw matMul speed, and what the fast-gradient ops in ml/backend/ops.ts buy over
// tfjs's stock autodiff on the same computation.
import * as tf from '@tensorflow/tfjs-core'
import { attention, conv2d, dense, embedding, gelu, layerNorm } from '../ml/backend/ops.ts'
import { DataParallelTrainer, gradientsOf } from '../ml/backend/data-parallel.ts'
import { withStockMatMulGradient } from '../ml/backend/gradients.ts'
import type { BenchContext, BenchEntry, BenchRow } from './harness/registry.ts'
import { BENCH_DIT, createDataParallelModel, syntheticBatch } from './tasks/dit-denoise.ts'
import { ditEps } from '../ml/diffusion/dit.ts'
import { spread, summarise, timeIt, type Timing } from './harness/timing.ts'
import { threadCpuMs } from '../ml/backend/thread-cpu.ts'
import { withStockWasmKernel } from '../ml/backend/wasm-kernels.ts'

type Loss = (...xs: tf.Tensor[]) => tf.Scalar

/** Times the gradient of `loss` w.r.t. all `inputs` (forward + backward). */
function timeGrad(ctx: BenchContext, loss: Loss, inputs: tf.Tensor[]): Promise<Timing> {
  return timeIt(() => tf.tidy(() => tf.grads(loss)(inputs)), { repeats: ctx.repeats })
}

/** Three rows: custom fwd+bwd, stock fwd+bwd, and the speed-up. */
async function customVersusStock(
  ctx: BenchContext,
  label: string,
  inputs: tf.Tensor[],
  custom: Loss,
  stock: Loss,
  notes: string,
): Promise<BenchRow[]> {
  ctx.log(`${label}: custom gradient`)
  const fast = await timeGrad(ctx, custom, inputs)
  ctx.log(`${label}: stock gradient`)
  const slow = await timeGrad(ctx, stock, inputs)
  return [
    { name: `${label} fwd+bwd, custom grad`, value: fast.medianMs, unit: 'ms', notes: `${notes}; ${spread(fast)}` },
    { name: `${label} fwd+bwd, stock autodiff`, value: slow.medianMs, unit: 'ms', notes: spread(slow) },
    { name: `${label} custom-grad speed-up`, value: slow.medianMs / fast.medianMs, unit: 'x', notes: 'stock / custom, medians' },
  ]
}

const seeded = (shape: number[], seed: number, std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed)

const matMulEntry: BenchEntry = {
  name: 'matMul 2-D vs transpose flag',
  async run(ctx) {
    const n = ctx.quick ? 512 : 1024
    const a = seeded([n, n], 1) as tf.Tensor2D
    const b = seeded([n, n], 2) as tf.Tensor2D
    const gflop = (2 * n ** 3) / 1e9
    try {
      const plain = await timeIt(() => tf.matMul(a, b), { repeats: ctx.repeats })
      ctx.log('matMul with transposeB flag (slow path)')
      const flagged = await timeIt(() => tf.matMul(a, b, false, true), { repeats: Math.min(ctx.repeats, 3) })
      return [
        { name: `matMul ${n}^3, 2-D, no flags`, value: plain.medianMs, unit: 'ms', notes: spread(plain) },
        { name: `matMul ${n}^3 throughput`, value: gflop / (plain.medianMs / 1000), unit: 'GFLOP/s', notes: 'from the median' },
        {
          name: `matMul ${n}^3 with transposeB flag`,
          value: flagged.medianMs,
          unit: 'ms',
          notes: `${(flagged.medianMs / plain.medianMs).toFixed(1)}x slower: flags leave XNNPACK on wasm; ${spread(flagged)}`,
        },
      ]
    } finally {
      tf.dispose([a, b])
    }
  },
}

const denseStackEntry: BenchEntry = {
  name: 'dense stack 3072-512-512-512-3072',
  async run(ctx) {
    const batch = 64
    const sizes = [3072, 512, 512, 512, 3072]
    const x = seeded([batch, sizes[0]], 3)
    const ws = sizes.slice(1).map((out, i) => seeded([sizes[i], out], 10 + i, 1 / Math.sqrt(sizes[i])))
    const bs = sizes.slice(1).map((out) => tf.zeros([out]))
    const loss = (...params: tf.Tensor[]) => {
      let h: tf.Tensor = x
      for (let i = 0; i < ws.length; i++) {
        h = dense(h, params[i] as tf.Tensor2D, params[ws.length + i] as tf.Tensor1D)
        if (i < ws.length - 1) h = tf.relu(h)
      }
      return tf.mean(tf.square(h)) as tf.Scalar
    }
    const params = [...ws, ...bs]
    try {
      const fwd = await timeIt(() => tf.tidy(() => loss(...params)), { repeats: ctx.repeats })
      ctx.log('dense stack B64: our matMul gradient')
      const fast = await timeGrad(ctx, loss, params)
      ctx.log('dense stack B64: stock matMul gradient')
      const slow = await timeIt(() => withStockMatMulGradient(() => tf.tidy(() => tf.grads(loss)(params))), { repeats: ctx.repeats })
      return [
        { name: 'dense stack B64 forward', value: fwd.medianMs, unit: 'ms', notes: `3.67M params; ${spread(fwd)}` },
        { name: 'dense stack B64 fwd+bwd, our matMul gradient', value: fast.medianMs, unit: 'ms', notes: `grads w.r.t. all weights; ${spread(fast)}` },
        { name: 'dense stack B64 fwd+bwd, stock matMul gradient', value: slow.medianMs, unit: 'ms', notes: spread(slow) },
        { name: 'dense stack B64 matMul-gradient speed-up', value: slow.medianMs / fast.medianMs, unit: 'x', notes: 'stock / ours, medians' },
      ]
    } finally {
      tf.dispose([x, ...ws, ...bs])
    }
  },
}

const layerNormEntry: BenchEntry = {
  name: 'layerNorm and gelu on DiT tokens',
  async run(ctx) {
    // B16 x 64 tokens x width 128 (layer norm) and the MLP's hidden width 512 (gelu)
    const tokens = seeded([16 * 64, 128], 4)
    const hidden = seeded([16 * 64, 512], 5)
    const r1 = seeded([16 * 64, 128], 6)
    const r2 = seeded([16 * 64, 512], 7)
    const weighted = (y: tf.Tensor, r: tf.Tensor) => tf.sum(tf.mul(y, r)) as tf.Scalar
    try {
      const stockLayerNorm = (x: tf.Tensor) => {
        const { mean, variance } = tf.moments(x, -1, true)
        return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6)))
      }
      const stockGelu = (x: tf.Tensor) =>
        tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))))
      return [
        ...(await customVersusStock(ctx, 'layerNorm [1024,128]', [tokens], (x) => weighted(layerNorm(x), r1), (x) => weighted(stockLayerNorm(x), r1), 'grad w.r.t. x')),
        ...(await customVersusStock(ctx, 'gelu [1024,512]', [hidden], (x) => weighted(gelu(x), r2), (x) => weighted(stockGelu(x), r2), 'grad w.r.t. x')),
      ]
    } finally {
      tf.dispose([tokens, hidden, r1, r2])
    }
  },
}

/**
 * Our replacement wasm kernel vs the stock one on the same op. Each run gets a fresh input viewed
 * through a reshape, as in backprop (a reused input would flatter kernels that cache per buffer).
 */
function kernelVersusStock(name: string, kernel: 'Sum' | 'Transpose', op: (x: tf.Tensor) => tf.Tensor): BenchEntry {
  return {
    name,
    async run(ctx) {
      const rows: BenchRow[] = []
      for (const [r, c] of [[1024, 128], [1024, 512]]) {
        const base = seeded([r / 16, 16, c], 50)
        let step = 0
        const freshView = () => tf.reshape(tf.add(base, ++step), [r, c])
        const once = (stock: boolean) => {
          const x = freshView()
          const out = stock ? withStockWasmKernel(kernel, () => op(x)) : op(x)
          x.dispose()
          return out
        }
        try {
          const ours = await timeIt(() => once(false), { repeats: ctx.repeats * 4 })
          const stock = await timeIt(() => once(true), { repeats: ctx.repeats * 4 })
          rows.push(
            { name: `${name} [${r},${c}], our kernel`, value: ours.medianMs, unit: 'ms', notes: `incl. making the fresh input; ${spread(ours)}` },
            { name: `${name} [${r},${c}], stock wasm`, value: stock.medianMs, unit: 'ms', notes: `${(stock.medianMs / ours.medianMs).toFixed(1)}x ours; ${spread(stock)}` },
          )
        } finally {
          base.dispose()
        }
      }
      return rows
    },
  }
}

// Bias gradients sum over leading axes; weight gradients transpose activations.
const leadingSumEntry = kernelVersusStock('sum over axis 0', 'Sum', (x) => tf.sum(x, 0))
const transposeEntry = kernelVersusStock('2-D transpose', 'Transpose', (x) => tf.transpose(x))

const attentionEntry: BenchEntry = {
  name: 'attention B16 T64 D128 4 heads',
  async run(ctx) {
    const [batch, tokens, dim, heads] = [16, 64, 128, 4]
    const [q, k, v] = [20, 21, 22].map((s) => seeded([batch * tokens, dim], s) as tf.Tensor2D)
    const r = seeded([batch * tokens, dim], 23)
    const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(attention(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, { batch, heads }), r)) as tf.Scalar
    try {
      const fwd = await timeIt(() => attention(q, k, v, { batch, heads }), { repeats: ctx.repeats })
      const both = await timeGrad(ctx, loss, [q, k, v])
      const note = 'batched matMuls over B*H; per-head 2-D, block-diagonal 2-D and depthwise-conv forms measured no faster at T=64'
      return [
        { name: 'attention B16 T64 forward', value: fwd.medianMs, unit: 'ms', notes: spread(fwd) },
        { name: 'attention B16 T64 fwd+bwd', value: both.medianMs, unit: 'ms', notes: `${note}; ${spread(both)}` },
      ]
    } finally {
      tf.dispose([q, k, v, r])
    }
  },
}

const convEntry: BenchEntry = {
  name: 'conv2d 3x3 32->32 B16 32x32',
  async run(ctx) {
    const x = seeded([16, 32, 32, 32], 30) as tf.Tensor4D
    const w = seeded([3, 3, 32, 32], 31, 0.1) as tf.Tensor4D
    const r = seeded([16, 32, 32, 32], 32)
    const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), r)) as tf.Scalar
    try {
      const fwd = await timeIt(() => conv2d(x, w, 1, 'same'), { repeats: ctx.repeats })
      const ours = await timeGrad(ctx, loss, [x, w])
      ctx.log('conv2d: stock Conv2DBackpropInput')
      const stock = await timeIt(() => withStockWasmKernel('Conv2DBackpropInput', () => tf.tidy(() => tf.grads(loss)([x, w]))), { repeats: ctx.repeats })
      return [
        { name: 'conv2d 3x3 B16 forward', value: fwd.medianMs, unit: 'ms', notes: spread(fwd) },
        { name: 'conv2d 3x3 B16 fwd+bwd, our kernels', value: ours.medianMs, unit: 'ms', notes: `dx and dW as forward convs; ${spread(ours)}` },
        { name: 'conv2d 3x3 B16 fwd+bwd, stock dx kernel', value: stock.medianMs, unit: 'ms', notes: `wasm's Conv2DBackpropInput (dW still ours: wasm has none); ${spread(stock)}` },
        { name: 'conv2d 3x3 B16 gradient speed-up', value: stock.medianMs / ours.medianMs, unit: 'x', notes: 'stock / ours, medians' },
      ]
    } finally {
      tf.dispose([x, w, r])
    }
  },
}

const embeddingEntry: BenchEntry = {
  name: 'embedding lookup vs one-hot matMul',
  async run(ctx) {
    // DiT text encoder sizes: B16 prompts x 16 tokens, vocabulary 2000, width 128
    const [rows, vocab, dim] = [16 * 16, 2000, 128]
    const ids = tf.tensor1d(Int32Array.from({ length: rows }, (_, i) => (i * 7919) % vocab), 'int32')
    const table = seeded([vocab, dim], 40, 0.02) as tf.Tensor2D
    const r = seeded([rows, dim], 41)
    try {
      return await customVersusStock(
        ctx,
        'embedding 256 ids, vocab 2000',
        [table],
        (t) => tf.sum(tf.mul(embedding(t as tf.Tensor2D, ids), r)) as tf.Scalar,
        (t) => tf.sum(tf.mul(dense(tf.oneHot(ids, vocab).toFloat(), t as tf.Tensor2D), r)) as tf.Scalar,
        'grad w.r.t. the table; "stock" here is one-hot @ table with the fast dense gradient (gather has no wasm gradient)',
      )
    } finally {
      tf.dispose([ids, table, r])
    }
  },
}

/** Wall and calling-thread CPU time of `step` (which returns other threads' CPU ms), medians after one warm-up. */
async function timeWithCpu(step: () => Promise<number>, repeats: number) {
  const wall: number[] = []
  const mainCpu: number[] = []
  const busiestCpu: number[] = []
  for (let i = 0; i <= repeats; i++) {
    const cpu0 = threadCpuMs()
    const t0 = performance.now()
    const otherThreadCpu = await step()
    const elapsed = performance.now() - t0
    const cpu = threadCpuMs() - cpu0
    if (i === 0) continue // warm-up
    wall.push(elapsed)
    mainCpu.push(cpu)
    busiestCpu.push(Math.max(cpu, otherThreadCpu))
  }
  return { wall: summarise(wall), mainCpu: summarise(mainCpu), busiestCpu: summarise(busiestCpu) }
}

const frozenWeightsEntry: BenchEntry = {
  name: 'DiT backward: frozen weights vs all weights',
  async run(ctx) {
    // DI*'s generator update backprops through the frozen reference and the fake score w.r.t. their
    // input only; the lazy matMul gradient lets the tape skip their weight gradients.
    const model = createDataParallelModel(BENCH_DIT)
    const batch = syntheticBatch(BENCH_DIT, 16, 3)
    const xt: tf.Tensor = tf.tensor(batch.xt.data, batch.xt.shape)
    const t: tf.Tensor = tf.tensor(batch.t.data, batch.t.shape)
    const tokens: tf.Tensor = tf.tensor(batch.tokens.data, batch.tokens.shape, 'int32')
    const loss = (x: tf.Tensor) =>
      tf.sum(tf.square(ditEps(model.params, BENCH_DIT, x as tf.Tensor4D, t as tf.Tensor1D, tokens as tf.Tensor2D))) as tf.Scalar
    const vars = Object.values(model.params)
    try {
      const inputOnly = await timeWithCpu(async () => {
        tf.dispose(tf.grad(loss)(xt))
        return 0
      }, ctx.repeats)
      const all = await timeWithCpu(async () => {
        const { value, grads } = tf.variableGrads(() => loss(xt), vars)
        tf.dispose([value, ...Object.values(grads)])
        return 0
      }, ctx.repeats)
      return [
        { name: 'DiT B16 fwd+bwd w.r.t. input only (frozen weights)', value: inputOnly.wall.medianMs, unit: 'ms', notes: `wall; CPU ${inputOnly.mainCpu.medianMs.toFixed(0)} ms; ${spread(inputOnly.wall)}` },
        { name: 'DiT B16 fwd+bwd w.r.t. all weights', value: all.wall.medianMs, unit: 'ms', notes: `wall; CPU ${all.mainCpu.medianMs.toFixed(0)} ms; ${spread(all.wall)}` },
      ]
    } finally {
      tf.dispose([xt, t, tokens, ...vars])
    }
  },
}

const dataParallelEntry: BenchEntry = {
  name: 'DiT step: 1 thread vs data-parallel 2 threads',
  async run(ctx) {
    // The reference DiT size (patch 4, width 128, depth 4); one Adam step = gradients + update.
    const trainer = await DataParallelTrainer.create({ module: new URL('./tasks/dit-denoise.ts', import.meta.url), config: BENCH_DIT, workers: 1 })
    const names = Object.keys(trainer.model.params)
    const optimizer = tf.train.adam(1e-4)
    const rows: BenchRow[] = []
    try {
      for (const batch of ctx.quick ? [16] : [16, 64]) {
        const data = syntheticBatch(BENCH_DIT, batch, batch)
        ctx.log(`B${batch}: one thread`)
        const single = await timeWithCpu(async () => {
          const { grads } = gradientsOf(trainer.model, data, 'default', names)
          trainer.applyGradients(optimizer, grads)
          return 0
        }, ctx.repeats)
        ctx.log(`B${batch}: data-parallel, ${trainer.threads} threads`)
        const parallel = await timeWithCpu(async () => {
          const { grads, cpuMs } = await trainer.computeGradients(data)
          trainer.applyGradients(optimizer, grads)
          return Math.max(...cpuMs.slice(1))
        }, ctx.repeats)
        const cpuSpeedUp = single.mainCpu.medianMs / parallel.busiestCpu.medianMs
        rows.push(
          { name: `DiT step B${batch}, 1 thread`, value: single.wall.medianMs, unit: 'ms', notes: `D128 depth 4 patch 4, fwd+bwd+Adam, wall; CPU ${single.mainCpu.medianMs.toFixed(0)} ms; ${spread(single.wall)}` },
          { name: `DiT step B${batch}, data-parallel ${trainer.threads} threads`, value: parallel.wall.medianMs, unit: 'ms', notes: `wall; busiest thread CPU ${parallel.busiestCpu.medianMs.toFixed(0)} ms; ${spread(parallel.wall)}` },
          { name: `DiT step B${batch} data-parallel speed-up, wall`, value: single.wall.medianMs / parallel.wall.medianMs, unit: 'x', notes: 'real only if a core is free (see load average)' },
          { name: `DiT step B${batch} data-parallel speed-up, CPU-time estimate`, value: cpuSpeedUp, unit: 'x', notes: '1-thread CPU / busiest thread CPU: what two idle cores give, independent of load (ignores message latency)' },
        )
      }
      return rows
    } finally {
      optimizer.dispose()
      await trainer.dispose()
    }
  },
}

export const benches: BenchEntry[] = [matMulEntry, denseStackEntry, layerNormEntry, leadingSumEntry, transposeEntry, attentionEntry, convEntry, embeddingEntry, frozenWeightsEntry, dataParallelEntry]

