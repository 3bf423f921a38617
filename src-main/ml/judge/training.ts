// Training the judge: which emoji are its classes, which images it learns from, the augmentation,
// and an Adam trainer with warm-up and cosine decay (the alignment trainer's schedule).
//
// Data rule: the judge learns every image of the training styles, training AND validation emoji
// (so it can score validation prompts too), and never sees the held-out style, whose images measure
// its "real-image ceiling": how often it names an emoji it has only seen drawn by other artists.
import * as tf from '@tensorflow/tfjs-core'
import { warmupCosineLr } from '../util/lr-schedule.ts'
import type { EmojiItem } from '../data/emoji-catalog.ts'
import type { Rng } from '../util/rng.ts'
import { judgeLogits, type JudgeClass, type JudgeModel } from './classifier.ts'

/** The pixels of one split of the data set, as loadEmojiDataset returns them. */
export interface LabelledSplit {
  imageSize: number
  /** N*S*S*3, NHWC, in [-1, 1] */
  images: Float32Array
  items: readonly Pick<EmojiItem, 'key' | 'name' | 'style' | 'category'>[]
}

/** Images with class labels, ready for batches. */
export interface JudgeData {
  imageSize: number
  images: Float32Array
  /** class index per image */
  labels: Int32Array
  count: number
}

/**
 * The judge's classes: every emoji key that has at least one image in `styles`, in data order
 * (training split first, then validation). An emoji drawn only in other styles has no training
 * image, so it cannot be a class.
 */
export function judgeClasses(splits: { train: LabelledSplit; validation: LabelledSplit }, styles: readonly string[]): JudgeClass[] {
  const wanted = new Set(styles)
  const seen = new Map<string, JudgeClass>()
  for (const [split, data] of [['train', splits.train], ['validation', splits.validation]] as const) {
    for (const it of data.items) {
      if (!wanted.has(it.style) || seen.has(it.key)) continue
      seen.set(it.key, { key: it.key, name: it.name, category: it.category, split })
    }
  }
  if (seen.size < 2) throw new Error(`judge: the styles ${styles.join(', ')} give ${seen.size} emoji; a classifier needs at least 2`)
  return [...seen.values()]
}

/**
 * The images of `styles` (or of every style when omitted) from the given splits whose emoji is one
 * of the judge's classes, with their class index. Images of other emoji are skipped and counted.
 */
export function labelledImages(splits: readonly LabelledSplit[], classIndex: ReadonlyMap<string, number>, styles?: readonly string[]): JudgeData & { items: LabelledSplit['items'][number][]; skipped: number } {
  if (splits.length === 0) throw new Error('labelledImages: no splits given')
  const imageSize = splits[0]!.imageSize
  const floats = imageSize * imageSize * 3
  const wanted = styles ? new Set(styles) : null
  const picks: { split: LabelledSplit; i: number; label: number }[] = []
  let skipped = 0
  for (const split of splits) {
    if (split.imageSize !== imageSize) throw new Error(`labelledImages: splits of ${imageSize} and ${split.imageSize} px`)
    split.items.forEach((it, i) => {
      if (wanted && !wanted.has(it.style)) return
      const label = classIndex.get(it.key)
      if (label === undefined) skipped++
      else picks.push({ split, i, label })
    })
  }
  const images = new Float32Array(picks.length * floats)
  picks.forEach(({ split, i }, j) => images.set(split.images.subarray(i * floats, (i + 1) * floats), j * floats))
  return {
    imageSize,
    images,
    labels: Int32Array.from(picks.map((p) => p.label)),
    count: picks.length,
    items: picks.map(({ split, i }) => split.items[i]!),
    skipped,
  }
}

// ---------------------------------------------------------------------------------------------
// Augmentation

