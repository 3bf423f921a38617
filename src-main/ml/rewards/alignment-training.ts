// Contrastive training of the alignment model (CLIP's recipe at emoji scale) and its evaluation
// by caption retrieval.
//
// Loss: symmetric InfoNCE. For a batch of B (image, caption) pairs with L2-normalised embeddings,
// logits = exp(logitScale) * I T^T, and the loss is the mean of the image->text and text->image
// cross-entropies. Two slots of a batch can carry the same caption text (e.g. "kissing face" for the
// twitter and the google image), so the targets are soft: every slot with the same caption counts as
// a positive, instead of punishing the model for matching a true pair.
import * as tf from '@tensorflow/tfjs-core'
import { warmupCosineLr } from '../util/lr-schedule.ts'
import { matMul2d } from '../backend/ops.ts'
import type { EmojiSplit } from '../data/emoji-dataset.ts'
import type { Rng } from '../util/rng.ts'
import { AlignmentModel, imageEmbedding, logitScale, textEmbedding, type AlignmentParams, type AlignmentArchitecture, type TextFeatures } from './alignment-model.ts'

export interface ContrastiveBatch {
  /** B*H*W*3 in [-1, 1] */
  images: Float32Array
  /** one caption variant per image */
  captions: string[]
  /** indices into the split */
  indices: number[]
}

/**
 * B distinct images of the split (without replacement, so a batch never holds the same image twice)
 * with one randomly chosen caption variant each.
 */
export function sampleContrastiveBatch(split: EmojiSplit, rng: Rng, batchSize: number): ContrastiveBatch {
  const n = split.items.length
  if (!Number.isInteger(batchSize) || batchSize < 2) throw new RangeError(`contrastive batch size must be an integer >= 2, got ${batchSize}`)
  if (batchSize > n) throw new RangeError(`contrastive batch size ${batchSize} exceeds the ${n} images of the split`)
  const floats = split.imageSize * split.imageSize * 3
  // Partial Fisher-Yates on an index array: B distinct indices in O(n) without rejection.
  const pool = Array.from({ length: n }, (_, i) => i)
  const indices: number[] = []
  for (let b = 0; b < batchSize; b++) {
    const j = b + Math.floor(rng.uniform() * (n - b))
    ;[pool[b], pool[j]] = [pool[j]!, pool[b]!]
    indices.push(pool[b]!)
  }
  const images = new Float32Array(batchSize * floats)
  const captions = indices.map((index, b) => {
    images.set(split.images.subarray(index * floats, (index + 1) * floats), b * floats)
    return rng.pick(split.items[index]!.captions)
  })
  return { images, captions, indices }
}

/** Row-normalised [B, B] target matrix: slot j is a positive for slot i when their captions are equal. */
export function captionMatchTargets(captions: string[]): Float32Array {
  const B = captions.length
  const t = new Float32Array(B * B)
  for (let i = 0; i < B; i++) {
    let count = 0
    for (let j = 0; j < B; j++) if (captions[i] === captions[j]) count++
    for (let j = 0; j < B; j++) if (captions[i] === captions[j]) t[i * B + j] = 1 / count
  }
  return t
}

/**
 * Symmetric InfoNCE with soft targets (symmetric, since caption equality is).
 * @param imageEmb [B, E] normalised; @param textEmb [B, E] normalised; @param targets [B, B] rows sum to 1
 */
export function symmetricInfoNce(imageEmb: tf.Tensor2D, textEmb: tf.Tensor2D, scale: tf.Scalar, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    // I T^T with an explicit transpose: a transposed-flag matMul is the slow path on wasm.
    const logits = tf.mul(matMul2d(imageEmb, tf.transpose(textEmb)), scale) as tf.Tensor2D
    const imageToText = tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits, 1)), 1)))
    const textToImage = tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(tf.transpose(logits), 1)), 1)))
    return tf.mul(tf.add(imageToText, textToImage), 0.5) as tf.Scalar
  })
}

