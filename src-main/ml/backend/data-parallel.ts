// Data-parallel gradients across threads, to use both cores with tfjs-backend-wasm.
//
// Why: wasm threads do not work in stock tfjs 4.22 under Node (blob-URL workers), and even with a
// shim they only speed up plain 2-D matMuls; the training step did not get faster
// (docs/measurements/tfjs-wasm-dit.md). Splitting the batch across threads, each with its own
// single-threaded wasm backend, did: 1.47x at batch 64 in the feasibility study. Here (DiT D128,
// depth 4, `npm run bench -- --only "DiT step"`): 1.53x wall at B16 and 1.58x at B64 while another job
// held part of the machine, and 1.7x / 2.0x by per-thread CPU time (what two free cores give).
//
// How: the main thread owns the model (the canonical weights, the optimizer). Each step it copies its
// current weights into a SharedArrayBuffer, hands each worker a slice of the batch, computes the
// gradient of its own slice meanwhile, then averages all slices' gradients (weighted by rows, so a
// mean loss gives exactly the full-batch gradient). The caller applies them with its optimizer.
// Workers never hold state that matters: they mirror the main thread's weights on every step.
//
// The model is defined once, in a module every thread imports (functions cannot cross threads):
//   export function createDataParallelModel(config: unknown): DataParallelModel | Promise<DataParallelModel>
// Frozen weights (a reference network) are built there from the config in every thread; everything
// random (noise, timesteps, dropped captions) must travel in the batch, so a row's loss is the same
// whichever thread computes it. Example: src-main/bench/tasks/dit-denoise.ts.
import * as tf from '@tensorflow/tfjs-core'
import os from 'node:os'
import { existsSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { TfBackendName } from './probe.ts'
import { threadCpuMs } from './thread-cpu.ts'

/** What a loss sees besides the batch's tensors. */
export interface LossContext {
  /** row-aligned strings of this slice (e.g. prompts for a reward), from computeGradients' `texts` */
  texts: Record<string, string[]>
  /** the step's structured-cloneable options (e.g. live-edited loss weights), from computeGradients */
  options: unknown
}

/**
 * A loss with side numbers to report. Every metric must be a mean over the slice's rows, like the loss,
 * so the row-weighted mean of the slices' values is the full batch's value. A metric given as a
 * function is read after the backward pass, for values the backward pass produces (e.g. the norm of a
 * gradient arriving at some tensor); it may return undefined when there is nothing to report.
 */
export interface LossWithMetrics {
  loss: tf.Scalar
  metrics: Record<string, tf.Scalar | (() => tf.Scalar | undefined)>
}

/** What a model module builds in every thread. */
export interface DataParallelModel {
  /** every weight that changes during training (all are synced to workers before each step) */
  params: Record<string, tf.Variable>
  /**
   * Mean loss over the rows of `batch` (each tensor's first dimension is the row). `name` selects one
   * of several losses (e.g. DI*'s fake-score and generator updates); the default is 'default'.
   */
  loss(batch: Record<string, tf.Tensor>, name: string, context: LossContext): tf.Scalar | LossWithMetrics
}

/** A model module's loss reads its inputs with this: the batch's tensor `key`, or a clear error naming the module. */
export function batchTensor(batch: Record<string, tf.Tensor>, key: string, module: string): tf.Tensor {
  const tensor = batch[key]
  if (!tensor) throw new Error(`${module}: the batch has no "${key}"`)
  return tensor
}

export type CreateDataParallelModel = (config: unknown) => DataParallelModel | Promise<DataParallelModel>

/** One batch: named arrays whose first dimension is the row (the split axis). */
export type BatchArrays = Record<string, { data: Float32Array | Int32Array; shape: number[] }>

/** What computeGradients takes besides the batch. */
export interface GradientRequest {
  /** which of the model's losses (default 'default') */
  loss?: string
  /** params to differentiate (default: all) */
  wrt?: string[]
  /** row-aligned strings, split with the batch (each array needs one entry per row) */
  texts?: Record<string, string[]>
  /** passed to every thread's loss as context.options; must be structured-cloneable */
  options?: unknown
}

export interface DataParallelOptions {
  /** module exporting `createDataParallelModel` (a path or file URL) */
  module: string | URL
  /** passed to createDataParallelModel in every thread; must be structured-cloneable */
  config?: unknown
  /** worker threads besides the main thread; default: cores - 1 (at least 1) */
  workers?: number
  /** backend each worker initialises (default: initTf's choice) */
  prefer?: TfBackendName
  /** the worker script; default: data-parallel-worker.ts beside this file (a bundler must emit it as its own entry) */
  workerEntry?: URL
  /**
   * The main thread's model, when the caller has already built it (e.g. around weights it owns);
   * default: built from `module` like the workers'. It must have the same params as theirs.
   */
  mainModel?: DataParallelModel
}

export interface GradientResult {
  /** row-weighted mean of the slices' losses = the full batch's mean loss */
  loss: number
  /** row-weighted means of the slices' metrics (empty when the loss reports none) */
  metrics: Record<string, number>
  /** full-batch gradients keyed by param name; pass them to trainer.applyGradients (which disposes them) or dispose them */
  grads: Record<string, tf.Tensor>
  /** rows computed by each thread, main first */
  rows: number[]
  /** CPU milliseconds each thread spent on this step, main first (NaN off Linux); see thread-cpu.ts */
  cpuMs: number[]
}

interface ParamSlot {
  name: string
  shape: number[]
  offset: number
  size: number
}

/** Messages between the main thread and a worker. */
export type ToWorker =
  | { type: 'init'; module: string; config: unknown; prefer?: TfBackendName; layout: ParamSlot[]; weights: SharedArrayBuffer; grads: SharedArrayBuffer }
  | { type: 'step'; id: number; loss: string; wrt: string[]; batch: BatchArrays; texts: Record<string, string[]>; options: unknown }
export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'done'; id: number; loss: number; metrics: Record<string, number>; rows: number; cpuMs: number }
  | { type: 'error'; id?: number; message: string }

