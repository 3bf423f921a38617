// Image-text alignment model: a small CLIP analogue trained on the emoji (image, caption) pairs.
//
//   image [B,H,W,3] --patchify (reshape, rank<=4 transposes)--> [B*T, p*p*3] --dense--> tokens [B*T, D]
//     --> N Mixer blocks (token-mixing MLP across the T patches, channel MLP per patch)
//     --> layer norm --> mean over patches --> dense --> L2 normalise            = image embedding [B, E]
//   prompt --tokenizer--> bag of words [B, V] (word counts / word count, built in JS; a word never
//          seen in training is spread over the known words WordNet relates to it, if the model says so)
//          --hashed character n-grams of each word--> bag of n-grams [B, N] (fastText-style, built in JS)
//     --> bag @ word embeddings [V, Dt] + n-grams @ n-gram embeddings [N, Dt] + bias
//     --> M residual MLP blocks --> layer norm --> dense --> L2 normalise       = text embedding [B, E]
//
// Why this shape: on tfjs-wasm a flag-free 2-D matMul runs ~10x faster than a convolution and
// batched/attention matMuls fall back to a scalar loop, so every layer here is a 2-D dense layer
// (MLP-Mixer rather than ViT attention), and the text side needs no gather (whose gradient is
// missing on wasm): the bag-of-words product gives the embedding table its gradient directly.
// Word order is ignored, which is fine for short emoji captions. The optional n-grams give words never
// seen in training an embedding built from pieces they share with seen words ("paperclips" ~ "paperclip").
import { createHash } from 'node:crypto'
import * as tf from '@tensorflow/tfjs-core'
import { z } from 'zod'
import { dense, gelu, layerNorm, matMul2d } from '../backend/ops.ts'
import { loadCheckpoint, saveCheckpoint, type NamedTensor } from '../checkpoint/checkpoint.ts'
import { splitWords, Tokenizer } from '../text/tokenizer.ts'
import { wordBackoffSchema, wordNetBackoff, type WordBackoff } from '../text/word-backoff.ts'
import { sharedWordNet } from '../text/wordnet.ts'
import { hashString, Rng } from '../util/rng.ts'

export const ALIGNMENT_MODEL_KIND = 'di-studio-alignment'
/**
 * 2: optional hashed character n-gram text features. Version 1 files (words only) still load, as
 * models with ngramBuckets 0; builds that read only version 1 refuse version 2 files.
 */
export const ALIGNMENT_MODEL_VERSION = 2
const READABLE_VERSIONS: readonly unknown[] = [1, ALIGNMENT_MODEL_VERSION]
/** Scores are 100 x cosine similarity, as CLIPScore reports them (without its clamp at 0). */
export const ALIGNMENT_SCORE_SCALE = 100

export const alignmentArchitectureSchema = z.object({
  imageSize: z.number().int().min(4).max(512),
  patchSize: z.number().int().min(1).max(64),
  /** width of an image patch token */
  imageWidth: z.number().int().min(4).max(2048),
  imageBlocks: z.number().int().min(0).max(32),
  /** hidden size of the token-mixing MLP (mixes the T patches of one channel) */
  tokenMixHidden: z.number().int().min(1).max(4096),
  /** hidden size of the channel MLP (per patch) */
  channelMixHidden: z.number().int().min(1).max(8192),
  textWidth: z.number().int().min(4).max(2048),
  /** hash buckets for character n-grams of words (0 = words only; absent in version 1 files) */
  ngramBuckets: z.number().int().min(0).max(1 << 20).default(0),
  /** n-gram lengths, counted on the word wrapped in '<' and '>' (fastText's word boundaries) */
  ngramMin: z.number().int().min(1).max(16).default(3),
  ngramMax: z.number().int().min(1).max(16).default(5),
  textBlocks: z.number().int().min(0).max(32),
  textHidden: z.number().int().min(1).max(8192),
  embedDim: z.number().int().min(2).max(2048),
  /** from the tokenizer: number of ids, and padded length */
  vocabSize: z.number().int().min(2),
  maxLength: z.number().int().min(1),
})
export type AlignmentArchitecture = z.infer<typeof alignmentArchitectureSchema>