/** The training loss of one batch as a pure function of the parameters. */
export function contrastiveLoss(params: AlignmentParams, a: AlignmentArchitecture, images: tf.Tensor4D, text: TextFeatures, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() =>
    symmetricInfoNce(imageEmbedding(params, a, images), textEmbedding(params, a, text), logitScale(params), targets),
  )
}

export interface AlignmentTrainerOptions {
  batchSize: number
  /** peak Adam learning rate */
  learningRate: number
  /** linear warm-up steps, then cosine decay to 10% of the peak at totalSteps */
  warmupSteps: number
  totalSteps: number
}

/** One Adam optimiser over the model's trainable parameters, with a warm-up + cosine schedule. */
export class AlignmentTrainer {
  private readonly optimizer: tf.AdamOptimizer
  private readonly variables: tf.Variable[]
  step = 0

  constructor(
    readonly model: AlignmentModel,
    public opts: AlignmentTrainerOptions,
  ) {
    if (!(opts.learningRate > 0)) throw new RangeError(`learningRate must be > 0, got ${opts.learningRate}`)
    if (!(opts.totalSteps >= 1)) throw new RangeError(`totalSteps must be >= 1, got ${opts.totalSteps}`)
    this.variables = Object.values(model.params).filter((v) => v.trainable)
    if (this.variables.length === 0) throw new Error('AlignmentTrainer: the model has no trainable parameters (load it with trainable: true)')
    this.optimizer = tf.train.adam(opts.learningRate, 0.9, 0.98, 1e-6)
  }

  /**
   * Sets the step count of the cosine decay. Only before the decay begins (during warm-up, whose rates
   * do not depend on it), so the run is exactly the one a fixed totalSteps from the start would give.
   */
  setTotalSteps(totalSteps: number): void {
    if (this.step > this.opts.warmupSteps) throw new Error(`AlignmentTrainer: totalSteps can only change during warm-up (step ${this.step})`)
    if (!(Number.isInteger(totalSteps) && totalSteps >= Math.max(1, this.step))) throw new RangeError(`totalSteps must be an integer >= ${Math.max(1, this.step)}, got ${totalSteps}`)
    this.opts = { ...this.opts, totalSteps }
  }

  /** Linear warm-up, then cosine decay to 10% of the peak at totalSteps. */
  learningRateAt(step: number): number {
    return warmupCosineLr({ ...this.opts, minLrFraction: 0.1 }, step)
  }

  /** One optimiser step on a batch; returns the loss before the update. */
  trainStep(batch: ContrastiveBatch): number {
    const a = this.model.architecture
    const B = batch.captions.length
    // tfjs reads the optimiser's learningRate field at every apply; it has no public setter.
    ;(this.optimizer as unknown as { learningRate: number }).learningRate = this.learningRateAt(this.step)
    const images = tf.tensor4d(batch.images, [B, a.imageSize, a.imageSize, 3])
    const text = this.model.textFeatures(batch.captions)
    const targets = tf.tensor2d(captionMatchTargets(batch.captions), [B, B])
    // minimize tidies the forward and backward passes itself and returns only the loss.
    const loss = this.optimizer.minimize(() => contrastiveLoss(this.model.params, a, images, text, targets), true, this.variables)
    tf.dispose([images, text.words, ...(text.ngrams ? [text.ngrams] : []), targets])
    this.step++
    if (!loss) throw new Error('AlignmentTrainer: the optimiser returned no loss')
    // Read outside tidy (reading inside costs ~0.7 s on wasm).
    const value = loss.dataSync()[0]!
    loss.dispose()
    return value
  }

