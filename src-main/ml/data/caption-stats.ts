// Statistics of a dataset's captions, shown in the Data view: how long captions are (characters and
// words), how many variants an image has, the vocabulary and its most frequent words. zod only: the
// contract (browser-safe) takes CaptionStatsSchema from here, as the importer's manifest does.
import { z } from 'zod'

export interface NumberSummary {
  min: number
  median: number
  mean: number
  max: number
}

export interface CaptionStats {
  /** Captions over all items (an image may have several variants). */
  captions: number
  captionsPerImage: NumberSummary
  chars: NumberSummary
  words: NumberSummary
  /** Distinct words (lower case, letters and digits). */
  vocabulary: number
  /** The most frequent words, leaving out STOP_WORDS, most frequent first (ties alphabetical). */
  topWords: { word: string; count: number }[]
}

const NumberSummarySchema = z.object({ min: z.number(), median: z.number(), mean: z.number(), max: z.number() })
/** CaptionStats as stored in a dataset's manifest and sent to the Data view. */
export const CaptionStatsSchema = z.object({
  captions: z.int().min(0),
  captionsPerImage: NumberSummarySchema,
  chars: NumberSummarySchema,
  words: NumberSummarySchema,
  vocabulary: z.int().min(0),
  topWords: z.array(z.object({ word: z.string(), count: z.int().min(1) })),
})

/** Left out of topWords: they lead every list and say nothing about the data. */
export const STOP_WORDS: readonly string[] = ['a', 'an', 'the', 'of', 'on', 'in', 'and', 'with', 'to', 'is', 'at', 'for']
const STOP = new Set(STOP_WORDS)

/** A caption's words: lower case runs of letters and digits. */
export function captionWords(caption: string): string[] {
  return caption.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
}

export function summarise(values: number[]): NumberSummary {
  if (values.length === 0) return { min: 0, median: 0, mean: 0, max: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { min: sorted[0]!, median, mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, max: sorted.at(-1)! }
}

export function captionStats(items: readonly { captions: readonly string[] }[], topCount = 20): CaptionStats {
  const chars: number[] = []
  const words: number[] = []
  const counts = new Map<string, number>()
  for (const item of items) {
    for (const caption of item.captions) {
      chars.push(caption.length)
      const w = captionWords(caption)
      words.push(w.length)
      for (const word of w) counts.set(word, (counts.get(word) ?? 0) + 1)
    }
  }
  const topWords = [...counts]
    .filter(([word]) => !STOP.has(word))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, topCount)
    .map(([word, count]) => ({ word, count }))
  return {
    captions: chars.length,
    captionsPerImage: summarise(items.map((i) => i.captions.length)),
    chars: summarise(chars),
    words: summarise(words),
    vocabulary: counts.size,
    topWords,
  }
}
