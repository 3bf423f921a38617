// The judge: a plain emoji classifier (image -> which emoji) that scores what the generators draw.
// It is never a training reward: nothing in DI*, KL or the distillation reads it, so a generator
// cannot learn to please it the way it can learn to please the alignment model.
//
//   image [B,S,S,3] --conv3x3 (stride 1)--> stage 0 --conv3x3 stride 2--> stage 1 ... (each stage:
//     conv -> [channel LayerNorm] -> activation, then `blocksPerStage` residual conv3x3 blocks)
//   --> mean over pixels --> LayerNorm --> dense --> logits [B, classes]
//
// Convolutions because this is a classifier of small pictures and on tfjs-wasm their gradients are
// fast (backend/wasm-kernels.ts); the only dense layer is the flag-free 2-D head. The optional norm
// is a LayerNorm over the channels of each pixel (ConvNeXt's), which reuses ops.layerNorm's
// closed-form gradient; GroupNorm would need rank-5 reshapes, which are slow on wasm.
import { createHash } from 'node:crypto'
import * as tf from '@tensorflow/tfjs-core'
import { z } from 'zod'
import { conv2d, dense, layerNorm, silu } from '../backend/ops.ts'
import { CheckpointError, loadCheckpoint, saveCheckpoint, type NamedTensor } from '../checkpoint/checkpoint.ts'
import { Rng } from '../util/rng.ts'

export const JUDGE_MODEL_KIND = 'di-studio-judge'
export const JUDGE_MODEL_VERSION = 1

export const judgeArchitectureSchema = z.object({
  imageSize: z.number().int().min(4).max(256),
  /** stride of stage 0's first conv (1: full resolution; 2: starts at half resolution, ~4x cheaper) */
  stemStride: z.number().int().min(1).max(2),
  /** channels of each stage; every stage after the first halves the resolution (stride-2 conv) */
  widths: z.array(z.number().int().min(1).max(1024)).min(1).max(6),
  /** residual conv3x3 blocks after each stage's first conv */
  blocksPerStage: z.number().int().min(0).max(8),
  norm: z.enum(['none', 'layer']),
  activation: z.enum(['silu', 'relu']),
  numClasses: z.number().int().min(2),
})
export type JudgeArchitecture = z.infer<typeof judgeArchitectureSchema>

/** One class of the judge: an emoji, identified by its key (the same in every style). */
export const judgeClassSchema = z.object({
  key: z.string().min(1),
  name: z.string(),
  category: z.string(),
  /** which split of the data set the emoji belongs to (validation emoji are never seen by generators) */
  split: z.enum(['train', 'validation']),
})
export type JudgeClass = z.infer<typeof judgeClassSchema>

/**
 * Defaults sized so the shipped judge trains in 10-20 minutes on one wasm core (see its MODEL_CARD.md):
 * ~6 ms of CPU per image for forward and backward. Starting at full resolution ([32, 64, 128, 192],
 * stride 1) cost 6x that, so a quarter of the epochs in the same time; the judge is data-starved
 * (about 5 images per emoji), so epochs win.
 */
export function defaultJudgeArchitecture(numClasses: number, imageSize = 32): JudgeArchitecture {
  return { imageSize, stemStride: 2, widths: [32, 64, 128], blocksPerStage: 1, norm: 'layer', activation: 'silu', numClasses }
}

export type JudgeParams = Record<string, tf.Variable>

/** Shapes of every parameter by name (also what a checkpoint must hold). */
export function judgeParamShapes(a: JudgeArchitecture): Record<string, number[]> {
  const shapes: Record<string, number[]> = {}
  let cin = 3
  a.widths.forEach((w, s) => {
    shapes[`stage${s}.in.w`] = [3, 3, cin, w]
    shapes[`stage${s}.in.b`] = [w]
    if (a.norm === 'layer') {
      shapes[`stage${s}.in.norm.g`] = [w]
      shapes[`stage${s}.in.norm.b`] = [w]
    }
    for (let j = 0; j < a.blocksPerStage; j++) {
      const p = `stage${s}.block${j}`
      shapes[`${p}.w`] = [3, 3, w, w]
      shapes[`${p}.b`] = [w]
      if (a.norm === 'layer') {
        shapes[`${p}.norm.g`] = [w]
        shapes[`${p}.norm.b`] = [w]
      }
    }
    cin = w
  })
  shapes['head.norm.g'] = [cin]
  shapes['head.norm.b'] = [cin]
  shapes['head.w'] = [cin, a.numClasses]
  shapes['head.b'] = [a.numClasses]
  return shapes
}

