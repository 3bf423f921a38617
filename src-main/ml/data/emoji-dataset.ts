// The emoji data set: every base emoji of the chosen drawing styles (emoji-catalog.ts: the
// emoji-datasource PNG sets and the @iconify-json SVG sets) as imageSize x imageSize RGB on white,
// NHWC float32 in [-1, 1], with caption variants, a deterministic train/validation split by emoji,
// and a decode-once binary cache. SVGs are rasterised at 64x64, the PNG sets' size, then go through
// the same compositing and downsampling as the PNGs.
//
// Image licences (credit them wherever images or models trained on them are shipped): see the
// table at the top of emoji-catalog.ts; the emoji-datasource packages themselves are MIT (Cal Henderson).

import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Rng } from '../util/rng.ts'
import { hashString } from '../util/rng.ts'
import type { EmojiStyle } from './captions.ts'
import { buildCatalog, findEmojiSource, isIconifyStyle, EMOJI_STYLES, ICONIFY_STYLES, PNG_STYLES, type CatalogEntry, type EmojiItem } from './emoji-catalog.ts'
import { decodeEmojiPng, MAX_IMAGE_SIZE } from './emoji-images.ts'
import { iconSvg, initRasteriser, loadIconifySet, rasteriseSvg } from './iconify-sets.ts'
import { readImageCache, writeImageCache } from './image-cache.ts'
import type { ImageSplit } from './dataset.ts'

export { ALL_STYLES, TRAINING_STYLES, HELD_OUT_STYLE, PNG_STYLES, EMOJI_STYLES } from './emoji-catalog.ts'

export type { EmojiItem } from './emoji-catalog.ts'
export type { EmojiStyle } from './captions.ts'

export const DEFAULT_IMAGE_SIZE = 32
/** Bump whenever decoding, compositing or resampling changes, so old caches are rebuilt. */
const PIXEL_PIPELINE_VERSION = 1
/** SVGs are rasterised at the PNG sets' size, then downsampled like them. */
const SVG_RASTER_SIZE = 64

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
  /** Add the skin-tone variants (PNG styles only; about twice their images); default false. */
  includeSkinTones?: boolean
  /**
   * Drawing styles to load (default EMOJI_STYLES, the two PNG sets the shipped models were trained
   * on); TRAINING_STYLES for every style but the held-out one, ALL_STYLES for all.
   */
  styles?: readonly EmojiStyle[]
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
    /** Images left out because their SVG could not be rasterised ("<key>/<style>: reason"). */
    skipped: string[]
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
  const styles = opts.styles ?? EMOJI_STYLES
  const catalog = buildCatalog({ includeSkinTones, styles })
  // The names and categories come from the twitter package even when its images are not loaded.
  const sources = [...new Set<'twitter' | 'google'>(['twitter', ...PNG_STYLES.filter((s) => styles.includes(s))])].map(findEmojiSource)
  const floatsPerImage = imageSize * imageSize * 3
  const imageIds = catalog.map((e) => `${e.item.key}/${e.item.style}`)

  const key: Record<string, string | number | boolean> = { pipeline: PIXEL_PIPELINE_VERSION, imageSize, includeSkinTones, styles: styles.join(',') }
  for (const s of sources) key[`emoji-datasource-${s.style}`] = s.version
  for (const style of styles) if (isIconifyStyle(style)) key[ICONIFY_STYLES[style]] = loadIconifySet(ICONIFY_STYLES[style]).version
  const keyTag = hashString(JSON.stringify(key)).toString(16).padStart(8, '0')
  const styleTag = styles === EMOJI_STYLES ? '' : `-${styles.length}styles`
  const cachePath = join(opts.cacheDir ?? defaultCacheDir(), `emoji-${imageSize}px${includeSkinTones ? '-skin' : ''}${styleTag}-${keyTag}.bin`)

  const started = performance.now()
  const cached = await readImageCache(cachePath, key, imageIds, floatsPerImage)
  let images: Float32Array
  let skipped: string[]
  let cacheProblem: string | undefined
  if (cached.ok) {
    images = cached.images
    skipped = cached.skipped
  } else {
    if (cached.reason !== 'no cache file yet') cacheProblem = `cache ignored (${cached.reason}), rebuilt`
    ;({ images, skipped } = await decodeAll(catalog, imageSize))
    try {
      await writeImageCache(cachePath, key, imageIds, floatsPerImage, images, skipped)
    } catch (err) {
      // A read-only or full disk costs only speed next time; the data set itself is fine.
      cacheProblem = `${cacheProblem ? cacheProblem + '; ' : ''}cache not written: ${(err as Error).message}`
    }
  }
  const pixelsMs = performance.now() - started

  const left = new Set(skipped.map((s) => s.split(':')[0]))
  const keep = catalog.map((_, i) => !left.has(imageIds[i]!))
  return {
    train: pickSplit(catalog, images, imageSize, 'train', keep),
    validation: pickSplit(catalog, images, imageSize, 'validation', keep),
    info: { cachePath, fromCache: cached.ok, pixelsMs, skipped, ...(cacheProblem ? { cacheProblem } : {}) },
  }
}

/** Every image's pixels; an SVG resvg cannot draw is left blank and listed as "<key>/<style>: reason". */
async function decodeAll(catalog: CatalogEntry[], imageSize: number): Promise<{ images: Float32Array; skipped: string[] }> {
  const floatsPerImage = imageSize * imageSize * 3
  const images = new Float32Array(catalog.length * floatsPerImage)
  const skipped: string[] = []
  if (catalog.some((e) => e.image.kind === 'svg')) await initRasteriser()
  for (let i = 0; i < catalog.length; i++) {
    const { image } = catalog[i]!
    if (image.kind === 'png') {
      decodeEmojiPng(await readFile(image.path), imageSize, images, i * floatsPerImage, image.path)
    } else {
      const what = `${image.packageName} icon '${image.icon}'`
      let png: Uint8Array
      try {
        png = rasteriseSvg(iconSvg(loadIconifySet(image.packageName), image.icon), SVG_RASTER_SIZE)
      } catch (err) {
        const { item } = catalog[i]!
        skipped.push(`${item.key}/${item.style}: resvg cannot draw ${what} (${String((err as Error).message ?? err)})`)
        continue
      }
      decodeEmojiPng(png, imageSize, images, i * floatsPerImage, what)
    }
  }
  return { images, skipped }
}

function pickSplit(catalog: CatalogEntry[], all: Float32Array, imageSize: number, split: CatalogEntry['split'], keep: boolean[]): EmojiSplit {
  const floatsPerImage = imageSize * imageSize * 3
  const chosen = catalog.map((e, i) => ({ e, i })).filter(({ e, i }) => e.split === split && keep[i])
  const images = new Float32Array(chosen.length * floatsPerImage)
  chosen.forEach(({ i }, j) => images.set(all.subarray(i * floatsPerImage, (i + 1) * floatsPerImage), j * floatsPerImage))
  return { imageSize, images, items: chosen.map(({ e }) => e.item) }
}

/**
 * Draws a training batch with replacement: for each slot an image index, one of its caption
 * variants, and with probability captionDropout the empty prompt instead (for classifier-free
 * guidance). Uses the given seeded Rng only, so a seed reproduces the batch exactly.
 */
export function sampleBatch(split: ImageSplit, rng: Rng, batchSize: number, opts: { captionDropout?: number } = {}): { images: Float32Array; prompts: string[]; indices: number[] } {
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