/** Defaults sized to train in ~15 minutes on one wasm core (see MODEL_CARD.md for the measured run). */
export function defaultAlignmentArchitecture(tokenizer: Tokenizer, imageSize = 32): AlignmentArchitecture {
  return {
    imageSize,
    patchSize: 4,
    imageWidth: 128,
    imageBlocks: 2,
    tokenMixHidden: 128,
    channelMixHidden: 256,
    textWidth: 128,
    // Words only, as the shipped model: with the same recipe, 8192 n-gram buckets gave validation top-1
    // 21.9% against 25.8% without (n-grams of unseen words are noise more than meaning at this data size).
    ngramBuckets: 0,
    ngramMin: 3,
    ngramMax: 5,
    textBlocks: 1,
    textHidden: 256,
    embedDim: 64,
    vocabSize: tokenizer.vocabSize,
    maxLength: tokenizer.maxLength,
  }
}

export type AlignmentParams = Record<string, tf.Variable>

export function patchCount(a: AlignmentArchitecture): number {
  return (a.imageSize / a.patchSize) ** 2
}

function checkArchitecture(a: AlignmentArchitecture): void {
  if (a.imageSize % a.patchSize !== 0) {
    throw new Error(`alignment model: imageSize ${a.imageSize} is not a multiple of patchSize ${a.patchSize}`)
  }
  if (a.ngramMin > a.ngramMax) throw new Error(`alignment model: ngramMin ${a.ngramMin} exceeds ngramMax ${a.ngramMax}`)
}

/** Shapes of every parameter, by name (also the expected shapes when loading a checkpoint). */
export function alignmentParamShapes(a: AlignmentArchitecture): Record<string, number[]> {
  checkArchitecture(a)
  const T = patchCount(a)
  const D = a.imageWidth
  const shapes: Record<string, number[]> = {
    'image.patch.w': [a.patchSize * a.patchSize * 3, D],
    'image.patch.b': [D],
  }
  for (let i = 0; i < a.imageBlocks; i++) {
    const p = `image.block${i}`
    Object.assign(shapes, {
      [`${p}.tokenNorm.g`]: [D],
      [`${p}.tokenNorm.b`]: [D],
      [`${p}.tokenMix1.w`]: [T, a.tokenMixHidden],
      [`${p}.tokenMix1.b`]: [a.tokenMixHidden],
      [`${p}.tokenMix2.w`]: [a.tokenMixHidden, T],
      [`${p}.tokenMix2.b`]: [T],
      [`${p}.channelNorm.g`]: [D],
      [`${p}.channelNorm.b`]: [D],
      [`${p}.channelMix1.w`]: [D, a.channelMixHidden],
      [`${p}.channelMix1.b`]: [a.channelMixHidden],
      [`${p}.channelMix2.w`]: [a.channelMixHidden, D],
      [`${p}.channelMix2.b`]: [D],
    })
  }
  Object.assign(shapes, {
    'image.outNorm.g': [D],
    'image.outNorm.b': [D],
    'image.proj.w': [D, a.embedDim],
    'text.embed': [a.vocabSize, a.textWidth],
    ...(a.ngramBuckets > 0 ? { 'text.ngram': [a.ngramBuckets, a.textWidth] } : {}),
    // Added to the mean word embedding; it is all the empty prompt has, so that one gets a real embedding.
    'text.embed.b': [a.textWidth],
  })
  for (let i = 0; i < a.textBlocks; i++) {
    const p = `text.block${i}`
    Object.assign(shapes, {
      [`${p}.norm.g`]: [a.textWidth],
      [`${p}.norm.b`]: [a.textWidth],
      [`${p}.mlp1.w`]: [a.textWidth, a.textHidden],
      [`${p}.mlp1.b`]: [a.textHidden],
      [`${p}.mlp2.w`]: [a.textHidden, a.textWidth],
      [`${p}.mlp2.b`]: [a.textWidth],
    })
  }
  Object.assign(shapes, {
    'text.outNorm.g': [a.textWidth],
    'text.outNorm.b': [a.textWidth],
    'text.proj.w': [a.textWidth, a.embedDim],
    // CLIP's learned temperature, as log(1/tau); initialised at tau = 0.07.
    logitScale: [],
  })
  return shapes
}

