// Regression distillation of a one-step generator (Luhman & Luhman 2021; the regression loss of DMD v1):
// the reference's own multi-step samples are drawn once for fixed (noise, prompt) pairs, then the
// one-step generator g(z, c), initialised exactly as DI* initialises it (the reference read as
// x0 = (z - sigma eps(z, t_init, c)) / alpha at t_init), is fitted to them by mean squared error.
//
// This is the "already distilled one-step model" that DI* post-trains in the paper (di-star.md §1 starts
// from DMD2). It is a stage before DI*, run once per reference model (npm run distill), and its result is a
// generatorInit folder for DI* runs. Pair generation takes a callback, so the CLI can draw the targets in
// onnxruntime (about 7x faster than TF.js here) and a test can draw them with the tfjs sampler.
// trainStepParallel computes the same step's gradient on several threads (regression-parallel.ts).
import * as tf from '@tensorflow/tfjs-core'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DataParallelModel, DataParallelTrainer } from '../backend/data-parallel.ts'
import { CheckpointError, loadCheckpoint, MODEL_FILE, saveCheckpoint, type Checkpoint, type NamedTensor } from '../checkpoint/checkpoint.ts'
import { ditEps, type DitParams } from '../diffusion/dit.ts'
import type { DiffusionModel } from '../diffusion/model.ts'
import { initialNoise, type SamplerKind } from '../diffusion/samplers.ts'
import { Adam, type AdamState } from '../distar/adam.ts'
import { generatorSample } from '../distar/losses.ts'
import { generatorParamName } from '../distar/step-model.ts'
import type { EpsModel } from '../distar/types.ts'
import { hashString, Rng } from '../util/rng.ts'
import { regressionParallelModel, type RegressionParallelConfig } from './regression-parallel.ts'

/** How the regression targets are drawn from the reference. */
export interface PairSpec {
  count: number
  /** picks the prompts and the noise seeds */
  seed: number
  sampler: SamplerKind
  steps: number
  guidance: number
  /** sha256 of the reference's model.safetensors: pairs of another reference are refused */
  referenceSha256: string
}

export interface DistillPairs {
  spec: PairSpec
  prompts: string[]
  /** the sampler seed of each pair: its noise z is initialNoise([seed]) */
  seeds: number[]
  /** [count, H, W, 3] in [-1, 1]: the reference's sample from that noise and prompt */
  targets: Float32Array
}

/** Draws multi-step reference samples: one image per (prompt, seed), [N, H, W, 3] in [-1, 1]. */
export type ReferenceSampler = (prompts: string[], seeds: number[], onProgress: (done: number) => void) => Promise<Float32Array>

export const PAIRS_KIND = 'distill-pairs'
export const STATE_KIND = 'regression-distill-state'
/** config.json kind of a distilled generator folder (loadable as a run's generatorInit) */
export const ONE_STEP_GENERATOR_KIND = 'one-step-generator'

export class DistillError extends Error {
  override name = 'DistillError'
}

/** sha256 of a model folder's weights file: identifies the reference a generator was distilled from. */
export async function modelWeightsSha256(modelDir: string): Promise<string> {
  return createHash('sha256').update(await readFile(join(modelDir, MODEL_FILE))).digest('hex')
}

/** The prompts (uniform over the training prompts) and seeds of the pairs; a function of spec.seed only. */
export function pairPlan(trainPrompts: readonly string[], count: number, seed: number): { prompts: string[]; seeds: number[] } {
  if (trainPrompts.length === 0) throw new DistillError('no training prompts to distil on')
  const rng = new Rng(hashString(`distill-pairs/${seed}`))
  const prompts = Array.from({ length: count }, () => rng.pick(trainPrompts))
  // seeds far from the small ones sample grids and the eval use, so no pair repeats a shown image's noise
  const seeds = Array.from({ length: count }, (_, i) => 1_000_000 + seed * count + i)
  return { prompts, seeds }
}

/** The spec with its keys in one order, so saved and requested specs compare as JSON. */
export function canonicalPairSpec(s: PairSpec): PairSpec {
  return { count: s.count, seed: s.seed, sampler: s.sampler, steps: s.steps, guidance: s.guidance, referenceSha256: s.referenceSha256 }
}