/**
 * The worker script beside this module: data-parallel-worker.js in a build (the bundler must emit it
 * as an entry of that name next to the chunk holding this code), the .ts source under tsx.
 */
function defaultWorkerEntry(): URL {
  const built = new URL('./data-parallel-worker.js', import.meta.url)
  return existsSync(fileURLToPath(built)) ? built : new URL('./data-parallel-worker.ts', import.meta.url)
}

export class DataParallelTrainer {
  private nextId = 1
  private closed = false
  /** the dataId of each param when it was last copied into `weights` */
  private readonly publishedDataIds = new Map<string, object>()

  private constructor(
    /** the main thread's model: train its params with your optimizer */
    readonly model: DataParallelModel,
    private readonly workers: WorkerHandle[],
    private readonly layout: ParamSlot[],
    private readonly weights: Float32Array,
  ) {}

  /** Threads taking part in each step (main included). */
  get threads(): number {
    return this.workers.length + 1
  }

  static async create(opts: DataParallelOptions): Promise<DataParallelTrainer> {
    const moduleUrl = toUrl(opts.module)
    const workerCount = opts.workers ?? Math.max(1, os.cpus().length - 1)
    if (!Number.isInteger(workerCount) || workerCount < 0 || workerCount > 64) {
      throw new Error(`DataParallelTrainer: workers must be an integer 0..64, got ${opts.workers}`)
    }
    const model = opts.mainModel ?? (await loadModel(moduleUrl, opts.config))
    const layout = layoutOf(model.params)
    const total = layout.reduce((s, p) => s + p.size, 0)
    const weights = new SharedArrayBuffer(total * 4)
    const workers: WorkerHandle[] = []
    try {
      for (let i = 0; i < workerCount; i++) {
        const grads = new SharedArrayBuffer(total * 4)
        const handle = new WorkerHandle(spawn(opts.workerEntry ?? defaultWorkerEntry()), grads)
        workers.push(handle)
        await handle.request({ type: 'init', module: moduleUrl.href, config: opts.config, prefer: opts.prefer, layout, weights, grads }, 'ready')
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()))
      throw err
    }
    return new DataParallelTrainer(model, workers, layout, new Float32Array(weights))
  }

  /**
   * Gradient of the named loss over the whole batch w.r.t. `wrt` (default: all params), computed in
   * slices on all threads. Rows are split as evenly as possible, main thread first.
   */
  async computeGradients(batch: BatchArrays, opts: GradientRequest = {}): Promise<GradientResult> {
    if (this.closed) throw new Error('DataParallelTrainer: already disposed')
    const lossName = opts.loss ?? 'default'
    const wrt = opts.wrt ?? Object.keys(this.model.params)
    for (const name of wrt) if (!(name in this.model.params)) throw new Error(`DataParallelTrainer: unknown param "${name}"`)
    const rows = batchRows(batch)
    const texts = opts.texts ?? {}
    for (const [name, list] of Object.entries(texts)) {
      if (!Array.isArray(list) || list.length !== rows) throw new Error(`texts "${name}" has ${Array.isArray(list) ? list.length : 'no'} entries, the batch ${rows} rows`)
    }
    const sliceTexts = (start: number, end: number) => Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, v.slice(start, end)]))
    const shares = splitRows(rows, this.threads)

    const cpuStart = threadCpuMs()
    this.publishWeights()
    const pending = this.workers.map((w, i) => {
      const [start, end] = shares[i + 1]
      if (end === start) return Promise.resolve(null)
      const id = this.nextId++
      const msg: ToWorker = { type: 'step', id, loss: lossName, wrt, batch: sliceBatch(batch, start, end), texts: sliceTexts(start, end), options: opts.options }
      return w.request(msg, 'done', id).then((m) => ({ worker: w, msg: m as Extract<FromWorker, { type: 'done' }> }))
    })

    // The main thread's own slice runs while the workers compute theirs.
    const [start, end] = shares[0]
    let own: ReturnType<typeof gradientsOf> | null = null
    try {
      own = end > start ? gradientsOf(this.model, sliceBatch(batch, start, end), lossName, wrt, { texts: sliceTexts(start, end), options: opts.options }) : null
    } catch (err) {
      await Promise.allSettled(pending) // no worker reply may be left unhandled
      throw err
    }
    const results = await Promise.all(pending).catch((err: unknown) => {
      if (own) tf.dispose(Object.values(own.grads))
      throw err
    })

    const grads: Record<string, tf.Tensor> = {}
    let lossSum = own ? own.loss * (end - start) : 0
    const metricSums: Record<string, number> = {}
    const addMetrics = (metrics: Record<string, number>, weight: number) => {
      for (const [k, v] of Object.entries(metrics)) metricSums[k] = (metricSums[k] ?? 0) + v * weight
    }
    if (own) addMetrics(own.metrics, end - start)
    const rowsPerThread = [end - start]
    const workerCpu: number[] = []
    for (const r of results) {
      rowsPerThread.push(r ? r.msg.rows : 0)
      workerCpu.push(r ? r.msg.cpuMs : 0)
      if (r) {
        lossSum += r.msg.loss * r.msg.rows
        addMetrics(r.msg.metrics, r.msg.rows)
      }
    }
    const metrics = Object.fromEntries(Object.entries(metricSums).map(([k, v]) => [k, v / rows]))
    for (const name of wrt) {
      const slot = this.layout.find((p) => p.name === name) as ParamSlot
      grads[name] = tf.tidy(() => {
        let sum: tf.Tensor = own ? tf.mul(own.grads[name], end - start) : tf.zeros(slot.shape)
        for (const r of results) {
          if (!r) continue
          const g = tf.tensor(r.worker.gradView(slot).slice(), slot.shape) // copy: the shared buffer is reused next step
          sum = tf.add(sum, tf.mul(g, r.msg.rows))
        }
        return tf.div(sum, rows)
      })
    }
    if (own) tf.dispose(Object.values(own.grads))
    return { loss: lossSum / rows, metrics, grads, rows: rowsPerThread, cpuMs: [threadCpuMs() - cpuStart, ...workerCpu] }
  }

  /**
   * Applies gradients keyed by param name (as computeGradients returns them) with a tfjs optimizer,
   * then disposes them. tfjs optimizers key by variable name and keep their moments by POSITION in
   * the map, so the map is always built in the model's param order, whatever order `grads` has.
   */
  applyGradients(optimizer: tf.Optimizer, grads: Record<string, tf.Tensor>): void {
    for (const name of Object.keys(grads)) {
      if (!(name in this.model.params)) throw new Error(`DataParallelTrainer.applyGradients: unknown param "${name}"`)
    }
    const byVariable: tf.NamedTensorMap = {}
    for (const [name, v] of Object.entries(this.model.params)) {
      if (grads[name]) byVariable[v.name] = grads[name]
    }
    optimizer.applyGradients(byVariable)
    tf.dispose(Object.values(grads))
  }

  /** Stops the workers. The main thread's model stays usable (dispose its params yourself). */
  async dispose(): Promise<void> {
    this.closed = true
    await Promise.all(this.workers.map((w) => w.terminate()))
  }

  /**
   * Copies the params into the shared weight buffer the workers read. A variable's dataId changes on
   * every assign (optimizer updates included), so a slot whose dataId is the one last copied is skipped:
   * a DI* step asks for gradients twice and only the fake score changed in between.
   */
  private publishWeights(): void {
    for (const slot of this.layout) {
      const param = this.model.params[slot.name]
      if (this.publishedDataIds.get(slot.name) === param.dataId) continue
      this.weights.set(param.dataSync() as Float32Array, slot.offset)
      this.publishedDataIds.set(slot.name, param.dataId)
    }
  }
}