/**
 * Seeded initialisation: weights ~ N(0, 1/fan_in), residual branch outputs scaled down, norms at identity,
 * word and n-gram embedding rows ~ N(0, embeddingStd^2).
 */
export function initAlignmentParams(a: AlignmentArchitecture, seed: number, embeddingStd = 1): AlignmentParams {
  const rng = new Rng(seed)
  const params: AlignmentParams = {}
  for (const [name, shape] of Object.entries(alignmentParamShapes(a))) {
    const size = shape.reduce((n, d) => n * d, 1)
    let values: Float32Array
    if (name === 'logitScale') values = Float32Array.of(Math.log(1 / 0.07))
    else if (name.endsWith('.g')) values = new Float32Array(size).fill(1)
    else if (name === 'text.embed.b') values = Float32Array.from(rng.normals(size), (v) => 0.1 * v)
    else if (name.endsWith('.b')) values = new Float32Array(size)
    else {
      // Second layers of residual branches start small so each block starts near the identity.
      const residualOut = /(tokenMix2|channelMix2|mlp2)\.w$/.test(name) ? 0.3 : 1
      // Smaller embedding rows (e.g. 0.1) let Adam's ~lr-sized steps move them within a few hundred steps
      // (measured with n-grams, lr 1e-3: training loss at step 100 3.47 with 0.1 vs 3.97 with 1).
      const std = name === 'text.embed' || name === 'text.ngram' ? embeddingStd : residualOut / Math.sqrt(shape[0]!)
      values = rng.normals(size)
      for (let i = 0; i < size; i++) values[i]! *= std
    }
    // Unnamed: tfjs variable names are global, and several models may live side by side.
    params[name] = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true))
  }
  return params
}

function param(params: AlignmentParams, name: string): tf.Variable {
  const p = params[name]
  if (!p) throw new Error(`alignment model: parameter '${name}' is missing`)
  return p
}

/**
 * [B,H,W,C] -> [B*T, p*p*C] with patches in row-major order, using only rank-4 reshapes/transposes
 * (rank-5+ transposes are very slow on wasm).
 */
export function patchify(images: tf.Tensor4D, patchSize: number): tf.Tensor2D {
  const [B, H, W, C] = images.shape
  const p = patchSize
  const rows = tf.reshape(images, [B * (H / p), p, W / p, p * C]) // (b*i, r, j, s*C+c)
  const grouped = tf.transpose(rows, [0, 2, 1, 3]) // (b*i, j, r, s*C+c)
  return tf.reshape(grouped, [B * (H / p) * (W / p), p * p * C]) as tf.Tensor2D
}

function l2Normalise(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-12))) as tf.Tensor2D
}

function norm(params: AlignmentParams, prefix: string, x: tf.Tensor): tf.Tensor {
  return layerNorm(x, { gamma: param(params, `${prefix}.g`) as tf.Tensor1D, beta: param(params, `${prefix}.b`) as tf.Tensor1D })
}

function mlp(params: AlignmentParams, first: string, second: string, x: tf.Tensor): tf.Tensor {
  const h = gelu(dense(x, param(params, `${first}.w`) as tf.Tensor2D, param(params, `${first}.b`) as tf.Tensor1D))
  return dense(h, param(params, `${second}.w`) as tf.Tensor2D, param(params, `${second}.b`) as tf.Tensor1D)
}