/** Seeded initialisation: He-normal convolutions, residual branches scaled down, a small head. */
export function initJudgeParams(a: JudgeArchitecture, seed: number): JudgeParams {
  const rng = new Rng(seed)
  const params: JudgeParams = {}
  for (const [name, shape] of Object.entries(judgeParamShapes(a))) {
    const size = shape.reduce((n, d) => n * d, 1)
    let values: Float32Array
    if (name.endsWith('.norm.g') ) values = new Float32Array(size).fill(1)
    else if (name.endsWith('.b')) values = new Float32Array(size)
    else {
      const fanIn = shape.length === 4 ? shape[0]! * shape[1]! * shape[2]! : shape[0]!
      const std = name === 'head.w' ? 0.1 / Math.sqrt(fanIn) : (/\.block\d+\.w$/.test(name) ? 0.5 : 1) * Math.sqrt(2 / fanIn)
      values = rng.normals(size)
      for (let i = 0; i < size; i++) values[i]! *= std
    }
    // Unnamed: tfjs variable names are global and several models may live side by side.
    params[name] = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true))
  }
  return params
}

function param(params: JudgeParams, name: string): tf.Variable {
  const p = params[name]
  if (!p) throw new Error(`judge: parameter '${name}' is missing`)
  return p
}

function act(a: JudgeArchitecture, x: tf.Tensor): tf.Tensor {
  return a.activation === 'silu' ? silu(x) : tf.relu(x)
}

function convUnit(params: JudgeParams, a: JudgeArchitecture, prefix: string, x: tf.Tensor4D, stride: number): tf.Tensor4D {
  let h: tf.Tensor = tf.add(conv2d(x, param(params, `${prefix}.w`) as tf.Tensor4D, stride, 'same'), param(params, `${prefix}.b`))
  if (a.norm === 'layer') h = layerNorm(h, { gamma: param(params, `${prefix}.norm.g`) as tf.Tensor1D, beta: param(params, `${prefix}.norm.b`) as tf.Tensor1D, eps: 1e-5 })
  return act(a, h) as tf.Tensor4D
}

/** Pooled features [B, lastWidth] (after the head's LayerNorm). */
export function judgeFeatures(params: JudgeParams, a: JudgeArchitecture, images: tf.Tensor4D): tf.Tensor2D {
  const [B, H, W, C] = images.shape
  if (H !== a.imageSize || W !== a.imageSize || C !== 3) {
    throw new Error(`judge: expected images [B, ${a.imageSize}, ${a.imageSize}, 3], got [${images.shape.join(', ')}]`)
  }
  return tf.tidy(() => {
    let h = images
    a.widths.forEach((_, s) => {
      h = convUnit(params, a, `stage${s}.in`, h, s === 0 ? a.stemStride : 2)
      for (let j = 0; j < a.blocksPerStage; j++) h = tf.add(h, convUnit(params, a, `stage${s}.block${j}`, h, 1)) as tf.Tensor4D
    })
    const [, h2, w2, c2] = h.shape
    const pooled = tf.mean(tf.reshape(h, [B, h2 * w2, c2]), 1) as tf.Tensor2D
    return layerNorm(pooled, { gamma: param(params, 'head.norm.g') as tf.Tensor1D, beta: param(params, 'head.norm.b') as tf.Tensor1D, eps: 1e-5 }) as tf.Tensor2D
  })
}

/** Class logits [B, numClasses]; differentiable w.r.t. the parameters (and the images). */
export function judgeLogits(params: JudgeParams, a: JudgeArchitecture, images: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => dense(judgeFeatures(params, a, images), param(params, 'head.w') as tf.Tensor2D, param(params, 'head.b') as tf.Tensor1D) as tf.Tensor2D)
}

// ---------------------------------------------------------------------------------------------
// Persistence

export const judgeTrainingSummarySchema = z.object({
  steps: z.number().int(),
  batchSize: z.number().int(),
  wallTimeSeconds: z.number(),
  finalLoss: z.number(),
  backend: z.string(),
  seed: z.number().int(),
  command: z.string().optional(),
  /** the styles whose images it trained on, and the one style it never saw */
  trainingStyles: z.array(z.string()),
  heldOutStyle: z.string().optional(),
  /** free-form numbers (accuracies, learning rate, augmentation settings) */
  metrics: z.record(z.string(), z.number()),
})
export type JudgeTrainingSummary = z.infer<typeof judgeTrainingSummarySchema>

const judgeConfigSchema = z.object({
  kind: z.literal(JUDGE_MODEL_KIND),
  version: z.literal(JUDGE_MODEL_VERSION),
  architecture: judgeArchitectureSchema,
  classes: z.array(judgeClassSchema),
  training: judgeTrainingSummarySchema.optional(),
})

