// The emoji catalogue: which images exist in emoji-datasource-twitter / -google, their names,
// captions and the train/validation split. Pure metadata; pixels are in emoji-images.ts.

import { readFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Rng, hashString } from '../util/rng.ts'
import { captionVariants, canonicalCaption, type EmojiStyle } from './captions.ts'

export const EMOJI_STYLES: readonly EmojiStyle[] = ['twitter', 'google']
/** Fraction of emoji (not images) held out for validation. */
export const VALIDATION_FRACTION = 0.05

export interface EmojiItem {
  /** The emoji's unified code point sequence in lower case, e.g. "1f34e"; the same for both styles. */
  key: string
  name: string
  style: EmojiStyle
  category: string
  captions: string[]
  canonicalCaption: string
}

/** One image of the catalogue: the item plus where its PNG is and which split it belongs to. */
export interface CatalogEntry {
  item: EmojiItem
  /** Key of the base emoji (item.key without the skin tone); the split is decided on it. */
  baseKey: string
  pngPath: string
  split: 'train' | 'validation'
}

export interface EmojiSource {
  style: EmojiStyle
  packageDir: string
  version: string
}

/** The shape of the emoji.json fields this loader reads. */
interface RawEmoji {
  name?: unknown
  unified?: unknown
  image?: unknown
  short_names?: unknown
  category?: unknown
  subcategory?: unknown
  sort_order?: unknown
  skin_variations?: Record<string, { unified?: unknown; image?: unknown; [flag: string]: unknown }>
  [flag: string]: unknown
}

const SKIN_TONE_NAMES: Record<string, string> = {
  '1F3FB': 'light skin tone',
  '1F3FC': 'medium-light skin tone',
  '1F3FD': 'medium skin tone',
  '1F3FE': 'medium-dark skin tone',
  '1F3FF': 'dark skin tone',
}

/** Finds the installed emoji-datasource-<style> package and its version. */
export function findEmojiSource(style: EmojiStyle): EmojiSource {
  const pkgName = `emoji-datasource-${style}`
  let pkgJson: string
  try {
    pkgJson = createRequire(import.meta.url).resolve(`${pkgName}/package.json`)
  } catch {
    pkgJson = join(process.cwd(), 'node_modules', pkgName, 'package.json')
    if (!existsSync(pkgJson)) throw new Error(`The npm package ${pkgName} is not installed (needed for the emoji data set); run npm install`)
  }
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: unknown }).version
  if (typeof version !== 'string') throw new Error(`${pkgJson} has no version`)
  return { style, packageDir: dirname(pkgJson), version }
}

/**
 * True if an emoji (identified by its base key, so skin-tone variants follow their base) is held
 * out for validation. A hash of the key, mixed through the seeded generator, so the split is the
 * same on every machine and never depends on the order of emoji.json or on Math.random.
 */
export function isValidationKey(baseKey: string, fraction = VALIDATION_FRACTION): boolean {
  return new Rng(hashString(`di-studio-split:${baseKey}`)).uniform() < fraction
}

function readEmojiJson(source: EmojiSource): RawEmoji[] {
  const file = join(source.packageDir, 'emoji.json')
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`Cannot read ${file}: ${(err as Error).message}`)
  }
  if (!Array.isArray(parsed)) throw new Error(`${file} is not a JSON array of emoji`)
  return parsed as RawEmoji[]
}

function str(v: unknown, what: string, key: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new Error(`emoji.json entry ${key}: missing ${what}`)
  return v
}

/**
 * Lists every image of both styles in a stable order (by emoji sort order, then style, base image
 * before its skin-tone variants). Only images flagged has_img_<style> are listed; a flagged image
 * whose PNG is missing means a broken install and throws.
 */
export function buildCatalog(opts: { includeSkinTones?: boolean; sources?: EmojiSource[] } = {}): CatalogEntry[] {
  const sources = opts.sources ?? EMOJI_STYLES.map(findEmojiSource)
  type Row = { sortOrder: number; baseKey: string; styleIndex: number; variant: number; entry: CatalogEntry }
  const rows: Row[] = []
  sources.forEach((source, styleIndex) => {
    const { style } = source
    const imgDir = join(source.packageDir, 'img', style, '64')
    const hasImg = `has_img_${style}`
    for (const raw of readEmojiJson(source)) {
      const unified = str(raw.unified, 'unified', JSON.stringify(raw.name))
      const baseKey = unified.toLowerCase()
      const name = str(raw.name, 'name', unified).toLowerCase().trim()
      const shortNames = Array.isArray(raw.short_names) ? raw.short_names.filter((s): s is string => typeof s === 'string') : []
      const category = str(raw.category, 'category', unified)
      const subcategory = typeof raw.subcategory === 'string' ? raw.subcategory : ''
      const sortOrder = typeof raw.sort_order === 'number' ? raw.sort_order : Number.MAX_SAFE_INTEGER
      const split = isValidationKey(baseKey) ? 'validation' : 'train'

      const variants: { key: string; name: string; image: string; qualifier?: string }[] = []
      if (raw[hasImg] === true) variants.push({ key: baseKey, name, image: str(raw.image, 'image', unified) })
      if (opts.includeSkinTones && raw.skin_variations) {
        for (const [toneCode, v] of Object.entries(raw.skin_variations)) {
          if (v[hasImg] !== true) continue
          const tones = toneCode.split('-').map((c) => SKIN_TONE_NAMES[c.toUpperCase()] ?? c.toLowerCase())
          const qualifier = [...new Set(tones)].join(', ')
          variants.push({ key: str(v.unified, 'unified', unified).toLowerCase(), name: `${name}: ${qualifier}`, image: str(v.image, 'image', unified), qualifier })
        }
      }
      variants.forEach((v, variant) => {
        const pngPath = join(imgDir, v.image)
        if (!existsSync(pngPath)) throw new Error(`Emoji image missing: ${pngPath} (the ${style} package looks incomplete; reinstall it)`)
        const captions = captionVariants({ name: v.name, shortNames, category, subcategory, style, qualifier: v.qualifier })
        const item: EmojiItem = { key: v.key, name: v.name, style, category, captions, canonicalCaption: canonicalCaption(v.name, style) }
        rows.push({ sortOrder, baseKey, styleIndex, variant, entry: { item, baseKey, pngPath, split } })
      })
    }
  })
  rows.sort((a, b) => a.sortOrder - b.sortOrder || cmp(a.baseKey, b.baseKey) || a.styleIndex - b.styleIndex || a.variant - b.variant)
  return rows.map((r) => r.entry)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
