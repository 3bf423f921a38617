// Emoji characters in a prompt, read as their names: "🍎" is "red apple", the words the models were
// trained on (the emoji captions are made of these names, ml/data/captions.ts). Without this, an emoji
// is no word at all, so "🍎", "🍎🍌" and "!!!" all encode as the empty prompt.
//
// Names come from emoji-datasource's emoji.json (the catalogue's own source), loaded once per process,
// and only when a prompt has a character outside ASCII. Emoji are matched whole (one grapheme: a ZWJ
// sequence, a flag, a keycap), with variation selectors and skin tones ignored, as the data set ignores
// skin tones.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

/** The package whose emoji.json names the emoji (both PNG styles' packages carry the same names). */
const NAMES_PACKAGE = 'emoji-datasource-twitter'
const VARIATION_SELECTOR = 'fe0f'
const SKIN_TONES = new Set(['1f3fb', '1f3fc', '1f3fd', '1f3fe', '1f3ff'])

let table: Map<string, string> | null = null
let segmenter: Intl.Segmenter | null = null

/** Code points of one grapheme as emoji.json keys them: lower-case hex joined by '-', without FE0F or skin tones. */
function keyOf(codePoints: readonly string[]): string {
  return codePoints.map((c) => c.toLowerCase()).filter((c) => c !== VARIATION_SELECTOR && !SKIN_TONES.has(c)).join('-')
}

function graphemeKey(grapheme: string): string {
  return keyOf([...grapheme].map((ch) => ch.codePointAt(0)!.toString(16).padStart(4, '0')))
}

/** Emoji key -> name in lower case ("1f34e" -> "red apple"). */
export function emojiNames(): ReadonlyMap<string, string> {
  if (table) return table
  const names = new Map<string, string>()
  let rows: { unified?: unknown; non_qualified?: unknown; name?: unknown }[] = []
  try {
    rows = JSON.parse(readFileSync(createRequire(import.meta.url).resolve(`${NAMES_PACKAGE}/emoji.json`), 'utf8')) as typeof rows
    if (!Array.isArray(rows)) rows = []
  } catch {
    // without the package (a dependency, so only on a broken install) emoji stay unread, as before
  }
  for (const row of rows) {
    if (typeof row.name !== 'string' || typeof row.unified !== 'string') continue
    const name = row.name.toLowerCase().trim()
    for (const code of [row.unified, row.non_qualified]) {
      if (typeof code === 'string' && code !== '') names.set(keyOf(code.split('-')), name)
    }
  }
  table = names
  return names
}

/** One emoji found in a text and its name. */
export interface NamedEmoji {
  emoji: string
  name: string
}

/**
 * The text with every emoji replaced by its name between spaces, and the emoji found (each once, in
 * order). Letters, digits and punctuation are never emoji here (a bare "#" or "1" stays itself).
 */
export function nameEmoji(text: string): { text: string; emoji: NamedEmoji[] } {
  // ASCII has no emoji: the common case costs one test
  if (!/[^\x00-\x7f]/.test(text)) return { text, emoji: [] }
  const names = emojiNames()
  segmenter ??= new Intl.Segmenter('en', { granularity: 'grapheme' })
  const found = new Map<string, string>()
  let out = ''
  for (const { segment } of segmenter.segment(text)) {
    const name = /^[\p{L}\p{N}\s\p{P}]+$/u.test(segment) ? undefined : names.get(graphemeKey(segment))
    if (name === undefined) {
      out += segment
      continue
    }
    if (!found.has(segment)) found.set(segment, name)
    out += ` ${name} `
  }
  return { text: out, emoji: [...found].map(([emoji, name]) => ({ emoji, name })) }
}