  dispose(): void {
    this.optimizer.dispose()
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export interface RetrievalResult {
  images: number
  candidates: number
  /** fraction of images whose own caption ranks first among all candidates */
  top1: number
  /** ... among the first five */
  top5: number
  /** mean rank of the correct caption (1 = best) */
  meanRank: number
  /**
   * Emoji-level: the best-ranked caption of the same emoji in either style beats every caption of
   * other emoji (canonical captions name the style, and the two styles of one emoji differ by one word).
   */
  top1AnyStyle: number
  top5AnyStyle: number
  /** rank of each image's own caption (1 = best), in split order */
  ranks: number[]
}

/** Embeds images in chunks so evaluation memory stays bounded; returns [N, E] as a flat array. */
export function embedSplitImages(model: AlignmentModel, split: EmojiSplit, chunk = 64): Float32Array {
  const a = model.architecture
  const n = split.items.length
  const floats = split.imageSize * split.imageSize * 3
  const out = new Float32Array(n * a.embedDim)
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start)
    const emb = tf.tidy(() =>
      model.embedImages(tf.tensor4d(split.images.subarray(start * floats, (start + count) * floats), [count, a.imageSize, a.imageSize, 3])),
    )
    out.set(emb.dataSync(), start * a.embedDim)
    emb.dispose()
  }
  return out
}

export function embedTextsChunked(model: AlignmentModel, texts: string[], chunk = 256): Float32Array {
  const E = model.architecture.embedDim
  const out = new Float32Array(texts.length * E)
  for (let start = 0; start < texts.length; start += chunk) {
    const emb = model.embedTexts(texts.slice(start, start + chunk))
    out.set(emb.dataSync(), start * E)
    emb.dispose()
  }
  return out
}

/**
 * Image -> text retrieval: for every image of the split, rank all distinct canonical captions of the
 * split by cosine similarity; the image's own canonical caption is the right answer.
 */
export function captionRetrieval(model: AlignmentModel, split: EmojiSplit): RetrievalResult {
  const E = model.architecture.embedDim
  const candidates = [...new Set(split.items.map((it) => it.canonicalCaption))]
  const candidateIndex = new Map(candidates.map((c, i) => [c, i]))
  // Which candidates belong to each emoji (by key), for the style-agnostic figures.
  const captionsOfEmoji = new Map<string, Set<number>>()
  for (const it of split.items) {
    const set = captionsOfEmoji.get(it.key) ?? new Set<number>()
    set.add(candidateIndex.get(it.canonicalCaption)!)
    captionsOfEmoji.set(it.key, set)
  }
  const img = embedSplitImages(model, split)
  const txt = embedTextsChunked(model, candidates)
  const n = split.items.length
  let top1 = 0
  let top5 = 0
  let rankSum = 0
  let top1AnyStyle = 0
  let top5AnyStyle = 0
  const ranks: number[] = []
  const sims = new Float32Array(candidates.length)
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < candidates.length; c++) {
      let s = 0
      for (let e = 0; e < E; e++) s += img[i * E + e]! * txt[c * E + e]!
      sims[c] = s
    }
    const own = sims[candidateIndex.get(split.items[i]!.canonicalCaption)!]!
    const sameEmoji = captionsOfEmoji.get(split.items[i]!.key)!
    let bestSameEmoji = -Infinity
    for (const c of sameEmoji) bestSameEmoji = Math.max(bestSameEmoji, sims[c]!)
    let better = 0
    let otherEmojiBetter = 0
    for (let c = 0; c < candidates.length; c++) {
      if (sims[c]! > own) better++
      if (!sameEmoji.has(c) && sims[c]! > bestSameEmoji) otherEmojiBetter++
    }
    const rank = better + 1
    ranks.push(rank)
    if (rank === 1) top1++
    if (rank <= 5) top5++
    rankSum += rank
    if (otherEmojiBetter === 0) top1AnyStyle++
    if (otherEmojiBetter < 5) top5AnyStyle++
  }
  return {
    images: n,
    candidates: candidates.length,
    top1: top1 / n,
    top5: top5 / n,
    meanRank: rankSum / n,
    top1AnyStyle: top1AnyStyle / n,
    top5AnyStyle: top5AnyStyle / n,
    ranks,
  }
}