/** Gradients of one slice on the current thread; values read outside any tidy (fast path). */
export function gradientsOf(
  model: DataParallelModel,
  batch: BatchArrays,
  lossName: string,
  wrt: string[],
  context: LossContext = { texts: {}, options: undefined },
): { loss: number; metrics: Record<string, number>; grads: Record<string, tf.Tensor> } {
  const inputs = Object.fromEntries(Object.entries(batch).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]))
  const kept: Record<string, tf.Scalar> = {}
  const afterBackward: [string, () => tf.Scalar | undefined][] = []
  try {
    const vars = wrt.map((n) => model.params[n])
    const { value, grads } = tf.variableGrads(() => {
      const out = model.loss(inputs, lossName, context)
      if (!('metrics' in out)) return out
      // metrics leave the tape's tidy: keep them, read and free them below
      for (const [k, m] of Object.entries(out.metrics)) {
        if (typeof m === 'function') afterBackward.push([k, m])
        else kept[k] = tf.keep(m)
      }
      return out.loss
    }, vars)
    for (const [k, read] of afterBackward) {
      const m = read()
      if (m) kept[k] = m
    }
    const loss = value.dataSync()[0]
    value.dispose()
    const metrics = Object.fromEntries(Object.entries(kept).map(([k, m]) => [k, m.dataSync()[0]]))
    // variableGrads keys by variable name; map back to our param names.
    const byName: Record<string, tf.Tensor> = {}
    wrt.forEach((n, i) => {
      byName[n] = grads[vars[i].name] ?? tf.zerosLike(vars[i])
    })
    return { loss, metrics, grads: byName }
  } finally {
    tf.dispose(Object.values(inputs))
    tf.dispose(Object.values(kept))
  }
}