/** L2-normalised image embeddings [B, embedDim]; differentiable w.r.t. the images and the params. */
export function imageEmbedding(params: AlignmentParams, a: AlignmentArchitecture, images: tf.Tensor4D): tf.Tensor2D {
  const [B, H, W, C] = images.shape
  if (H !== a.imageSize || W !== a.imageSize || C !== 3) {
    throw new Error(`alignment model: expected images [B, ${a.imageSize}, ${a.imageSize}, 3], got [${images.shape.join(', ')}]`)
  }
  return tf.tidy(() => {
    const T = patchCount(a)
    const D = a.imageWidth
    let h = dense(patchify(images, a.patchSize), param(params, 'image.patch.w') as tf.Tensor2D, param(params, 'image.patch.b') as tf.Tensor1D)
    for (let i = 0; i < a.imageBlocks; i++) {
      const p = `image.block${i}`
      // Token mixing: each channel's T patch values go through one MLP (a 2-D dense on [B*D, T]).
      const byChannel = tf.reshape(tf.transpose(tf.reshape(norm(params, `${p}.tokenNorm`, h), [B, T, D]), [0, 2, 1]), [B * D, T])
      const mixed = mlp(params, `${p}.tokenMix1`, `${p}.tokenMix2`, byChannel)
      h = tf.add(h, tf.reshape(tf.transpose(tf.reshape(mixed, [B, D, T]), [0, 2, 1]), [B * T, D]))
      h = tf.add(h, mlp(params, `${p}.channelMix1`, `${p}.channelMix2`, norm(params, `${p}.channelNorm`, h)))
    }
    const pooled = tf.mean(tf.reshape(norm(params, 'image.outNorm', h), [B, T, D]), 1) as tf.Tensor2D
    return l2Normalise(matMul2d(pooled, param(params, 'image.proj.w') as tf.Tensor2D))
  })
}

/**
 * Bag of words [B, vocabSize]: each row holds word counts / number of words (padding ignored),
 * so a prompt's text feature is the mean of its word embeddings. The empty prompt is all zeros.
 */
export function bagOfWords(tokenIds: Int32Array, batch: number, a: AlignmentArchitecture): Float32Array {
  const L = a.maxLength
  if (tokenIds.length !== batch * L) throw new Error(`alignment model: expected ${batch} x ${L} token ids, got ${tokenIds.length}`)
  const bag = new Float32Array(batch * a.vocabSize)
  for (let b = 0; b < batch; b++) {
    let n = 0
    for (let j = 0; j < L; j++) if (tokenIds[b * L + j] !== 0) n++
    for (let j = 0; j < L; j++) {
      const id = tokenIds[b * L + j]!
      if (id === 0) continue
      if (id < 0 || id >= a.vocabSize) throw new Error(`alignment model: token id ${id} outside the vocabulary (${a.vocabSize})`)
      bag[b * a.vocabSize + id]! += 1 / n
    }
  }
  return bag
}

/** The character n-grams of one normalised word, fastText-style: of '<word>', lengths min..max. */
export function wordNgrams(word: string, min: number, max: number): string[] {
  const chars = [...`<${word}>`]
  const out: string[] = []
  for (let n = min; n <= max; n++) for (let i = 0; i + n <= chars.length; i++) out.push(chars.slice(i, i + n).join(''))
  return out
}

/** Bucket of an n-gram; the prefix keeps these hashes apart from the tokenizer's hashed unknown words. */
export function ngramBucket(ngram: string, buckets: number): number {
  return hashString(`ngram:${ngram}`) % buckets
}

/**
 * Bag of n-grams [B, ngramBuckets]: every word (the first maxLength, as the tokenizer keeps) gets
 * weight 1 / number of words, spread evenly over its n-grams' buckets, so a prompt's n-gram feature
 * is the mean over its words of each word's mean n-gram embedding (the same scale as the word bag).
 */
export function bagOfNgrams(prompts: string[], a: AlignmentArchitecture): Float32Array {
  const N = a.ngramBuckets
  const bag = new Float32Array(prompts.length * N)
  if (N === 0) return bag
  prompts.forEach((prompt, b) => {
    const words = splitWords(prompt).slice(0, a.maxLength)
    for (const word of words) {
      const grams = wordNgrams(word, a.ngramMin, a.ngramMax)
      // A word whose '<word>' is shorter than ngramMin has no n-grams: only its word id speaks for it.
      for (const g of grams) bag[b * N + ngramBucket(g, N)]! += 1 / (words.length * grams.length)
    }
  })
  return bag
}

