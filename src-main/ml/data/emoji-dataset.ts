// The emoji data set: every base emoji of emoji-datasource-twitter and -google 16.0.0 as
// imageSize x imageSize RGB on white, NHWC float32 in [-1, 1], with caption variants, a
// deterministic train/validation split by emoji, and a decode-once binary cache.
//
// Image licences (credit them wherever images or models trained on them are shipped):
// Twitter images are Twemoji, CC-BY 4.0; Google images are Noto Emoji, Apache 2.0;
// the emoji-datasource packages themselves are MIT (Cal Henderson).

import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Rng } from '../util/rng.ts'
import { hashString } from '../util/rng.ts'
import { buildCatalog, findEmojiSource, EMOJI_STYLES, type CatalogEntry, type EmojiItem } from './emoji-catalog.ts'
import { decodeEmojiPng, MAX_IMAGE_SIZE } from './emoji-images.ts'
import { readImageCache, writeImageCache } from './image-cache.ts'

export type { EmojiItem } from './emoji-catalog.ts'
export type { EmojiStyle } from './captions.ts'

export const DEFAULT_IMAGE_SIZE = 32
/** Bump whenever decoding, compositing or resampling changes, so old caches are rebuilt. */
const PIXEL_PIPELINE_VERSION = 1

export interface EmojiSplit {
  imageSize: number
  /** N*H*W*3, NHWC, in [-1, 1]; image i belongs to items[i]. */
  images: Float32Array
  items: EmojiItem[]
}

export interface EmojiDatasetOptions {
  /** Output side length in pixels, 1..64 (default 32). */
  imageSize?: number
  /** Where the decoded-pixel cache lives (default $DI_STUDIO_CACHE or ~/.di-studio/cache). */
  cacheDir?: string
  /** Add the skin-tone variants (about twice the images); default false. */
  includeSkinTones?: boolean
}

export interface EmojiDatasetLoad {
  train: EmojiSplit
  validation: EmojiSplit
  info: {
    cachePath: string
    /** True if the pixels came from the cache, false if the PNGs were decoded. */
    fromCache: boolean
    /** Why the cache was not used or not written (absent when everything went to plan). */
    cacheProblem?: string
    /** Wall time of decoding or cache reading, in ms. */
    pixelsMs: number
  }
}

export function defaultCacheDir(): string {
  return process.env.DI_STUDIO_CACHE || join(homedir(), '.di-studio', 'cache')
}

export async function loadEmojiDataset(opts: EmojiDatasetOptions = {}): Promise<{ train: EmojiSplit; validation: EmojiSplit }> {
  const { train, validation } = await loadEmojiDatasetWithInfo(opts)
  return { train, validation }
}