export interface AugmentOptions {
  /** largest shift in pixels, each axis (uniform in [-maxShift, maxShift]; the border fills with white) */
  maxShift: number
  /** scale uniform in [1 - scaleJitter, 1 + scaleJitter] about the centre */
  scaleJitter: number
  /** added to every value (the images are in [-1, 1]): uniform in [-brightness, brightness] */
  brightness: number
  /** contrast factor about the image's mean, uniform in [1 - contrast, 1 + contrast] */
  contrast: number
}

/**
 * A few pixels of shift, a little scale, a little brightness and contrast. No flips (arrows and
 * hands have a direction) and no hue changes (colour tells a red apple from a green one).
 */
export const DEFAULT_AUGMENT: AugmentOptions = { maxShift: 3, scaleJitter: 0.1, brightness: 0.1, contrast: 0.15 }
export const NO_AUGMENT: AugmentOptions = { maxShift: 0, scaleJitter: 0, brightness: 0, contrast: 0 }

/**
 * Writes an augmented copy of one S x S x 3 image (src at srcOffset) into out at outOffset:
 * bilinear resampling of the shifted and scaled image (white outside it), then brightness and
 * contrast, clipped to [-1, 1]. Draws exactly five uniforms from rng whatever the options.
 */
export function augmentImage(src: Float32Array, srcOffset: number, out: Float32Array, outOffset: number, size: number, rng: Rng, opts: AugmentOptions): void {
  const u = () => 2 * rng.uniform() - 1
  const tx = u() * opts.maxShift
  const ty = u() * opts.maxShift
  const scale = 1 + u() * opts.scaleJitter
  const bright = u() * opts.brightness
  const contrast = 1 + u() * opts.contrast
  const c = size / 2
  const at = (x: number, y: number, ch: number): number => (x < 0 || y < 0 || x >= size || y >= size ? 1 : src[srcOffset + (y * size + x) * 3 + ch]!)
  let sum = 0
  for (let y = 0; y < size; y++) {
    // output pixel centre -> source coordinates (pixel centres at integer + 0.5)
    const sy = (y + 0.5 - c - ty) / scale + c - 0.5
    const y0 = Math.floor(sy)
    const fy = sy - y0
    for (let x = 0; x < size; x++) {
      const sx = (x + 0.5 - c - tx) / scale + c - 0.5
      const x0 = Math.floor(sx)
      const fx = sx - x0
      for (let ch = 0; ch < 3; ch++) {
        const v = (1 - fy) * ((1 - fx) * at(x0, y0, ch) + fx * at(x0 + 1, y0, ch)) + fy * ((1 - fx) * at(x0, y0 + 1, ch) + fx * at(x0 + 1, y0 + 1, ch))
        out[outOffset + (y * size + x) * 3 + ch] = v
        sum += v
      }
    }
  }
  const mean = sum / (size * size * 3)
  for (let i = 0; i < size * size * 3; i++) {
    const v = (out[outOffset + i]! - mean) * contrast + mean + bright
    out[outOffset + i] = v < -1 ? -1 : v > 1 ? 1 : v
  }
}

// ---------------------------------------------------------------------------------------------
// Batches

/** Shuffled passes over the data: every image once per epoch, in a new seeded order each epoch. */
export class EpochSampler {
  private order: number[] = []
  private next = 0
  epoch = 0

  constructor(
    readonly count: number,
    private readonly rng: Rng,
  ) {
    if (!(count >= 1)) throw new Error('EpochSampler: no images')
  }

  take(n: number): number[] {
    const out: number[] = []
    while (out.length < n) {
      if (this.next >= this.order.length) {
        this.order = this.rng.shuffle(Array.from({ length: this.count }, (_, i) => i))
        this.next = 0
        this.epoch++
      }
      out.push(this.order[this.next++]!)
    }
    return out
  }
}

export interface JudgeBatch {
  images: Float32Array
  labels: Int32Array
}