/** The text encoder's input for a batch of prompts: word bag [B, V] and n-gram bag [B, N] (absent when N = 0). */
export interface TextFeatures {
  words: tf.Tensor2D
  ngrams?: tf.Tensor2D
}

/**
 * Replaces, in a bag built by bagOfWords, each unknown word's hashed bucket by the known words WordNet
 * relates to it (same total weight 1/n), so its feature is the mean of their embeddings. Words WordNet
 * cannot relate to known words keep their bucket. `related` returns those words' ids and weights.
 */
export function applyWordBackoff(bag: Float32Array, prompts: string[], tokenizer: Tokenizer, related: (word: string) => ReadonlyMap<number, number>): void {
  const V = tokenizer.vocabSize
  prompts.forEach((prompt, b) => {
    // The words bagOfWords counted: the first maxLength of the prompt.
    const words = splitWords(prompt).slice(0, tokenizer.maxLength)
    const n = words.length
    for (const word of words) {
      if (tokenizer.wordId(word) !== null) continue
      const weights = related(word)
      if (weights.size === 0) continue
      const bucket = tokenizer.encode(word).ids[0]!
      bag[b * V + bucket]! -= 1 / n
      for (const [id, w] of weights) bag[b * V + id]! += w / n
    }
  })
}

/** L2-normalised text embeddings [B, embedDim] from the word and n-gram bags. */
export function textEmbedding(params: AlignmentParams, a: AlignmentArchitecture, text: TextFeatures): tf.Tensor2D {
  return tf.tidy(() => {
    let h: tf.Tensor = tf.add(matMul2d(text.words, param(params, 'text.embed') as tf.Tensor2D), param(params, 'text.embed.b'))
    if (a.ngramBuckets > 0) {
      if (!text.ngrams) throw new Error('alignment model: this architecture reads n-gram features, none were given')
      h = tf.add(h, matMul2d(text.ngrams, param(params, 'text.ngram') as tf.Tensor2D))
    }
    for (let i = 0; i < a.textBlocks; i++) {
      const p = `text.block${i}`
      h = tf.add(h, mlp(params, `${p}.mlp1`, `${p}.mlp2`, norm(params, `${p}.norm`, h)))
    }
    return l2Normalise(matMul2d(norm(params, 'text.outNorm', h) as tf.Tensor2D, param(params, 'text.proj.w') as tf.Tensor2D))
  })
}

/** CLIP's temperature, clamped so exp(logitScale) stays in [1, 100] as in CLIP. */
export function logitScale(params: AlignmentParams): tf.Scalar {
  return tf.exp(tf.clipByValue(param(params, 'logitScale'), 0, Math.log(100))) as tf.Scalar
}

// ---------------------------------------------------------------------------------------------
// Persistence

export interface AlignmentTrainingSummary {
  steps: number
  batchSize: number
  wallTimeSeconds: number
  finalLoss: number
  backend: string
  seed: number
  /** the command that trained it, for the model card */
  command?: string
  /** free-form metrics, e.g. retrieval accuracies */
  metrics: Record<string, number>
}

const trainingSummarySchema = z.object({
  steps: z.number(),
  batchSize: z.number(),
  wallTimeSeconds: z.number(),
  finalLoss: z.number(),
  backend: z.string(),
  seed: z.number(),
  command: z.string().optional(),
  metrics: z.record(z.string(), z.number()),
})

const alignmentConfigSchema = z.object({
  kind: z.literal(ALIGNMENT_MODEL_KIND),
  version: z.union([z.literal(1), z.literal(ALIGNMENT_MODEL_VERSION)]),
  architecture: alignmentArchitectureSchema,
  tokenizer: z.unknown(),
  scoreScale: z.number(),
  /** how words never seen in training are read (absent: the tokenizer's hashed buckets) */
  wordBackoff: wordBackoffSchema.optional(),
  training: trainingSummarySchema.optional(),
})

