// Caption variants for one emoji image. Several phrasings per image teach the text encoder that
// "apple", "red apple" and "red apple, food & drink, google style" point at the same picture;
// canonicalCaption is the one fixed phrasing used for showcase prompts and evaluation.

/** Drawing styles: the two emoji-datasource PNG sets and five @iconify-json SVG sets (emoji-styles.ts). */
export type EmojiStyle = 'twitter' | 'google' | 'fluent' | 'fluent-flat' | 'noto-classic' | 'firefox' | 'emojione'

/** The words a caption uses for a style: "fluent-flat" -> "fluent flat". */
export function styleWords(style: EmojiStyle): string {
  return style.replace(/-/g, ' ')
}

export interface CaptionSource {
  /** Display name in lower case, e.g. "red apple" or "father christmas: medium skin tone". */
  name: string
  /** Short names as in emoji.json, e.g. ["apple"] or ["+1", "thumbsup"]. */
  shortNames: string[]
  /** e.g. "Food & Drink" */
  category: string
  /** e.g. "food-fruit" */
  subcategory: string
  style: EmojiStyle
  /** Extra words appended to short-name captions (skin tone), e.g. "medium skin tone". */
  qualifier?: string
}

/** "<name in lower case>, <style> style", e.g. "red apple, twitter style", "red apple, fluent flat style". */
export function canonicalCaption(name: string, style: EmojiStyle): string {
  return `${name}, ${styleWords(style)} style`
}

/** Short names use '_' and '-' as spaces ("busts_in_silhouette", "flag-mx"). */
export function shortNameToWords(shortName: string): string {
  return shortName.replace(/[_-]+/g, ' ').trim()
}

/**
 * All caption variants, canonical first, without duplicates, e.g. for the twitter red apple:
 * "red apple, twitter style", "red apple", "red apple, food & drink, twitter style",
 * "red apple, food fruit, twitter style", "apple, twitter style", "apple, food & drink, twitter style".
 */
export function captionVariants(src: CaptionSource): string[] {
  const { name, style } = src
  const category = src.category.toLowerCase()
  const subcategory = shortNameToWords(src.subcategory.toLowerCase())
  const styleTag = `${styleWords(style)} style`
  const out = [canonicalCaption(name, style), name, `${name}, ${category}, ${styleTag}`, `${name}, ${subcategory}, ${styleTag}`]
  const shortNames = src.shortNames
    .map((s) => shortNameToWords(s.toLowerCase()))
    .filter((s) => /[\p{L}\p{N}]/u.test(s))
  shortNames.forEach((short, i) => {
    const phrase = src.qualifier ? `${short}: ${src.qualifier}` : short
    out.push(`${phrase}, ${styleTag}`)
    // The category variant only for the main short name, so emoji with many aliases do not
    // drown their own name in short-name captions.
    if (i === 0) out.push(`${phrase}, ${category}, ${styleTag}`)
  })
  // Drop variants that differ only in punctuation ("money-mouth face" / "money mouth face"):
  // they tokenize identically and would only over-weight that phrasing.
  const seen = new Set<string>()
  return out.filter((c) => {
    const words = c.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim()
    if (seen.has(words)) return false
    seen.add(words)
    return true
  })
}
