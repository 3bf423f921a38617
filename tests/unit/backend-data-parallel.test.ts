// DataParallelTrainer: the averaged slice gradients equal the full-batch gradient computed on one
// thread, for even and uneven splits, named losses and param subsets; errors surface clearly.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { batchRows, DataParallelTrainer, gradientsOf, splitRows } from '../../src-main/ml/backend/data-parallel.ts'
import { threadCpuMs } from '../../src-main/ml/backend/thread-cpu.ts'
import { syntheticBatch } from '../../src-main/bench/tasks/dit-denoise.ts'
import type { DitConfig } from '../../src-main/ml/diffusion/dit.ts'

const TINY: DitConfig = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, vocabSize: 20, textLength: 4, textWidth: 8 }
const MODULE = new URL('../../src-main/bench/tasks/dit-denoise.ts', import.meta.url)

function maxRelativeDifference(a: Record<string, tf.Tensor>, b: Record<string, tf.Tensor>): number {
  let diff = 0
  let scale = 1e-12
  for (const name of Object.keys(a)) {
    const x = a[name].dataSync()
    const y = b[name].dataSync()
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i] - y[i]))
      scale = Math.max(scale, Math.abs(x[i]))
    }
  }
  return diff / scale
}

describe('DataParallelTrainer', () => {
  let trainer: DataParallelTrainer

  before(async () => {
    await initTf({ prefer: 'wasm' })
    trainer = await DataParallelTrainer.create({ module: MODULE, config: TINY, workers: 1 })
    // adaLN-zero starts with zero gates, which would hide most gradients: give every weight a value.
    let seed = 1
    for (const v of Object.values(trainer.model.params)) v.assign(tf.randomNormal(v.shape, 0, 0.2, 'float32', seed++))
  })
  after(async () => {
    await trainer.dispose()
  })

  for (const rows of [6, 5, 1]) {
    it(`matches the single-thread full-batch gradient at batch ${rows}`, async () => {
      const names = Object.keys(trainer.model.params)
      const single = gradientsOf(trainer.model, syntheticBatch(TINY, rows, rows), 'default', names)
      const parallel = await trainer.computeGradients(syntheticBatch(TINY, rows, rows))
      assert.deepEqual(parallel.rows, rows === 1 ? [1, 0] : [Math.ceil(rows / 2), Math.floor(rows / 2)])
      assert.equal(parallel.cpuMs.length, 2)
      if (process.platform === 'linux') assert.ok(parallel.cpuMs.every((ms) => Number.isFinite(ms) && ms >= 0), `cpu times ${parallel.cpuMs}`)
      assert.ok(Math.abs(parallel.loss - single.loss) <= 1e-5 * Math.abs(single.loss), `loss ${parallel.loss} vs ${single.loss}`)
      assert.ok(maxRelativeDifference(single.grads, parallel.grads) < 1e-4)
      tf.dispose([...Object.values(single.grads), ...Object.values(parallel.grads)])
    })
  }

  it('follows the main thread\'s weights after an optimizer update, for a named loss and a param subset', async () => {
    const optimizer = tf.train.sgd(0.1)
    const first = await trainer.computeGradients(syntheticBatch(TINY, 4, 7))
    const before = trainer.model.params[Object.keys(first.grads)[0]].dataSync().slice()
    trainer.applyGradients(optimizer, first.grads)
    const afterUpdate = trainer.model.params[Object.keys(first.grads)[0]].dataSync()
    assert.ok(afterUpdate.some((v, i) => v !== before[i]), 'the update changed the weights')
    const wrt = Object.keys(trainer.model.params).filter((n) => n.includes('blocks.0') || n.startsWith('final')).slice(0, 5)
    assert.ok(wrt.length > 0, 'found a subset of params')
    const single = gradientsOf(trainer.model, syntheticBatch(TINY, 4, 8), 'l1', wrt)
    const parallel = await trainer.computeGradients(syntheticBatch(TINY, 4, 8), { loss: 'l1', wrt })
    assert.deepEqual(Object.keys(parallel.grads).sort(), [...wrt].sort())
    assert.ok(maxRelativeDifference(single.grads, parallel.grads) < 1e-4)
    tf.dispose([...Object.values(single.grads), ...Object.values(parallel.grads)])
    optimizer.dispose()
  })

  it('applies gradients in any key order with an optimizer that keeps per-variable state', async () => {
    // tfjs optimizers keep their moments by position in the gradient map
    const optimizer = tf.train.adam(1e-3)
    const names = Object.keys(trainer.model.params)
    const first = gradientsOf(trainer.model, syntheticBatch(TINY, 2, 11), 'default', names)
    trainer.applyGradients(optimizer, first.grads)
    const second = await trainer.computeGradients(syntheticBatch(TINY, 2, 12))
    const reversed = Object.fromEntries(Object.entries(second.grads).reverse())
    assert.doesNotThrow(() => trainer.applyGradients(optimizer, reversed))
    optimizer.dispose()
  })

  it('splits row-aligned texts with the batch, passes options to every thread and averages reported metrics', async () => {
    const rows = 5
    const captions = ['a', 'bb', 'cccc', 'dddddddd', 'x'.repeat(16)]
    const names = Object.keys(trainer.model.params)
    const context = { texts: { caption: captions }, options: { scale: 3 } }
    const single = gradientsOf(trainer.model, syntheticBatch(TINY, rows, 21), 'weighted', names, context)
    const parallel = await trainer.computeGradients(syntheticBatch(TINY, rows, 21), { loss: 'weighted', ...context })
    assert.deepEqual(parallel.rows, [3, 2])
    assert.ok(Math.abs(parallel.loss - single.loss) <= 1e-5 * single.loss, `loss ${parallel.loss} vs ${single.loss}`)
    assert.deepEqual(Object.keys(parallel.metrics).sort(), ['captionLength', 'plain'])
    assert.ok(Math.abs(parallel.metrics.captionLength - 31 / 5) < 1e-6, `mean caption length ${parallel.metrics.captionLength}`)
    assert.ok(Math.abs(parallel.metrics.plain - single.metrics.plain) <= 1e-5 * single.metrics.plain)
    assert.ok(maxRelativeDifference(single.grads, parallel.grads) < 1e-4)
    // the options reach the workers: scale 1 gives a third of the loss
    const unscaled = await trainer.computeGradients(syntheticBatch(TINY, rows, 21), { loss: 'weighted', texts: context.texts, options: { scale: 1 } })
    assert.ok(Math.abs(unscaled.loss * 3 - parallel.loss) <= 1e-5 * parallel.loss)
    tf.dispose([...Object.values(single.grads), ...Object.values(parallel.grads), ...Object.values(unscaled.grads)])
    await assert.rejects(trainer.computeGradients(syntheticBatch(TINY, rows, 21), { loss: 'weighted', texts: { caption: captions.slice(1) } }), /texts "caption" has 4 entries, the batch 5 rows/)
  })

  it('refuses malformed batches and unknown params', async () => {
    const batch = syntheticBatch(TINY, 2, 9)
    await assert.rejects(trainer.computeGradients({ ...batch, t: { data: new Float32Array(3), shape: [3] } }), /has 3 rows/)
    await assert.rejects(trainer.computeGradients({ ...batch, eps: { data: new Float32Array(5), shape: [2, 8, 8, 3] } }), /does not match 5 values/)
    await assert.rejects(trainer.computeGradients(batch, { wrt: ['no.such.param'] }), /unknown param "no.such.param"/)
  })

  it('reports a failing loss in a worker as an error, not a hang or a crash', async () => {
    const other = await DataParallelTrainer.create({ module: MODULE, config: TINY, workers: 1 })
    try {
      // Only the worker's model fails: the main thread's copy knows the loss name.
      const mainLoss = other.model.loss.bind(other.model)
      other.model.loss = (batch, name, context) => mainLoss(batch, name === 'worker-only' ? 'default' : name, context)
      await assert.rejects(other.computeGradients(syntheticBatch(TINY, 2, 10), { loss: 'worker-only' }), /data-parallel worker: dit-denoise: unknown loss "worker-only"/)
      // and the main thread's own failure surfaces too, with the worker's reply still handled
      await assert.rejects(other.computeGradients(syntheticBatch(TINY, 2, 10), { loss: 'nonsense' }), /unknown loss "nonsense"|worker/)
    } finally {
      await other.dispose()
    }
  })

  it('refuses a module without createDataParallelModel', async () => {
    const notAModel = new URL('../../src-main/ml/backend/probe.ts', import.meta.url)
    await assert.rejects(DataParallelTrainer.create({ module: notAModel, workers: 0 }), /does not export createDataParallelModel/)
  })
})

describe('threadCpuMs', () => {
  it('counts this thread\'s CPU time on Linux', { skip: process.platform !== 'linux' }, () => {
    const before = threadCpuMs()
    let x = 0
    const until = Date.now() + 60
    while (Date.now() < until) x += Math.sqrt(x + 1)
    assert.ok(x > 0)
    assert.ok(threadCpuMs() >= before)
    assert.ok(Number.isFinite(before) && before >= 0)
  })
})

describe('row splitting', () => {
  it('splits rows evenly, larger shares first', () => {
    assert.deepEqual(splitRows(5, 2), [[0, 3], [3, 5]])
    assert.deepEqual(splitRows(64, 2), [[0, 32], [32, 64]])
    assert.deepEqual(splitRows(1, 3), [[0, 1], [1, 1], [1, 1]])
  })
  it('counts rows and refuses an empty batch', () => {
    assert.equal(batchRows({ a: { data: new Float32Array(6), shape: [3, 2] } }), 3)
    assert.throws(() => batchRows({}), /empty/)
  })
})