export async function loadModel(moduleUrl: URL, config: unknown): Promise<DataParallelModel> {
  const mod = (await import(moduleUrl.href)) as { createDataParallelModel?: CreateDataParallelModel }
  if (typeof mod.createDataParallelModel !== 'function') {
    throw new Error(`${moduleUrl.href} does not export createDataParallelModel(config)`)
  }
  const model = await mod.createDataParallelModel(config)
  if (!model || typeof model.loss !== 'function' || typeof model.params !== 'object') {
    throw new Error(`${moduleUrl.href}: createDataParallelModel must return { params, loss }`)
  }
  return model
}

export function layoutOf(params: Record<string, tf.Variable>): ParamSlot[] {
  let offset = 0
  return Object.keys(params)
    .sort()
    .map((name) => {
      const v = params[name]
      if (v.dtype !== 'float32') throw new Error(`data-parallel params must be float32; "${name}" is ${v.dtype}`)
      const slot = { name, shape: v.shape, offset, size: v.size }
      offset += v.size
      return slot
    })
}

/** Contiguous [start, end) row ranges, sizes differing by at most one, larger ones first. */
export function splitRows(rows: number, parts: number): [number, number][] {
  const base = Math.floor(rows / parts)
  const extra = rows % parts
  const out: [number, number][] = []
  let start = 0
  for (let i = 0; i < parts; i++) {
    const size = base + (i < extra ? 1 : 0)
    out.push([start, start + size])
    start += size
  }
  return out
}