export async function makePairs(spec: PairSpec, trainPrompts: readonly string[], draw: ReferenceSampler, onProgress: (done: number) => void = () => {}): Promise<DistillPairs> {
  spec = canonicalPairSpec(spec)
  const { prompts, seeds } = pairPlan(trainPrompts, spec.count, spec.seed)
  const targets = await draw(prompts, seeds, onProgress)
  if (targets.length % spec.count !== 0) throw new DistillError(`the sampler returned ${targets.length} values for ${spec.count} pairs`)
  for (let k = 0; k < targets.length; k++) {
    if (!Number.isFinite(targets[k]!)) throw new DistillError(`the reference sampler produced a non-finite value (pair ${Math.floor(k / (targets.length / spec.count))})`)
  }
  return { spec, prompts, seeds, targets }
}

export async function savePairs(dir: string, pairs: DistillPairs, imageShape: readonly number[]): Promise<void> {
  await saveCheckpoint(dir, {
    config: { kind: PAIRS_KIND, spec: pairs.spec, prompts: pairs.prompts, seeds: pairs.seeds },
    tensors: { targets: { dtype: 'float32', shape: [pairs.spec.count, ...imageShape], data: pairs.targets } },
  })
}

/** Saved pairs, checked against the spec they must have been drawn with (a mismatch is a DistillError). */
export async function loadPairs(dir: string, expected: PairSpec, imageShape: readonly number[]): Promise<DistillPairs> {
  const expect = canonicalPairSpec(expected)
  const ck = await loadCheckpoint(dir, { expectShapes: { targets: [expect.count, ...imageShape] } })
  const c = ck.config as { kind?: unknown; spec?: unknown; prompts?: unknown; seeds?: unknown }
  if (c?.kind !== PAIRS_KIND) throw new DistillError(`${dir} does not hold distillation pairs (kind ${JSON.stringify(c?.kind)})`)
  if (JSON.stringify(c.spec) !== JSON.stringify(expect)) {
    throw new DistillError(`${dir} holds pairs drawn with ${JSON.stringify(c.spec)}, this distillation asks for ${JSON.stringify(expect)}; use another --out or delete the folder`)
  }
  const prompts = c.prompts, seeds = c.seeds
  if (!Array.isArray(prompts) || !Array.isArray(seeds) || prompts.length !== expect.count || seeds.length !== expect.count
    || !prompts.every((p) => typeof p === 'string') || !seeds.every((s) => Number.isInteger(s))) {
    throw new CheckpointError(`${dir}: the pairs' prompts or seeds are damaged`)
  }
  return { spec: expect, prompts: prompts as string[], seeds: seeds as number[], targets: ck.tensors.targets!.data as Float32Array }
}

export interface RegressionOptions {
  tInit: number
  batch: number
  lr: number
  /** picks each step's batch: step s draws from Rng(seed, s), so a resumed run draws the same batches */
  seed: number
}

/**
 * The one-step generator fitted to the pairs. Every step: a batch of pairs (drawn with replacement),
 * loss = mean over pixels of (g(z, c) - target)^2, one Adam update (beta1 0.9, beta2 0.99).
 * State (weights, moments, step) round-trips exactly, so an interrupted distillation resumes bit for bit.
 */
export class RegressionDistiller {
  readonly generator: DitParams
  private readonly adam: Adam
  private readonly noise: Float32Array
  private steps = 0
  readonly opts: RegressionOptions
  /** what the worker threads build (regression-parallel.ts): pass it to DataParallelTrainer.create as config */
  readonly parallelConfig: RegressionParallelConfig
  /** the regression loss over this.generator: pass it to DataParallelTrainer.create as mainModel */
  readonly parallelModel: DataParallelModel