/** loadEmojiDataset plus how the pixels were obtained (for logs, benchmarks and tests). */
export async function loadEmojiDatasetWithInfo(opts: EmojiDatasetOptions = {}): Promise<EmojiDatasetLoad> {
  const imageSize = opts.imageSize ?? DEFAULT_IMAGE_SIZE
  if (!Number.isInteger(imageSize) || imageSize < 1 || imageSize > MAX_IMAGE_SIZE) {
    throw new RangeError(`imageSize must be an integer in 1..${MAX_IMAGE_SIZE}, got ${String(opts.imageSize)}`)
  }
  const includeSkinTones = opts.includeSkinTones ?? false
  const sources = EMOJI_STYLES.map(findEmojiSource)
  const catalog = buildCatalog({ includeSkinTones, sources })
  const floatsPerImage = imageSize * imageSize * 3
  const imageIds = catalog.map((e) => `${e.item.key}/${e.item.style}`)

  const key: Record<string, string | number | boolean> = { pipeline: PIXEL_PIPELINE_VERSION, imageSize, includeSkinTones }
  for (const s of sources) key[`emoji-datasource-${s.style}`] = s.version
  const keyTag = hashString(JSON.stringify(key)).toString(16).padStart(8, '0')
  const cachePath = join(opts.cacheDir ?? defaultCacheDir(), `emoji-${imageSize}px${includeSkinTones ? '-skin' : ''}-${keyTag}.bin`)

  const started = performance.now()
  const cached = await readImageCache(cachePath, key, imageIds, floatsPerImage)
  let images: Float32Array
  let cacheProblem: string | undefined
  if (cached.ok) {
    images = cached.images
  } else {
    if (cached.reason !== 'no cache file yet') cacheProblem = `cache ignored (${cached.reason}), rebuilt`
    images = await decodeAll(catalog, imageSize)
    try {
      await writeImageCache(cachePath, key, imageIds, floatsPerImage, images)
    } catch (err) {
      // A read-only or full disk costs only speed next time; the data set itself is fine.
      cacheProblem = `${cacheProblem ? cacheProblem + '; ' : ''}cache not written: ${(err as Error).message}`
    }
  }
  const pixelsMs = performance.now() - started

  return {
    train: pickSplit(catalog, images, imageSize, 'train'),
    validation: pickSplit(catalog, images, imageSize, 'validation'),
    info: { cachePath, fromCache: cached.ok, pixelsMs, ...(cacheProblem ? { cacheProblem } : {}) },
  }
}

async function decodeAll(catalog: CatalogEntry[], imageSize: number): Promise<Float32Array> {
  const floatsPerImage = imageSize * imageSize * 3
  const images = new Float32Array(catalog.length * floatsPerImage)
  for (let i = 0; i < catalog.length; i++) {
    const { pngPath } = catalog[i]!
    decodeEmojiPng(await readFile(pngPath), imageSize, images, i * floatsPerImage, pngPath)
  }
  return images
}

function pickSplit(catalog: CatalogEntry[], all: Float32Array, imageSize: number, split: CatalogEntry['split']): EmojiSplit {
  const floatsPerImage = imageSize * imageSize * 3
  const chosen = catalog.map((e, i) => ({ e, i })).filter(({ e }) => e.split === split)
  const images = new Float32Array(chosen.length * floatsPerImage)
  chosen.forEach(({ i }, j) => images.set(all.subarray(i * floatsPerImage, (i + 1) * floatsPerImage), j * floatsPerImage))
  return { imageSize, images, items: chosen.map(({ e }) => e.item) }
}

/**
 * Draws a training batch with replacement: for each slot an image index, one of its caption
 * variants, and with probability captionDropout the empty prompt instead (for classifier-free
 * guidance). Uses the given seeded Rng only, so a seed reproduces the batch exactly.
 */
export function sampleBatch(split: EmojiSplit, rng: Rng, batchSize: number, opts: { captionDropout?: number } = {}): { images: Float32Array; prompts: string[]; indices: number[] } {
  const dropout = opts.captionDropout ?? 0
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`)
  if (!(dropout >= 0 && dropout <= 1)) throw new RangeError(`captionDropout must be in [0, 1], got ${String(opts.captionDropout)}`)
  if (split.items.length === 0) throw new Error('sampleBatch: the split has no images')
  const floatsPerImage = split.imageSize * split.imageSize * 3
  if (split.images.length !== split.items.length * floatsPerImage) throw new Error('sampleBatch: split.images does not match items and imageSize')

  const images = new Float32Array(batchSize * floatsPerImage)
  const prompts: string[] = []
  const indices: number[] = []
  for (let b = 0; b < batchSize; b++) {
    const index = rng.int(0, split.items.length - 1)
    const caption = rng.pick(split.items[index]!.captions)
    // Always draw the dropout coin, so the random stream does not depend on the dropout rate.
    const drop = rng.uniform() < dropout
    indices.push(index)
    prompts.push(drop ? '' : caption)
    images.set(split.images.subarray(index * floatsPerImage, (index + 1) * floatsPerImage), b * floatsPerImage)
  }
  return { images, prompts, indices }
}
