// The list behind "Browse emoji": the emoji of the catalogue's training split in some drawing styles,
// grouped by category, each with the prompt the helper inserts. Built in a worker thread
// (known-emoji-worker.ts) because buildCatalog reads large JSON files synchronously: about 0.2 s for the
// two PNG styles, over a second with the SVG styles.
import type { KnownEmoji } from '../contract/index.ts'
import { buildCatalog } from '../ml/data/emoji-catalog.ts'
import { styleWords, type EmojiStyle } from '../ml/data/captions.ts'

/** Everything of the channel's answer that depends only on the styles (the core adds `known` and `detail`). */
export type KnownEmojiList = Pick<KnownEmoji, 'styles' | 'count' | 'categories'>

/**
 * The training-split emoji of `styles`, one entry per emoji (not per image), in the catalogue's order
 * (emoji-datasource's sort order), grouped by category in order of first appearance. The inserted
 * prompt is the emoji's name ("red apple"): the one caption it was trained on in every style
 * (captions.ts, captionVariants); a style's suffix turns it into that style's canonical caption
 * ("red apple, twitter style"). Skin-tone variants are left out, as the data set leaves them out by default.
 */
export function buildKnownEmojiList(styles: readonly EmojiStyle[]): KnownEmojiList {
  const byKey = new Map<string, { key: string; name: string; category: string; styles: Set<EmojiStyle> }>()
  for (const entry of buildCatalog({ styles })) {
    if (entry.split !== 'train') continue
    const { key, name, category, style } = entry.item
    const known = byKey.get(key)
    if (known) known.styles.add(style)
    else byKey.set(key, { key, name, category, styles: new Set([style]) })
  }
  const categories = new Map<string, KnownEmoji['categories'][number]['emoji']>()
  for (const e of byKey.values()) {
    const list = categories.get(e.category) ?? []
    if (list.length === 0) categories.set(e.category, list)
    list.push({
      key: e.key,
      name: e.name,
      prompt: e.name,
      ...(e.styles.size < styles.length ? { styles: styles.filter((s) => e.styles.has(s)) } : {}),
    })
  }
  return {
    styles: styles.map((style) => ({ style, suffix: `, ${styleWords(style)} style` })),
    count: byKey.size,
    categories: [...categories].map(([name, emoji]) => ({ name, emoji })),
  }
}