/** A loaded judge: architecture, the emoji its classes stand for, and its weights. */
export class JudgeModel {
  readonly classIndex: ReadonlyMap<string, number>

  constructor(
    readonly architecture: JudgeArchitecture,
    readonly classes: readonly JudgeClass[],
    readonly params: JudgeParams,
    readonly training?: JudgeTrainingSummary,
  ) {
    if (classes.length !== architecture.numClasses) {
      throw new Error(`judge: ${classes.length} classes listed but the architecture has ${architecture.numClasses}`)
    }
    const index = new Map<string, number>()
    classes.forEach((c, i) => {
      if (index.has(c.key)) throw new Error(`judge: emoji key ${c.key} is listed twice among the classes`)
      index.set(c.key, i)
    })
    this.classIndex = index
  }

  static create(classes: readonly JudgeClass[], seed: number, overrides: Partial<Omit<JudgeArchitecture, 'numClasses'>> = {}): JudgeModel {
    const architecture = judgeArchitectureSchema.parse({ ...defaultJudgeArchitecture(classes.length), ...overrides, numClasses: classes.length })
    return new JudgeModel(architecture, classes, initJudgeParams(architecture, seed))
  }

  get parameterCount(): number {
    return Object.values(this.params).reduce((n, v) => n + v.size, 0)
  }

  /** Logits [B, numClasses] for images NHWC in [-1, 1]. */
  logits(images: tf.Tensor4D): tf.Tensor2D {
    return judgeLogits(this.params, this.architecture, images)
  }

  /** sha256 (first 16 hex digits) of the weights, for results that should name the judge they came from. */
  get fingerprint(): string {
    const hash = createHash('sha256')
    for (const name of Object.keys(this.params).sort()) {
      hash.update(name)
      hash.update(new Uint8Array((this.params[name]!.dataSync() as Float32Array).slice().buffer))
    }
    return hash.digest('hex').slice(0, 16)
  }

  async save(dir: string, training: JudgeTrainingSummary | undefined = this.training): Promise<void> {
    const tensors: Record<string, NamedTensor> = {}
    for (const [name, v] of Object.entries(this.params)) {
      tensors[name] = { dtype: 'float32', shape: [...v.shape], data: (await v.data()) as Float32Array }
    }
    const config: z.infer<typeof judgeConfigSchema> = {
      kind: JUDGE_MODEL_KIND,
      version: JUDGE_MODEL_VERSION,
      architecture: this.architecture,
      classes: [...this.classes],
      ...(training ? { training } : {}),
    }
    await saveCheckpoint(dir, { config, tensors })
  }

  /**
   * Loads a judge saved by save(). A missing, corrupt or mismatched checkpoint throws CheckpointError
   * (from the checkpoint module, or here when the config is not a judge's).
   */
  static async load(dir: string, opts: { trainable?: boolean } = {}): Promise<JudgeModel> {
    const ck = await loadCheckpoint(dir, {
      expectShapes: (config) => {
        const found = config as { kind?: unknown; version?: unknown } | null
        if (found?.kind !== JUDGE_MODEL_KIND) throw new CheckpointError(`${dir} is not a judge checkpoint (its config.json has kind ${JSON.stringify(found?.kind)}, expected '${JUDGE_MODEL_KIND}')`)
        if (found.version !== JUDGE_MODEL_VERSION) {
          throw new CheckpointError(`${dir} holds a judge of format version ${JSON.stringify(found.version)}; this build reads version ${JUDGE_MODEL_VERSION} (retrain it with npm run train-judge)`)
        }
        const parsed = judgeConfigSchema.safeParse(config)
        if (!parsed.success) throw new CheckpointError(`${dir}: the judge's config.json is invalid: ${z.prettifyError(parsed.error)}`)
        return judgeParamShapes(parsed.data.architecture)
      },
    })
    const config = judgeConfigSchema.parse(ck.config)
    const params: JudgeParams = {}
    for (const [name, shape] of Object.entries(judgeParamShapes(config.architecture))) {
      const t = ck.tensors[name]!
      if (t.dtype !== 'float32') throw new CheckpointError(`${dir}: judge tensor '${name}' is ${t.dtype}, expected float32`)
      params[name] = tf.tidy(() => tf.variable(tf.tensor(t.data, shape, 'float32'), opts.trainable ?? false))
    }
    try {
      return new JudgeModel(config.architecture, config.classes, params, config.training)
    } catch (err) {
      for (const v of Object.values(params)) v.dispose()
      throw new CheckpointError(`${dir}: ${(err as Error).message}`)
    }
  }

  dispose(): void {
    for (const v of Object.values(this.params)) v.dispose()
  }
}
