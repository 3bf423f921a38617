// The emoji catalogue: which images exist in each drawing style, their names, captions and the
// train/validation split. Pure metadata; pixels are in emoji-images.ts (PNG) and iconify-sets.ts (SVG).
//
// Styles (credit each wherever images or models trained on them are shipped):
//   twitter       Twemoji, CC-BY-4.0            npm emoji-datasource-twitter (64x64 PNG)
//   google        Noto Emoji, Apache-2.0        npm emoji-datasource-google (64x64 PNG)
//   fluent        Fluent Emoji (3D), MIT        npm @iconify-json/fluent-emoji (SVG)
//   fluent-flat   Fluent Emoji Flat, MIT        npm @iconify-json/fluent-emoji-flat (SVG)
//   noto-classic  Noto Emoji v1, Apache-2.0     npm @iconify-json/noto-v1 (SVG)
//   firefox       Firefox OS Emoji, Apache-2.0  npm @iconify-json/fxemoji (SVG)
//   emojione      Emoji One, CC-BY-4.0          npm @iconify-json/emojione (SVG): the held-out style
// The emoji's names and categories always come from emoji-datasource's emoji.json.

import { readFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Rng, hashString } from '../util/rng.ts'
import { captionVariants, canonicalCaption, type EmojiStyle } from './captions.ts'
import { buildNameIndex, conceptKey, loadIconifySet, matchIconSet, type EmojiNames } from './iconify-sets.ts'

/** The emoji-datasource PNG styles. */
export const PNG_STYLES = ['twitter', 'google'] as const satisfies readonly EmojiStyle[]
/** The @iconify-json SVG styles and their packages. */
export const ICONIFY_STYLES = {
  'fluent': '@iconify-json/fluent-emoji',
  'fluent-flat': '@iconify-json/fluent-emoji-flat',
  'noto-classic': '@iconify-json/noto-v1',
  'firefox': '@iconify-json/fxemoji',
  'emojione': '@iconify-json/emojione',
} as const satisfies Partial<Record<EmojiStyle, string>>
export const ALL_STYLES: readonly EmojiStyle[] = ['twitter', 'google', 'fluent', 'fluent-flat', 'noto-classic', 'firefox', 'emojione']
/**
 * The style no model trains on: the judge's real-image ceiling and "a known emoji drawn in a new
 * way" are measured on it. Emoji One: it covers the most emoji of the SVG sets after Fluent.
 */
export const HELD_OUT_STYLE: EmojiStyle = 'emojione'
/** The styles generators, the alignment model and the judge train on. */
export const TRAINING_STYLES: readonly EmojiStyle[] = ALL_STYLES.filter((s) => s !== HELD_OUT_STYLE)
/** The styles the models shipped before the multi-style data were trained on; still the loaders' default. */
export const EMOJI_STYLES: readonly EmojiStyle[] = PNG_STYLES
/** Fraction of emoji (not images) held out for validation. */
export const VALIDATION_FRACTION = 0.05

export type IconifyStyle = keyof typeof ICONIFY_STYLES

export function isIconifyStyle(style: EmojiStyle): style is IconifyStyle {
  return Object.hasOwn(ICONIFY_STYLES, style)
}

export interface EmojiItem {
  /** The emoji's unified code point sequence in lower case, e.g. "1f34e"; the same in every style. */
  key: string
  name: string
  style: EmojiStyle
  category: string
  captions: string[]
  canonicalCaption: string
}

/** Where one image's pixels come from. */
export type ImageSource =
  | { kind: 'png'; path: string }
  | { kind: 'svg'; packageName: string; icon: string }

/** One image of the catalogue: the item plus where its pixels are and which split it belongs to. */
export interface CatalogEntry {
  item: EmojiItem
  /** Key of the base emoji (item.key without the skin tone); the split is decided on it. */
  baseKey: string
  image: ImageSource
  split: 'train' | 'validation'
}

