// The user-preference reward: a Bradley-Terry model over image features (the alignment model's image
// embedding in the studio). Each image gets a score r(x) = head(standardise(features(x))); the chance
// that A is preferred to B is sigmoid(r(A) - r(B)). The head is linear by default (a handful of choices
// cannot fit more), or a one-hidden-layer MLP. Trained from pairwise choices with a held-out split; as a
// Reward it is differentiable w.r.t. the images through the feature extractor.
import * as tf from '@tensorflow/tfjs-core'
import { z } from 'zod'
import { loadCheckpoint, saveCheckpoint, CheckpointError, type NamedTensor } from '../checkpoint/checkpoint.ts'
import { Rng } from '../util/rng.ts'
import { checkRewardInputs, type ImageFeatureExtractor, type Reward } from './reward.ts'

export const PREFERENCE_MODEL_KIND = 'di-studio-preference'

const trainingSummary = z.object({
  choices: z.int(),
  trainPairs: z.int(),
  heldOutPairs: z.int(),
  trainAccuracy: z.number(),
  /** NaN is stored as null (JSON) when nothing was held out */
  heldOutAccuracy: z.number().nullable(),
  seed: z.int(),
  trainedAt: z.string(),
})
export type PreferenceTrainingSummary = z.infer<typeof trainingSummary>

const preferenceConfigSchema = z.strictObject({
  kind: z.literal(PREFERENCE_MODEL_KIND),
  version: z.literal(1),
  /** name of the feature extractor the head was trained on (e.g. 'alignment-image-embedding@<weights fingerprint>'); the reward refuses any other */
  features: z.string().min(1),
  /** alignment model folder the features came from; absent = the shipped one */
  alignmentModelDir: z.string().min(1).optional(),
  featureDim: z.int().min(1),
  /** 0 = linear head */
  hidden: z.int().min(0),
  training: trainingSummary.optional(),
})
export type PreferenceModelConfig = z.infer<typeof preferenceConfigSchema>

function paramShapes(c: Pick<PreferenceModelConfig, 'featureDim' | 'hidden'>): Record<string, number[]> {
  const D = c.featureDim
  const shapes: Record<string, number[]> = { 'standardise.mean': [D], 'standardise.std': [D] }
  if (c.hidden === 0) return { ...shapes, 'out.w': [D, 1] }
  return { ...shapes, 'hidden.w': [D, c.hidden], 'hidden.b': [c.hidden], 'out.w': [c.hidden, 1] }
}

/** tfjs variable names are global: each model's get a serial number */
let variableSerial = 0

export class PreferenceModel {
  constructor(
    readonly config: PreferenceModelConfig,
    /** standardise.* are statistics of the training features, not trained */
    readonly params: Record<string, tf.Variable>,
  ) {}

  /** A freshly initialised head (small random weights, identity standardisation). */
  static create(config: Omit<PreferenceModelConfig, 'kind' | 'version'>, seed: number): PreferenceModel {
    const full: PreferenceModelConfig = { kind: PREFERENCE_MODEL_KIND, version: 1, ...config }
    const rng = new Rng(seed)
    const params: Record<string, tf.Variable> = {}
    tf.tidy(() => {
      for (const [name, shape] of Object.entries(paramShapes(full))) {
        const n = shape.reduce((a, b) => a * b, 1)
        const values = name === 'standardise.std' ? new Float32Array(n).fill(1)
          : name.endsWith('.w') ? rng.normals(n).map((v) => v * 0.01 / Math.sqrt(shape[0]!))
          : new Float32Array(n)
        params[name] = tf.variable(tf.tensor(values, shape), !name.startsWith('standardise.'), `preference${variableSerial++}/${name}`)
      }
    })
    return new PreferenceModel(full, params)
  }

  /** r for each feature row [B, D] -> [B] */
  scoreFeatures(features: tf.Tensor2D): tf.Tensor1D {
    const p = this.params
    return tf.tidy(() => {
      let x = tf.div(tf.sub(features, p['standardise.mean']!), p['standardise.std']!) as tf.Tensor2D
      if (this.config.hidden > 0) x = tf.relu(tf.add(tf.matMul(x, p['hidden.w'] as tf.Tensor2D), p['hidden.b']!)) as tf.Tensor2D
      return tf.reshape(tf.matMul(x, p['out.w'] as tf.Tensor2D), [-1]) as tf.Tensor1D
    })
  }

  async save(dir: string, training?: PreferenceTrainingSummary): Promise<void> {
    const tensors: Record<string, NamedTensor> = {}
    for (const [name, v] of Object.entries(this.params)) tensors[name] = { dtype: 'float32', shape: [...v.shape], data: (await v.data()) as Float32Array }
    const config = { ...this.config, ...(training ? { training } : {}) }
    await saveCheckpoint(dir, { config, tensors })
  }

  /** Loads a saved head; corrupt, truncated or mismatched files throw CheckpointError. */
  static async load(dir: string): Promise<PreferenceModel> {
    let config: PreferenceModelConfig | undefined
    const ck = await loadCheckpoint(dir, {
      expectShapes: (raw) => {
        const parsed = preferenceConfigSchema.safeParse(raw)
        if (!parsed.success) throw new CheckpointError(`${dir} is not a preference model: ${z.prettifyError(parsed.error)}`)
        config = parsed.data
        return paramShapes(parsed.data)
      },
    })
    const params: Record<string, tf.Variable> = {}
    for (const [name, t] of Object.entries(ck.tensors)) {
      params[name] = tf.tidy(() => tf.variable(tf.tensor(t.data as Float32Array, t.shape, 'float32'), false, `preference${variableSerial++}/${name}`))
    }
    return new PreferenceModel(config!, params)
  }