export function batchRows(batch: BatchArrays): number {
  const entries = Object.entries(batch)
  if (entries.length === 0) throw new Error('data-parallel batch is empty')
  let rows = -1
  for (const [name, { data, shape }] of entries) {
    const size = shape.reduce((a, b) => a * b, 1)
    if (shape.length === 0 || size !== data.length) {
      throw new Error(`batch "${name}": shape [${shape}] does not match ${data.length} values`)
    }
    if (rows >= 0 && shape[0] !== rows) throw new Error(`batch "${name}" has ${shape[0]} rows, others ${rows}`)
    rows = shape[0]
  }
  if (rows < 1) throw new Error('data-parallel batch has no rows')
  return rows
}

export function sliceBatch(batch: BatchArrays, start: number, end: number): BatchArrays {
  const out: BatchArrays = {}
  for (const [name, { data, shape }] of Object.entries(batch)) {
    const rowSize = shape.slice(1).reduce((a, b) => a * b, 1)
    out[name] = { data: data.slice(start * rowSize, end * rowSize), shape: [end - start, ...shape.slice(1)] }
  }
  return out
}

function toUrl(module: string | URL): URL {
  if (module instanceof URL) return module
  return module.startsWith('file:') ? new URL(module) : pathToFileURL(module)
}

/** Under tsx (source checkouts) a .ts worker needs tsx registered inside the worker first. */
function spawn(entry: URL): Worker {
  const path = fileURLToPath(entry)
  if (!path.endsWith('.ts')) return new Worker(entry)
  const tsxApi = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const bootstrap = `import(${tsxApi}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(bootstrap, { eval: true })
}

/** One worker and its request/response plumbing; a worker crash rejects whatever is pending. */
class WorkerHandle {
  private waiting = new Map<string, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>()
  private failure: Error | null = null
  private readonly grads: Float32Array

  constructor(
    private readonly worker: Worker,
    gradsBuffer: SharedArrayBuffer,
  ) {
    this.grads = new Float32Array(gradsBuffer)
    worker.on('message', (m: FromWorker) => {
      const key = m.type === 'ready' ? 'ready' : m.type === 'done' ? `done:${m.id}` : null
      if (m.type === 'error') {
        this.fail(new Error(`data-parallel worker: ${m.message}`))
        return
      }
      if (key) {
        this.waiting.get(key)?.resolve(m)
        this.waiting.delete(key)
      }
    })
    worker.on('error', (err) => this.fail(new Error(`data-parallel worker crashed: ${err.message}`)))
    worker.on('exit', (code) => this.fail(new Error(`data-parallel worker exited (code ${code})`)))
  }

  request(msg: ToWorker, reply: 'ready' | 'done', id?: number): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure)
    const key = reply === 'ready' ? 'ready' : `done:${id}`
    return new Promise((resolve, reject) => {
      this.waiting.set(key, { resolve, reject })
      const transfer = msg.type === 'step' ? Object.values(msg.batch).map((b) => b.data.buffer as ArrayBuffer) : []
      this.worker.postMessage(msg, transfer)
    })
  }

  gradView(slot: ParamSlot): Float32Array {
    return this.grads.subarray(slot.offset, slot.offset + slot.size)
  }

  async terminate(): Promise<void> {
    this.failure ??= new Error('data-parallel worker terminated')
    await this.worker.terminate()
  }

  private fail(err: Error): void {
    this.failure ??= err
    for (const { reject } of this.waiting.values()) reject(err)
    this.waiting.clear()
  }
}