/** A loaded alignment model: architecture + its own tokenizer + parameters. */
export class AlignmentModel {
  constructor(
    readonly architecture: AlignmentArchitecture,
    readonly tokenizer: Tokenizer,
    readonly params: AlignmentParams,
    readonly training?: AlignmentTrainingSummary,
    /** how words never seen in training are read; undefined = the tokenizer's hashed buckets */
    readonly wordBackoff?: WordBackoff,
  ) {
    if (tokenizer.vocabSize !== architecture.vocabSize || tokenizer.maxLength !== architecture.maxLength) {
      throw new Error(
        `alignment model: tokenizer (vocab ${tokenizer.vocabSize}, length ${tokenizer.maxLength}) does not match the architecture (vocab ${architecture.vocabSize}, length ${architecture.maxLength})`,
      )
    }
  }

  static create(
    tokenizer: Tokenizer,
    seed: number,
    overrides: Partial<AlignmentArchitecture> = {},
    init: { embeddingStd?: number; wordBackoff?: WordBackoff } = {},
  ): AlignmentModel {
    const architecture = alignmentArchitectureSchema.parse({ ...defaultAlignmentArchitecture(tokenizer), ...overrides })
    return new AlignmentModel(architecture, tokenizer, initAlignmentParams(architecture, seed, init.embeddingStd), undefined, init.wordBackoff)
  }

  /** The same weights with another reading of unseen words (for comparing the two; shares the variables). */
  withWordBackoff(wordBackoff: WordBackoff | undefined): AlignmentModel {
    return new AlignmentModel(this.architecture, this.tokenizer, this.params, this.training, wordBackoff)
  }

  get parameterCount(): number {
    return Object.values(this.params).reduce((n, v) => n + v.size, 0)
  }

  private fingerprintCache: string | undefined

  /**
   * sha256 (first 16 hex digits) of every weight, in name order: identifies these exact weights, so a
   * head trained on this model's features (the preference model) can refuse features of another one.
   */
  get fingerprint(): string {
    if (this.fingerprintCache === undefined) {
      const hash = createHash('sha256')
      for (const name of Object.keys(this.params).sort()) {
        hash.update(name)
        hash.update(new Uint8Array((this.params[name]!.dataSync() as Float32Array).slice().buffer))
      }
      this.fingerprintCache = hash.digest('hex').slice(0, 16)
    }
    return this.fingerprintCache
  }

  private readonly backoffCache = new Map<string, ReadonlyMap<number, number>>()

  /** The known word ids (and weights) an unseen word is read as; empty without a backoff. */
  relatedKnownWords(word: string): ReadonlyMap<number, number> {
    const backoff = this.wordBackoff
    if (!backoff) return new Map()
    let weights = this.backoffCache.get(word)
    if (!weights) {
      weights = wordNetBackoff(sharedWordNet(), word, (w) => this.tokenizer.wordId(w), backoff)
      this.backoffCache.set(word, weights)
    }
    return weights
  }

  /** Word and n-gram bags for prompts (no gradient needed: text is discrete). The caller disposes them. */
  textFeatures(prompts: string[]): TextFeatures {
    const a = this.architecture
    const B = prompts.length
    const bag = bagOfWords(this.tokenizer.encodeBatch(prompts), B, a)
    if (this.wordBackoff) applyWordBackoff(bag, prompts, this.tokenizer, (w) => this.relatedKnownWords(w))
    const words = tf.tensor2d(bag, [B, a.vocabSize])
    if (a.ngramBuckets === 0) return { words }
    return { words, ngrams: tf.tensor2d(bagOfNgrams(prompts, a), [B, a.ngramBuckets]) }
  }

  /** Normalised image features [B, embedDim], differentiable w.r.t. images (for rewards, FID, preference heads). */
  embedImages(images: tf.Tensor4D): tf.Tensor2D {
    return imageEmbedding(this.params, this.architecture, images)
  }

