// Worker side of data-parallel.ts: builds the same model as the main thread, and for each step
// loads the main thread's weights from shared memory, computes its slice's gradients and writes
// them to its own shared gradient buffer.
import * as tf from '@tensorflow/tfjs-core'
import { parentPort } from 'node:worker_threads'
import { initTf } from './init.ts'
import { threadCpuMs } from './thread-cpu.ts'
import { gradientsOf, layoutOf, loadModel, type DataParallelModel, type FromWorker, type ToWorker } from './data-parallel.ts'

if (!parentPort) throw new Error('data-parallel-worker.ts must run in a worker thread')
const port = parentPort

let state: { model: DataParallelModel; layout: ReturnType<typeof layoutOf>; weights: Float32Array; grads: Float32Array } | null = null

const send = (m: FromWorker) => port.postMessage(m)

port.on('message', async (msg: ToWorker) => {
  try {
    if (msg.type === 'init') {
      const backend = await initTf({ prefer: msg.prefer })
      const model = await loadModel(new URL(msg.module), msg.config)
      const layout = layoutOf(model.params)
      const same = layout.length === msg.layout.length && layout.every((p, i) => p.name === msg.layout[i].name && p.size === msg.layout[i].size)
      if (!same) throw new Error('the model built in the worker has different params from the main thread\'s (config not deterministic?)')
      state = { model, layout, weights: new Float32Array(msg.weights), grads: new Float32Array(msg.grads) }
      send({ type: 'ready', backend: backend.name })
      return
    }
    if (!state) throw new Error('step before init')
    const { model, layout, weights, grads } = state
    const cpuStart = threadCpuMs()
    for (const slot of layout) {
      const values = weights.slice(slot.offset, slot.offset + slot.size) // copy out of shared memory
      tf.tidy(() => model.params[slot.name].assign(tf.tensor(values, slot.shape)))
    }
    const rows = msg.batch[Object.keys(msg.batch)[0]].shape[0]
    const result = gradientsOf(model, msg.batch, msg.loss, msg.wrt, { texts: msg.texts, options: msg.options })
    for (const name of msg.wrt) {
      const slot = layout.find((p) => p.name === name)
      if (!slot) throw new Error(`unknown param "${name}"`)
      grads.set(result.grads[name].dataSync() as Float32Array, slot.offset)
    }
    tf.dispose(Object.values(result.grads))
    send({ type: 'done', id: msg.id, loss: result.loss, metrics: result.metrics, rows, cpuMs: threadCpuMs() - cpuStart })
  } catch (err) {
    send({ type: 'error', id: msg.type === 'step' ? msg.id : undefined, message: err instanceof Error ? err.message : String(err) })
  }
})
