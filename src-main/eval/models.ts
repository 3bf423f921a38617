// The models under evaluation as onnxruntime packages (how the studio's gallery runs them), their images
// for the prompt x seed plan, and their time per image: through onnxruntime-node like the gallery
// (batches of 16; the reference's sampler steps in TypeScript around its eps network), and for one-step
// generators also through TensorFlow.js (the training backend).
import * as tf from '@tensorflow/tfjs-core'
import { loadCheckpoint } from '../ml/checkpoint/checkpoint.ts'
import { ditEps, ditParamShapes, disposeParams, paramsFromValues, type DitConfig } from '../ml/diffusion/dit.ts'
import { initialNoise, type SamplerKind } from '../ml/diffusion/samplers.ts'
import { generatorSample } from '../ml/distar/losses.ts'
import type { EpsFn } from '../ml/distar/types.ts'
import { OnnxInference } from '../ml/onnx/inference.ts'
import { loadDitSource, resolveModelFolder, type DitSource, type LoadedPackage } from '../ml/onnx/model-package.ts'
import { exportCheckpointGenerator, resolveRunGenerator } from '../core/gallery/run-generator.ts'
import { checkpointGeneratorValues, checkpointPath, listCheckpointSteps } from '../core/runs/run-files.ts'
import type { ImageBatch } from './scoring.ts'
import { perImageMs } from './stats.ts'

/** Images per onnxruntime call, as the gallery generates (core/gallery/generate.ts). */
export const GALLERY_BATCH = 16

export type ModelSpec =
  | { id: string; label: string; kind: 'reference'; steps: number; sampler: SamplerKind; cfg: number }
  /** the generator the runs start from: the reference at t_init, or the run config's generatorInit folder */
  | { id: string; label: string; kind: 'one-step-init'; tInit: number; generatorInit?: string }
  | { id: string; label: string; kind: 'run'; runDir: string; regulariser: 'score' | 'kl'; trainingSteps: number }

export interface GeneratedSet {
  images: ImageBatch
  pkg: LoadedPackage
  /** wall time of each timed pass over all images (the first, generating pass included) */
  passMs: number[]
  ortMsPerImage: number
  /** one-step generators only: TensorFlow.js forward at batch GALLERY_BATCH, ms per image */
  tfjsMsPerImage?: number
}

export async function resolvePackage(spec: ModelSpec, referenceDir: string, cacheDir: string): Promise<LoadedPackage> {
  switch (spec.kind) {
    case 'reference':
      return resolveModelFolder(referenceDir, { cacheDir, name: 'reference' })
    case 'one-step-init':
      if (spec.generatorInit) {
        return exportCheckpointGenerator(spec.generatorInit, { referenceDir, tInit: spec.tInit, name: 'one-step-init', cacheDir, what: `generatorInit ${spec.generatorInit}` })
      }
      return resolveModelFolder(referenceDir, { cacheDir, generatorTInit: spec.tInit, name: 'one-step-init' })
    case 'run':
      return resolveRunGenerator(spec.runDir, { cacheDir, referenceDir })
  }
}

export interface GenerateOptions {
  prompts: string[]
  seeds: number[]
  /** extra timed passes for one-step generators (a pass takes well under a second, so one is noise) */
  timingRepeats: number
  onProgress?: (done: number, total: number) => void
}

/** Every (prompt, seed) pair, prompt-major: image i is prompts[i / seeds] with seeds[i % seeds]. */
export function imagePlan(prompts: readonly string[], seeds: readonly number[]): { prompts: string[]; seeds: number[] } {
  const plan = { prompts: [] as string[], seeds: [] as number[] }
  for (const p of prompts) for (const s of seeds) {
    plan.prompts.push(p)
    plan.seeds.push(s)
  }
  return plan
}

export async function generateSet(inference: OnnxInference, pkg: LoadedPackage, spec: ModelSpec, opts: GenerateOptions): Promise<GeneratedSet> {
  const plan = imagePlan(opts.prompts, opts.seeds)
  const sampling = spec.kind === 'reference' ? { sampler: spec.sampler, steps: spec.steps, guidance: spec.cfg } : undefined
  const request = { prompts: plan.prompts, seeds: plan.seeds, batchSize: GALLERY_BATCH, ...(sampling ? { sampling } : {}) }
  const first = await inference.generate(pkg, { ...request, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) })
  const passMs = [first.elapsedMs]
  // the multi-step reference's single pass is minutes long and already averages over many batches
  if (pkg.manifest.kind === 'generator') {
    for (let r = 0; r < opts.timingRepeats; r++) passMs.push((await inference.generate(pkg, request)).elapsedMs)
    // the first pass warmed the session up; time the later ones when there are any
    if (passMs.length > 1) passMs.shift()
  }
  return {
    images: { pixels: first.pixels, count: first.count, size: first.imageSize },
    pkg, passMs, ortMsPerImage: perImageMs(passMs, first.count),
  }
}

/** The generator weights of a model spec (one-step models only), for the TensorFlow.js timing. */
async function generatorWeights(spec: ModelSpec, reference: DitSource): Promise<Record<string, Float32Array>> {
  if (spec.kind === 'one-step-init' && !spec.generatorInit) return reference.values
  if (spec.kind === 'reference') throw new Error('generatorWeights: not a one-step model')
  let ckDir: string
  if (spec.kind === 'run') {
    const [step] = await listCheckpointSteps(spec.runDir)
    if (step === undefined) throw new Error(`${spec.runDir} has no checkpoint`)
    ckDir = checkpointPath(spec.runDir, step)
  } else {
    ckDir = spec.generatorInit!
  }
  const ck = await loadCheckpoint(ckDir)
  const generator = checkpointGeneratorValues(ck.tensors, ditParamShapes(reference.dit)) // the weights the gallery export uses too
  if ('bad' in generator) throw new Error(`${ckDir}: ${generator.group} tensor '${generator.bad}' is missing or mis-shaped`)
  return generator.values
}

/**
 * The one-step generator's forward pass in TensorFlow.js on the training backend (as the Train view's
 * sample grids make images): median of `repeats` batches of GALLERY_BATCH after one warm-up, per image.
 */
export async function timeTfjsGenerator(spec: ModelSpec, referenceDir: string, tInit: number, prompts: string[], repeats: number): Promise<number> {
  const reference = await loadDitSource(referenceDir)
  const dit: DitConfig = reference.dit
  const params = paramsFromValues(dit, await generatorWeights(spec, reference), false)
  const S = dit.imageSize
  const batchPrompts = Array.from({ length: GALLERY_BATCH }, (_, i) => prompts[i % prompts.length]!)
  const seeds = batchPrompts.map((_, i) => i)
  const eps: EpsFn = (p, x, t, cond) => ditEps(p, dit, x, t, cond as tf.Tensor2D)
  const once = async (): Promise<number> => {
    const started = performance.now()
    const out = tf.tidy(() => {
      const z = tf.tensor4d(initialNoise(seeds, [S, S, 3]), [GALLERY_BATCH, S, S, 3])
      const tokens = tf.tensor2d(reference.tokenizer.encodeBatch(batchPrompts), [GALLERY_BATCH, reference.tokenizer.maxLength], 'int32')
      return generatorSample({ eps, params }, z, tokens, reference.schedule, tInit)
    })
    await out.data()
    out.dispose()
    return performance.now() - started
  }
  try {
    await once()
    const times: number[] = []
    for (let r = 0; r < repeats; r++) times.push(await once())
    return perImageMs(times, GALLERY_BATCH)
  } finally {
    disposeParams(params)
  }
}