export interface EmojiSource {
  style: 'twitter' | 'google'
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
export function findEmojiSource(style: EmojiSource['style']): EmojiSource {
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

/** The facts about one base emoji that every style shares (from emoji-datasource's emoji.json). */
interface EmojiFacts {
  baseKey: string
  name: string
  shortNames: string[]
  category: string
  subcategory: string
  sortOrder: number
  split: CatalogEntry['split']
  raw: RawEmoji
}

function emojiFacts(raw: RawEmoji): EmojiFacts {
  const unified = str(raw.unified, 'unified', JSON.stringify(raw.name))
  const baseKey = unified.toLowerCase()
  return {
    baseKey,
    name: str(raw.name, 'name', unified).toLowerCase().trim(),
    shortNames: Array.isArray(raw.short_names) ? raw.short_names.filter((s): s is string => typeof s === 'string') : [],
    category: str(raw.category, 'category', unified),
    subcategory: typeof raw.subcategory === 'string' ? raw.subcategory : '',
    sortOrder: typeof raw.sort_order === 'number' ? raw.sort_order : Number.MAX_SAFE_INTEGER,
    split: isValidationKey(baseKey) ? 'validation' : 'train',
    raw,
  }
}

function makeItem(f: EmojiFacts, style: EmojiStyle, key: string, name: string, qualifier?: string): EmojiItem {
  const captions = captionVariants({ name, shortNames: f.shortNames, category: f.category, subcategory: f.subcategory, style, qualifier })
  return { key, name, style, category: f.category, captions, canonicalCaption: canonicalCaption(name, style) }
}

/**
 * For each SVG style: emoji base key -> icon name. Matched by codepoints (a set's chars.json) or by
 * name (iconify-sets.ts); the names known for an emoji are Fluent Flat's CLDR name (its chars.json
 * is the fullest codepoint list), then the Unicode name, then the short names.
 */
export function matchIconifyStyles(styles: readonly IconifyStyle[], facts: EmojiFacts[] = readEmojiJson(findEmojiSource('twitter')).map(emojiFacts)): Map<IconifyStyle, Map<string, string>> {
  const byConcept = new Map(facts.map((f) => [conceptKey(f.baseKey), f.baseKey]))
  const cldr = new Map<string, string>()
  for (const [cp, name] of Object.entries(loadIconifySet(ICONIFY_STYLES['fluent-flat']).chars)) cldr.set(cp, name)
  const names: EmojiNames[] = facts.map((f) => {
    const concept = conceptKey(f.baseKey)
    return { key: concept, names: [cldr.get(concept), f.name, ...f.shortNames].filter((n): n is string => !!n) }
  })
  const index = buildNameIndex(names)
  const known = new Set(byConcept.keys())
  const out = new Map<IconifyStyle, Map<string, string>>()
  for (const style of styles) {
    const matched = matchIconSet(loadIconifySet(ICONIFY_STYLES[style]), known, index)
    out.set(style, new Map([...matched].map(([concept, icon]) => [byConcept.get(concept)!, icon])))
  }
  return out
}

export interface CatalogOptions {
  /** Styles to list, in this order (default EMOJI_STYLES: the two PNG styles). */
  styles?: readonly EmojiStyle[]
  /** Add the skin-tone variants (PNG styles only; about twice the images); default false. */
  includeSkinTones?: boolean
  /** Installed emoji-datasource packages to read (tests point these elsewhere). */
  sources?: EmojiSource[]
}

/**
 * Lists every image of the chosen styles in a stable order (by emoji sort order, then style in the
 * order given, base image before its skin-tone variants). PNG styles list the images flagged
 * has_img_<style> (a flagged image whose PNG is missing means a broken install and throws); SVG
 * styles list the emoji their icon set draws (matchIconifyStyles).
 */
export function buildCatalog(opts: CatalogOptions = {}): CatalogEntry[] {
  const styles = opts.styles ?? EMOJI_STYLES
  if (styles.length === 0) throw new Error('buildCatalog: no styles chosen')
  for (const style of styles) if (!ALL_STYLES.includes(style)) throw new Error(`Unknown emoji style '${String(style)}' (known: ${ALL_STYLES.join(', ')})`)
  if (new Set(styles).size !== styles.length) throw new Error(`buildCatalog: a style is listed twice (${styles.join(', ')})`)
  const sources = new Map((opts.sources ?? PNG_STYLES.filter((s) => styles.includes(s)).map(findEmojiSource)).map((s) => [s.style, s]))
  const metaSource = sources.get('twitter') ?? sources.get('google') ?? findEmojiSource('twitter')
  const facts = readEmojiJson(metaSource).map(emojiFacts)
  const iconStyles = styles.filter(isIconifyStyle)
  const icons = iconStyles.length > 0 ? matchIconifyStyles(iconStyles, facts) : new Map<IconifyStyle, Map<string, string>>()

  type Row = { sortOrder: number; baseKey: string; styleIndex: number; variant: number; entry: CatalogEntry }
  const rows: Row[] = []
  styles.forEach((style, styleIndex) => {
    if (isIconifyStyle(style)) {
      const matched = icons.get(style)!
      const packageName = ICONIFY_STYLES[style]
      for (const f of facts) {
        const icon = matched.get(f.baseKey)
        if (!icon) continue
        const entry: CatalogEntry = { item: makeItem(f, style, f.baseKey, f.name), baseKey: f.baseKey, image: { kind: 'svg', packageName, icon }, split: f.split }
        rows.push({ sortOrder: f.sortOrder, baseKey: f.baseKey, styleIndex, variant: 0, entry })
      }
      return
    }
    const source = sources.get(style as EmojiSource['style'])
    if (!source) throw new Error(`buildCatalog: no emoji-datasource package given for style '${style}'`)
    const imgDir = join(source.packageDir, 'img', style, '64')
    const hasImg = `has_img_${style}`
    // Each package's own emoji.json has its own has_img flags.
    for (const f of source === metaSource ? facts : readEmojiJson(source).map(emojiFacts)) {
      const { raw, baseKey, name } = f
      const variants: { key: string; name: string; image: string; qualifier?: string }[] = []
      if (raw[hasImg] === true) variants.push({ key: baseKey, name, image: str(raw.image, 'image', baseKey) })
      if (opts.includeSkinTones && raw.skin_variations) {
        for (const [toneCode, v] of Object.entries(raw.skin_variations)) {
          if (v[hasImg] !== true) continue
          const tones = toneCode.split('-').map((c) => SKIN_TONE_NAMES[c.toUpperCase()] ?? c.toLowerCase())
          const qualifier = [...new Set(tones)].join(', ')
          variants.push({ key: str(v.unified, 'unified', baseKey).toLowerCase(), name: `${name}: ${qualifier}`, image: str(v.image, 'image', baseKey), qualifier })
        }
      }
      variants.forEach((v, variant) => {
        const path = join(imgDir, v.image)
        if (!existsSync(path)) throw new Error(`Emoji image missing: ${path} (the ${style} package looks incomplete; reinstall it)`)
        const entry: CatalogEntry = { item: makeItem(f, style, v.key, v.name, v.qualifier), baseKey, image: { kind: 'png', path }, split: f.split }
        rows.push({ sortOrder: f.sortOrder, baseKey, styleIndex, variant, entry })
      })
    }
  })
  rows.sort((a, b) => a.sortOrder - b.sortOrder || cmp(a.baseKey, b.baseKey) || a.styleIndex - b.styleIndex || a.variant - b.variant)
  return rows.map((r) => r.entry)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