/** The images at `indices`, augmented (pass NO_AUGMENT for plain copies). */
export function makeBatch(data: JudgeData, indices: readonly number[], rng: Rng, augment: AugmentOptions): JudgeBatch {
  const S = data.imageSize
  const floats = S * S * 3
  const images = new Float32Array(indices.length * floats)
  const labels = new Int32Array(indices.length)
  indices.forEach((index, b) => {
    augmentImage(data.images, index * floats, images, b * floats, S, rng, augment)
    labels[b] = data.labels[index]!
  })
  return { images, labels }
}

// ---------------------------------------------------------------------------------------------
// Trainer

export interface JudgeTrainerOptions {
  learningRate: number
  warmupSteps: number
  totalSteps: number
  /** label smoothing of the cross-entropy targets (0 = one-hot) */
  labelSmoothing: number
}

/** Cross-entropy of the logits against (smoothed) one-hot labels, mean over the batch. */
export function judgeLoss(judge: JudgeModel, images: tf.Tensor4D, labels: tf.Tensor1D, labelSmoothing: number): tf.Scalar {
  return tf.tidy(() => {
    const C = judge.architecture.numClasses
    const logits = judgeLogits(judge.params, judge.architecture, images)
    const onehot = tf.oneHot(labels, C)
    const targets = labelSmoothing > 0 ? tf.add(tf.mul(onehot, 1 - labelSmoothing), labelSmoothing / C) : onehot
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits, 1)), 1))) as tf.Scalar
  })
}

export class JudgeTrainer {
  private readonly optimizer: tf.AdamOptimizer
  private readonly variables: tf.Variable[]
  step = 0

  constructor(
    readonly judge: JudgeModel,
    public opts: JudgeTrainerOptions,
  ) {
    if (!(opts.learningRate > 0)) throw new RangeError(`learningRate must be > 0, got ${opts.learningRate}`)
    if (!(opts.totalSteps >= 1)) throw new RangeError(`totalSteps must be >= 1, got ${opts.totalSteps}`)
    if (!(opts.labelSmoothing >= 0 && opts.labelSmoothing < 1)) throw new RangeError(`labelSmoothing must be in [0, 1), got ${opts.labelSmoothing}`)
    this.variables = Object.values(judge.params).filter((v) => v.trainable)
    if (this.variables.length === 0) throw new Error('JudgeTrainer: the judge has no trainable parameters (load it with trainable: true)')
    this.optimizer = tf.train.adam(opts.learningRate, 0.9, 0.999, 1e-7)
  }

  /** Changes the cosine decay's length; only during warm-up, whose rates do not depend on it. */
  setTotalSteps(totalSteps: number): void {
    if (this.step > this.opts.warmupSteps) throw new Error(`JudgeTrainer: totalSteps can only change during warm-up (step ${this.step})`)
    if (!(Number.isInteger(totalSteps) && totalSteps >= Math.max(1, this.step))) throw new RangeError(`totalSteps must be an integer >= ${Math.max(1, this.step)}, got ${totalSteps}`)
    this.opts = { ...this.opts, totalSteps }
  }

  /** Linear warm-up, then cosine decay to 5% of the peak at totalSteps. */
  learningRateAt(step: number): number {
    return warmupCosineLr({ ...this.opts, minLrFraction: 0.05 }, step)
  }

  /** One Adam step; returns the loss before the update. */
  trainStep(batch: JudgeBatch): number {
    const a = this.judge.architecture
    const B = batch.labels.length
    ;(this.optimizer as unknown as { learningRate: number }).learningRate = this.learningRateAt(this.step)
    const images = tf.tensor4d(batch.images, [B, a.imageSize, a.imageSize, 3])
    const labels = tf.tensor1d(batch.labels, 'int32')
    const loss = this.optimizer.minimize(() => judgeLoss(this.judge, images, labels, this.opts.labelSmoothing), true, this.variables)
    tf.dispose([images, labels])
    this.step++
    if (!loss) throw new Error('JudgeTrainer: the optimiser returned no loss')
    const value = loss.dataSync()[0]!
    loss.dispose()
    return value
  }

  dispose(): void {
    this.optimizer.dispose()
  }
}
