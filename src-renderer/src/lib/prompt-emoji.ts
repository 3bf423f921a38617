// The prompt helper's pure parts: which of a model's emoji a filter shows, the prompt a name inserts,
// and adding it to a one-prompt-a-line box.
import type { KnownEmoji } from '../../../src-main/contract/index.ts'

export type KnownEmojiEntry = KnownEmoji['categories'][number]['emoji'][number]
export type KnownEmojiStyle = KnownEmoji['styles'][number]

/** One category's shown emoji; `start` is the first one's position among all shown (for the arrow keys). */
export interface ShownGroup {
  name: string
  start: number
  emoji: KnownEmojiEntry[]
}

/**
 * The emoji whose name (or category) contains every word of `query`, drawn in `style` when one is
 * chosen, grouped as the model's list is; empty categories are dropped.
 */
export function filterEmoji(categories: KnownEmoji['categories'], query: string, style: string | null): ShownGroup[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  const out: ShownGroup[] = []
  let start = 0
  for (const category of categories) {
    const group = category.name.toLowerCase()
    const emoji = category.emoji.filter((e) => {
      if (style !== null && e.styles !== undefined && !e.styles.includes(style)) return false
      const name = e.name.toLowerCase()
      return words.every((w) => name.includes(w) || group.includes(w))
    })
    if (emoji.length === 0) continue
    out.push({ name: category.name, start, emoji })
    start += emoji.length
  }
  return out
}

/** What a name inserts: its prompt ("red apple"), or with a chosen style that style's caption ("red apple, twitter style"). */
export function promptFor(emoji: Pick<KnownEmojiEntry, 'prompt'>, style: KnownEmojiStyle | null): string {
  return style ? `${emoji.prompt}${style.suffix}` : emoji.prompt
}

/**
 * Adds `prompt` as the last line of a one-prompt-a-line box (blank lines and spaces at the end are
 * dropped first); a prompt already on a line of its own is not added twice.
 */
export function addPromptLine(text: string, prompt: string): { text: string; added: boolean } {
  if (text.split('\n').some((line) => line.trim() === prompt)) return { text, added: false }
  const kept = text.replace(/\s+$/, '')
  return { text: kept === '' ? prompt : `${kept}\n${prompt}`, added: true }
}