  dispose(): void {
    tf.dispose(Object.values(this.params))
  }
}

/** Pairwise choices as feature rows: row i of `winners` was preferred to row i of `losers`. */
export interface PreferencePairs {
  winners: Float32Array
  losers: Float32Array
  count: number
  dim: number
}

export interface BradleyTerryOptions {
  hidden?: number
  seed?: number
  /** fraction of pairs held out for the accuracy report (default 0.2; at least 1 pair when there are 5+) */
  heldOutFraction?: number
  epochs?: number
  learningRate?: number
  /** L2 penalty on the head's weights */
  l2?: number
  features: string
  alignmentModelDir?: string
}

export interface BradleyTerryResult {
  model: PreferenceModel
  summary: PreferenceTrainingSummary
}

export const MIN_PREFERENCE_PAIRS = 4

/**
 * Fits a Bradley-Terry head by full-batch Adam on -log sigmoid(r(winner) - r(loser)) + l2 |w|^2, on a
 * seeded split of the pairs; reports the fraction of held-out pairs whose winner scores higher.
 */
export function trainBradleyTerry(pairs: PreferencePairs, opts: BradleyTerryOptions): BradleyTerryResult {
  const { count: n, dim: D } = pairs
  if (n < MIN_PREFERENCE_PAIRS) throw new Error(`Need at least ${MIN_PREFERENCE_PAIRS} choices to train the preference model, have ${n}`)
  if (pairs.winners.length !== n * D || pairs.losers.length !== n * D) throw new Error(`preference pairs: expected ${n} x ${D} features on each side`)
  for (const v of [pairs.winners, pairs.losers]) if (v.some((x) => !Number.isFinite(x))) throw new Error('preference pairs: features contain NaN or Infinity')
  const seed = opts.seed ?? 0
  const fraction = opts.heldOutFraction ?? 0.2
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`heldOutFraction must be in [0, 1), got ${fraction}`)
  const order = new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i))
  const nHeld = n >= 5 ? Math.max(1, Math.round(n * fraction)) : 0
  const held = order.slice(0, nHeld)
  const train = order.slice(nHeld)

  const rows = (src: Float32Array, idx: number[]) => {
    const out = new Float32Array(idx.length * D)
    idx.forEach((i, k) => out.set(src.subarray(i * D, (i + 1) * D), k * D))
    return tf.tensor2d(out, [idx.length, D])
  }
  const model = PreferenceModel.create({ features: opts.features, ...(opts.alignmentModelDir ? { alignmentModelDir: opts.alignmentModelDir } : {}), featureDim: D, hidden: opts.hidden ?? 0 }, seed)
  const trainW = rows(pairs.winners, train)
  const trainL = rows(pairs.losers, train)
  try {
    // standardise with the statistics of every training image (both sides)
    tf.tidy(() => {
      const all = tf.concat([trainW, trainL], 0)
      const { mean, variance } = tf.moments(all, 0)
      model.params['standardise.mean']!.assign(mean as tf.Tensor1D)
      model.params['standardise.std']!.assign(tf.add(tf.sqrt(variance), 1e-6) as tf.Tensor1D)
    })
    const trainable = Object.values(model.params).filter((v) => v.trainable)
    const optimizer = tf.train.adam(opts.learningRate ?? 0.05)
    const l2 = opts.l2 ?? 1e-3
    for (let epoch = 0; epoch < (opts.epochs ?? 300); epoch++) {
      tf.tidy(() => {
        optimizer.minimize(() => {
          const margin = tf.sub(model.scoreFeatures(trainW), model.scoreFeatures(trainL))
          const nll = tf.mean(tf.softplus(tf.neg(margin)))
          const penalty = tf.addN(trainable.filter((v) => v.name.includes('.w')).map((v) => tf.sum(tf.square(v))))
          return tf.add(nll, tf.mul(penalty, l2)) as tf.Scalar
        }, false, trainable)
      })
    }
    optimizer.dispose()
    const accuracy = (idx: number[]): number | null => {
      if (idx.length === 0) return null
      const margins = tf.tidy(() => {
        const w = rows(pairs.winners, idx)
        const l = rows(pairs.losers, idx)
        return tf.sub(model.scoreFeatures(w), model.scoreFeatures(l))
      })
      const m = margins.dataSync()
      margins.dispose()
      return m.filter((v) => v > 0).length / idx.length
    }
    const summary: PreferenceTrainingSummary = {
      choices: n, trainPairs: train.length, heldOutPairs: held.length,
      trainAccuracy: accuracy(train) ?? 0, heldOutAccuracy: accuracy(held), seed, trainedAt: new Date().toISOString(),
    }
    return { model, summary }
  } catch (err) {
    model.dispose()
    throw err
  } finally {
    tf.dispose([trainW, trainL])
  }
}

/** The head as a reward: r(x) from the extractor's features; prompts are checked but not used. */
export function preferenceReward(model: PreferenceModel, extractor: ImageFeatureExtractor): Reward {
  if (extractor.dim !== model.config.featureDim) {
    throw new Error(`preference model was trained on ${model.config.featureDim}-dimensional features, '${extractor.name}' gives ${extractor.dim}`)
  }
  if (extractor.name !== model.config.features) {
    throw new Error(`the preference model was trained on features '${model.config.features}', but the reward would feed it '${extractor.name}' ` +
      '(the alignment model changed since it was trained): make a few choices or press Train in Prefer to retrain it')
  }
  const name = 'preference'
  return {
    name,
    score(images, prompts) {
      checkRewardInputs(name, images, prompts)
      return tf.tidy(() => model.scoreFeatures(extractor.features(images)))
    },
  }
}
