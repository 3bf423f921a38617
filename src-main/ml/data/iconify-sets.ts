// Extra emoji drawings from the npm @iconify-json/* colour sets: each set is one JSON file of SVG
// bodies keyed by icon name. This module reads a set, matches its icons to the emoji of
// emoji-datasource (the data set's concepts, keyed by codepoints) and rasterises one icon.
//
// Matching (every set names icons in its own way, and several ship an empty chars.json):
//   1. the set's own chars.json, codepoints -> icon name, where it has one;
//   2. else the icon's name, compared with spaces, hyphens and case removed, against the names
//      an emoji is known by: the CLDR names of Fluent Emoji Flat's chars.json (the set with the
//      fullest codepoint list), the Unicode name and the short names of emoji-datasource;
//   3. a few spelling rules the sets share: "flag-for-<country>" is the country's flag, a
//      trailing "-blood-type" (A/B/O buttons) and a "-button" suffix are optional.
// Skin-tone variants (names ending in -light, -medium-dark-skin-tone ...) match no base emoji and
// are left out, like the PNG styles' skin tones by default.

import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { initWasm, Resvg } from '@resvg/resvg-wasm'

export interface IconifyIcon {
  body: string
  width?: number
  height?: number
  left?: number
  top?: number
}

export interface IconifySet {
  /** npm package, e.g. "@iconify-json/fluent-emoji" */
  packageName: string
  version: string
  width: number
  height: number
  icons: Record<string, IconifyIcon>
  /** alias name -> parent icon name */
  aliases: Record<string, string>
  /** codepoints (lower case, '-' joined) -> icon name; empty for sets that ship none */
  chars: Record<string, string>
}

/** An emoji as the matcher sees it: its key (codepoints without fe0f) and the names it is known by. */
export interface EmojiNames {
  key: string
  names: string[]
}

/** "1F1E6-1F1EB" or "2764-fe0f" -> "1f1e6-1f1eb", "2764": variation selectors do not change the concept. */
export function conceptKey(codepoints: string): string {
  return codepoints.toLowerCase().split('-').filter((p) => p !== 'fe0f').join('-')
}

/** Names compared without case, spaces or punctuation: "Red Apple", "red-apple", "redapple". */
export function squashName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '')
}

const packageCache = new Map<string, IconifySet>()

/** Reads an installed @iconify-json package (icons.json, chars.json, package.json). */
export function loadIconifySet(packageName: string): IconifySet {
  const cached = packageCache.get(packageName)
  if (cached) return cached
  let dir: string
  try {
    dir = dirname(createRequire(import.meta.url).resolve(`${packageName}/package.json`))
  } catch {
    throw new Error(`The npm package ${packageName} is not installed (needed for the multi-style emoji data); run npm install`)
  }
  const read = (file: string): unknown => {
    try {
      return JSON.parse(readFileSync(join(dir, file), 'utf8'))
    } catch (err) {
      throw new Error(`Cannot read ${join(dir, file)}: ${(err as Error).message} (reinstall ${packageName})`)
    }
  }
  const pkg = read('package.json') as { version?: unknown }
  const icons = read('icons.json') as { icons?: Record<string, IconifyIcon>; aliases?: Record<string, { parent?: string }>; width?: number; height?: number }
  if (!icons.icons || typeof icons.icons !== 'object') throw new Error(`${packageName}/icons.json has no icons`)
  const chars = read('chars.json') as Record<string, string>
  const aliases: Record<string, string> = {}
  for (const [name, a] of Object.entries(icons.aliases ?? {})) if (typeof a.parent === 'string') aliases[name] = a.parent
  const set: IconifySet = {
    packageName,
    version: String(pkg.version),
    width: icons.width ?? 16,
    height: icons.height ?? 16,
    icons: icons.icons,
    aliases,
    chars: Object.fromEntries(Object.entries(chars ?? {}).map(([cp, name]) => [conceptKey(cp), name])),
  }
  packageCache.set(packageName, set)
  return set
}

/**
 * The name index the matcher looks icon names up in: squashed name -> emoji key. A name given
 * earlier in `emoji[i].names` wins over a later one, and earlier emoji win over later ones, so put
 * the most specific names (CLDR, Unicode) first.
 */