  /** Normalised text features [B, embedDim]. */
  embedTexts(prompts: string[]): tf.Tensor2D {
    return tf.tidy(() => textEmbedding(this.params, this.architecture, this.textFeatures(prompts)))
  }

  /** 100 x cos(image, prompt) per pair, in [-100, 100]; differentiable w.r.t. the images. */
  score(images: tf.Tensor4D, prompts: string[]): tf.Tensor1D {
    if (prompts.length !== images.shape[0]) {
      throw new Error(`alignment model: ${images.shape[0]} images but ${prompts.length} prompts`)
    }
    return tf.tidy(() => {
      const cos = tf.sum(tf.mul(this.embedImages(images), this.embedTexts(prompts)), 1)
      return tf.mul(cos, ALIGNMENT_SCORE_SCALE) as tf.Tensor1D
    })
  }

  async save(dir: string, training: AlignmentTrainingSummary | undefined = this.training): Promise<void> {
    const tensors: Record<string, NamedTensor> = {}
    for (const [name, v] of Object.entries(this.params)) {
      tensors[name] = { dtype: 'float32', shape: [...v.shape], data: (await v.data()) as Float32Array }
    }
    const config: z.infer<typeof alignmentConfigSchema> = {
      kind: ALIGNMENT_MODEL_KIND,
      version: ALIGNMENT_MODEL_VERSION,
      architecture: this.architecture,
      tokenizer: this.tokenizer.toJSON(),
      scoreScale: ALIGNMENT_SCORE_SCALE,
      ...(this.wordBackoff ? { wordBackoff: this.wordBackoff } : {}),
      ...(training ? { training } : {}),
    }
    await saveCheckpoint(dir, { config, tensors })
  }

  /** Loads a model saved by save(); a wrong kind, version, tokenizer or tensor shape gets a clear error. */
  static async load(dir: string, opts: { trainable?: boolean } = {}): Promise<AlignmentModel> {
    // Read the config first so the checkpoint module can check every tensor's shape against it.
    const probe = await loadCheckpoint(dir)
    const found = probe.config as { kind?: unknown; version?: unknown } | null
    if (found?.kind === ALIGNMENT_MODEL_KIND && !READABLE_VERSIONS.includes(found.version)) {
      throw new Error(
        `${dir} holds an alignment model of format version ${JSON.stringify(found.version)}; this build reads versions ${READABLE_VERSIONS.join(' and ')} ` +
          `(retrain it with npm run train-alignment, or update the studio)`,
      )
    }
    const parsed = alignmentConfigSchema.safeParse(probe.config)
    if (!parsed.success) {
      throw new Error(`${dir} is not an alignment model checkpoint: ${z.prettifyError(parsed.error)}`)
    }
    const { architecture, tokenizer: tokJson, training, version, wordBackoff } = parsed.data
    if (version === 1 && architecture.ngramBuckets > 0) {
      throw new Error(`${dir}: a version 1 alignment model cannot have n-gram features (ngramBuckets ${architecture.ngramBuckets}); the file is inconsistent`)
    }
    const shapes = alignmentParamShapes(architecture)
    const params: AlignmentParams = {}
    for (const [name, shape] of Object.entries(shapes)) {
      const t = probe.tensors[name]
      if (!t) throw new Error(`alignment model checkpoint ${dir} lacks tensor '${name}'`)
      if (t.dtype !== 'float32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`alignment model checkpoint ${dir}: tensor '${name}' is ${t.dtype} [${t.shape}], expected float32 [${shape}]`)
      }
      params[name] = tf.tidy(() => tf.variable(tf.tensor(t.data, shape, 'float32'), opts.trainable ?? false))
    }
    return new AlignmentModel(architecture, Tokenizer.fromJSON(tokJson), params, training, wordBackoff)
  }

  dispose(): void {
    for (const v of Object.values(this.params)) v.dispose()
  }
}