  constructor(private readonly reference: DiffusionModel, private readonly pairs: DistillPairs, options: RegressionOptions) {
    const opts = { tInit: options.tInit, batch: options.batch, lr: options.lr, seed: options.seed }
    this.opts = opts
    if (!(opts.batch >= 1) || !Number.isInteger(opts.batch)) throw new DistillError(`batch must be a positive integer, got ${opts.batch}`)
    if (!(opts.lr > 0)) throw new DistillError(`lr must be positive, got ${opts.lr}`)
    const per = reference.imageShape.reduce((a, b) => a * b, 1)
    if (pairs.targets.length !== pairs.spec.count * per) throw new DistillError(`the pairs hold ${pairs.targets.length} values, not ${pairs.spec.count} images of [${reference.imageShape}]`)
    this.noise = initialNoise(pairs.seeds, reference.imageShape)
    this.generator = reference.cloneParams(true)
    this.adam = new Adam(this.generator as Record<string, tf.Variable>, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8 })
    this.parallelConfig = { dit: reference.dit, schedule: reference.schedule.config, tInit: opts.tInit }
    this.parallelModel = regressionParallelModel(this.parallelConfig, this.generator)
  }

  get step(): number {
    return this.steps
  }

  private model(): EpsModel {
    const dit = this.reference.dit
    return { eps: (p, x, t, cond) => ditEps(p as DitParams, dit, x, t, cond as tf.Tensor2D), params: this.generator }
  }

  /** g(z, c) for noise z [B, H, W, 3] and prompts (the same map DI* trains, losses.generatorSample). */
  sample(z: tf.Tensor4D, prompts: string[]): tf.Tensor4D {
    return tf.tidy(() => generatorSample(this.model(), z, this.reference.encodePrompts(prompts), this.reference.schedule, this.opts.tInit))
  }

  /** The pair indices step `step` (1-based) trains on. */
  batchIndices(step: number): number[] {
    const rng = new Rng(hashString(`distill-batch/${this.opts.seed}/${step}`))
    return Array.from({ length: this.opts.batch }, () => rng.int(0, this.pairs.spec.count - 1))
  }

  /** The noise, targets and prompts of step `step`'s batch (1-based), row by row. */
  private batchArrays(step: number): { shape: [number, number, number, number]; z: Float32Array; x: Float32Array; prompts: string[] } {
    const idx = this.batchIndices(step)
    const shape = [idx.length, ...this.reference.imageShape] as [number, number, number, number]
    const per = shape[1] * shape[2] * shape[3]
    const z = new Float32Array(idx.length * per)
    const x = new Float32Array(idx.length * per)
    idx.forEach((j, k) => {
      z.set(this.noise.subarray(j * per, (j + 1) * per), k * per)
      x.set(this.pairs.targets.subarray(j * per, (j + 1) * per), k * per)
    })
    return { shape, z, x, prompts: idx.map((j) => this.pairs.prompts[j]!) }
  }

  /** One regression update; returns the batch's mean squared error (before the update). A non-finite loss changes nothing and throws. */
  trainStep(): number {
    const { shape, z, x, prompts } = this.batchArrays(this.steps + 1)
    const loss = tf.tidy(() => {
      const zt = tf.tensor4d(z, shape)
      const target = tf.tensor4d(x, shape)
      const vars = Object.values(this.generator) as tf.Variable[]
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(this.sample(zt, prompts), target))) as tf.Scalar, vars)
      const lossValue = value.dataSync()[0]!
      if (!Number.isFinite(lossValue)) return lossValue
      this.adam.apply(Object.fromEntries(Object.entries(this.generator).map(([k, v]) => [k, grads[v.name]!])), this.opts.lr)
      return lossValue
    })
    if (!Number.isFinite(loss)) throw new DistillError(`step ${this.steps + 1}: the regression loss is ${loss}; nothing was updated`)
    this.steps++
    return loss
  }

  /**
   * trainStep with the batch's gradient computed on all of `dp`'s threads: the same batch, the same Adam
   * update with the row-weighted average of the slices' gradients (equal to trainStep up to float
   * summation order). `dp` must have been created with this distiller's parallelModel as mainModel and
   * parallelConfig as config; the caller owns and disposes it. The state does not depend on the thread
   * count, so a distillation may resume with another one.
   */
  async trainStepParallel(dp: DataParallelTrainer): Promise<number> {
    if (dp.model !== this.parallelModel) throw new DistillError('trainStepParallel: the DataParallelTrainer was not created with this distiller\'s parallelModel as mainModel')
    const { shape, z, x, prompts } = this.batchArrays(this.steps + 1)
    const rows = shape[0]
    const cond = this.reference.tokenizer.encodeBatch(prompts)
    const result = await dp.computeGradients({
      z: { data: z, shape },
      target: { data: x, shape },
      cond: { data: cond, shape: [rows, cond.length / rows] },
    })
    try {
      if (!Number.isFinite(result.loss)) throw new DistillError(`step ${this.steps + 1}: the regression loss is ${result.loss}; nothing was updated`)
      this.adam.apply(result.grads, this.opts.lr)
    } finally {
      tf.dispose(Object.values(result.grads))
    }
    this.steps++
    return result.loss
  }

  generatorValues(): Record<string, Float32Array> {
    return Object.fromEntries(Object.entries(this.generator).map(([k, v]) => [k, Float32Array.from(v.dataSync() as Float32Array)]))
  }

  private generatorTensors(): Record<string, NamedTensor> {
    return Object.fromEntries(Object.entries(this.generator).map(([k, v]) => [generatorParamName(k), { dtype: 'float32', shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) } satisfies NamedTensor]))
  }

  /** The resumable state: generator weights, Adam moments and step, with the options and pairs they belong to. */
  exportState(): Checkpoint {
    const adam = this.adam.exportState()
    const tensors = this.generatorTensors()
    for (const [k, t] of Object.entries(adam.moments)) tensors[`adam/${k}`] = t
    return { config: { kind: STATE_KIND, step: this.steps, adamStep: adam.step, opts: this.opts, pairs: canonicalPairSpec(this.pairs.spec) }, tensors }
  }

  /** Restores exportState's output; one that belongs to other options or pairs is refused before anything changes. */
  importState(ck: Checkpoint): void {
    const c = ck.config as { kind?: unknown; step?: unknown; adamStep?: unknown; opts?: unknown; pairs?: unknown }
    if (c?.kind !== STATE_KIND || !Number.isInteger(c.step) || !Number.isInteger(c.adamStep)) throw new DistillError('not a regression distillation state')
    if (JSON.stringify(c.opts) !== JSON.stringify(this.opts) || JSON.stringify(c.pairs) !== JSON.stringify(canonicalPairSpec(this.pairs.spec))) {
      throw new DistillError(`the saved state was made with ${JSON.stringify({ opts: c.opts, pairs: c.pairs })}, not ${JSON.stringify({ opts: this.opts, pairs: this.pairs.spec })}`)
    }
    const moments: AdamState['moments'] = {}
    for (const [k, t] of Object.entries(ck.tensors)) if (k.startsWith('adam/')) moments[k.slice('adam/'.length)] = t
    this.adam.checkState({ step: c.adamStep as number, moments })
    for (const [k, v] of Object.entries(this.generator)) {
      const t = ck.tensors[generatorParamName(k)]
      if (!t || t.dtype !== 'float32' || t.data.length !== v.size) throw new DistillError(`the saved state has no usable '${generatorParamName(k)}'`)
    }
    this.adam.importState({ step: c.adamStep as number, moments })
    tf.tidy(() => {
      for (const [k, v] of Object.entries(this.generator)) v.assign(tf.tensor(ck.tensors[generatorParamName(k)]!.data as Float32Array, v.shape, 'float32'))
    })
    this.steps = c.step as number
  }

  /**
   * Writes the distilled generator as a folder a DI* run's generatorInit takes: tensors 'generator/<param>',
   * config.json with its t_init and the reference it belongs to (checked when a run loads it).
   */
  async saveGenerator(dir: string, info: Record<string, unknown>): Promise<void> {
    await saveCheckpoint(dir, {
      config: {
        kind: ONE_STEP_GENERATOR_KIND, tInit: this.opts.tInit, reference: { sha256: this.pairs.spec.referenceSha256 },
        distillation: { method: 'regression', steps: this.steps, ...this.opts, pairs: this.pairs.spec, ...info },
      },
      tensors: this.generatorTensors(),
    })
  }

  dispose(): void {
    this.adam.dispose()
    tf.dispose(Object.values(this.generator))
  }
}