export function buildNameIndex(emoji: EmojiNames[]): Map<string, string> {
  const index = new Map<string, string>()
  const maxNames = Math.max(0, ...emoji.map((e) => e.names.length))
  for (let rank = 0; rank < maxNames; rank++) {
    for (const e of emoji) {
      const name = e.names[rank]
      if (name === undefined) continue
      const squashed = squashName(name)
      if (squashed && !index.has(squashed)) index.set(squashed, e.key)
    }
  }
  return index
}

/** Spellings of one icon name to try, in order. */
function nameCandidates(iconName: string): string[] {
  const out = [iconName]
  const flag = /^flag-for-(?:flag-)?(.+)$/.exec(iconName)
  if (flag) out.push(`${flag[1]} flag`, `flag ${flag[1]}`, flag[1]!)
  if (iconName.endsWith('-blood-type')) out.push(iconName.slice(0, -'-blood-type'.length))
  else out.push(`${iconName}-blood-type`)
  if (iconName.endsWith('-button')) out.push(iconName.slice(0, -'-button'.length))
  return out
}

/**
 * Which icon of the set draws each emoji: emoji key -> icon name. Keys not in `knownKeys` are
 * dropped; when several icons match one emoji, the set's own codepoint list wins, then a real icon
 * over an alias, then the first name in sorted order (deterministic across installs).
 */
export function matchIconSet(set: IconifySet, knownKeys: Set<string>, nameIndex: Map<string, string>): Map<string, string> {
  const byKey = new Map<string, { icon: string; rank: number }>()
  const offer = (key: string | undefined, icon: string, rank: number) => {
    if (!key || !knownKeys.has(key)) return
    const cur = byKey.get(key)
    if (!cur || rank < cur.rank || (rank === cur.rank && icon < cur.icon)) byKey.set(key, { icon, rank })
  }
  for (const [key, icon] of Object.entries(set.chars)) if (set.icons[icon]) offer(key, icon, 0)
  const names: [string, string, number][] = [
    ...Object.keys(set.icons).map((n): [string, string, number] => [n, n, 1]),
    ...Object.entries(set.aliases).filter(([, parent]) => set.icons[parent]).map(([alias, parent]): [string, string, number] => [alias, parent, 2]),
  ]
  for (const [name, icon, rank] of names) {
    for (const candidate of nameCandidates(name)) {
      const key = nameIndex.get(squashName(candidate))
      if (key && knownKeys.has(key)) {
        offer(key, icon, rank)
        break
      }
    }
  }
  return new Map([...byKey].map(([key, { icon }]) => [key, icon]))
}

/** A standalone SVG document for one icon of the set. */
export function iconSvg(set: IconifySet, iconName: string): string {
  const icon = set.icons[iconName]
  if (!icon) throw new Error(`${set.packageName} has no icon '${iconName}'`)
  const w = icon.width ?? set.width
  const h = icon.height ?? set.height
  const left = icon.left ?? 0
  const top = icon.top ?? 0
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="${left} ${top} ${w} ${h}" width="${w}" height="${h}">${icon.body}</svg>`
}

let resvgReady: Promise<void> | undefined

/**
 * Loads resvg's WebAssembly build once per thread. The wasm build, not the native one: resvg 2.6.2
 * panics on a few icons (8 of noto-v1's, in its geometry code), which aborts the whole process in
 * the native module but is a catchable RuntimeError in wasm, after which the instance keeps working
 * (tests/unit/data-iconify.test.ts renders an icon before and after such a failure).
 */
export function initRasteriser(): Promise<void> {
  resvgReady ??= (async () => {
    const wasmPath = createRequire(import.meta.url).resolve('@resvg/resvg-wasm/index_bg.wasm')
    await initWasm(await readFile(wasmPath))
  })()
  return resvgReady
}

/**
 * Rasterises an SVG to a PNG `size` pixels wide (transparent background), as the PNG styles ship
 * at 64x64; the caller composites on white and downsamples exactly like those PNGs. Call
 * initRasteriser() first. Throws on an SVG resvg cannot draw.
 */
export function rasteriseSvg(svg: string, size: number): Uint8Array {
  if (!resvgReady) throw new Error('rasteriseSvg: call initRasteriser() first')
  const resvg = new Resvg(svg, { fitTo: { mode: 'width', value: size }, font: { loadSystemFonts: false } })
  try {
    return resvg.render().asPng()
  } finally {
    resvg.free()
  }
}
