// Word-level tokenizer for emoji captions and user prompts.
//
// Id layout: 0 = pad (also the whole encoding of the empty prompt, i.e. the CFG null prompt),
// 1..oovBuckets = hashed buckets for words never seen in training, then the vocabulary.
// Hashing unknown words into a few buckets (rather than one <unk>) keeps distinct unknown words
// apart, and it means a prompt can never crash the encoder: every string has an encoding.

import { hashString } from '../util/rng.ts'
import { nameEmoji } from './emoji-names.ts'

export const TOKENIZER_FORMAT = 'di-studio-word-tokenizer'
export const TOKENIZER_VERSION = 1
export const DEFAULT_MAX_LENGTH = 16
export const DEFAULT_OOV_BUCKETS = 4
/** Refuse absurd sizes from a JSON file rather than allocating them. */
const MAX_SANE_LENGTH = 4096
const MAX_SANE_OOV_BUCKETS = 1024

export interface TokenizerJson {
  format: typeof TOKENIZER_FORMAT
  version: typeof TOKENIZER_VERSION
  maxLength: number
  oovBuckets: number
  /** Vocabulary in id order; words[i] has id 1 + oovBuckets + i. */
  words: string[]
}

export interface Encoding {
  /** Exactly maxLength ids, padded with 0 after the last word. */
  ids: Int32Array
  /** Words of the prompt not in the vocabulary (mapped to OOV buckets), in order of appearance. */
  unknownWords: string[]
}

/**
 * Splits text into normalised words: emoji read as their names ("🍎" -> "red apple", emoji-names.ts),
 * Unicode-decomposed with accents dropped ("côte" -> "cote"), lower case, split on every run of
 * characters that are neither letters nor digits (so "&", "_", "-", ":" and punctuation never become tokens).
 */
export function splitWords(text: string): string[] {
  return nameEmoji(text).text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0)
}

export class Tokenizer {
  readonly padId = 0 as const
  readonly maxLength: number
  readonly oovBuckets: number
  readonly vocabSize: number
  /** words in the vocabulary (vocabSize less pad and the OOV buckets) */
  readonly wordCount: number
  private readonly words: readonly string[]
  private readonly idOf: ReadonlyMap<string, number>

  private constructor(words: readonly string[], maxLength: number, oovBuckets: number) {
    this.words = words
    this.maxLength = maxLength
    this.oovBuckets = oovBuckets
    this.vocabSize = 1 + oovBuckets + words.length
    this.wordCount = words.length
    const idOf = new Map<string, number>()
    words.forEach((w, i) => idOf.set(w, 1 + oovBuckets + i))
    this.idOf = idOf
  }

  /**
   * Builds the vocabulary from training captions. Words are ordered by descending frequency,
   * ties alphabetically, so the same captions always give the same ids.
   */
  static build(captions: string[], opts: { maxLength?: number; oovBuckets?: number; minCount?: number } = {}): Tokenizer {
    if (!Array.isArray(captions)) throw new TypeError('Tokenizer.build: captions must be an array of strings')
    const maxLength = opts.maxLength ?? DEFAULT_MAX_LENGTH
    const oovBuckets = opts.oovBuckets ?? DEFAULT_OOV_BUCKETS
    const minCount = opts.minCount ?? 1
    checkPositiveInt('maxLength', maxLength, MAX_SANE_LENGTH)
    checkPositiveInt('oovBuckets', oovBuckets, MAX_SANE_OOV_BUCKETS)
    checkPositiveInt('minCount', minCount, Number.MAX_SAFE_INTEGER)

    const counts = new Map<string, number>()
    for (const caption of captions) {
      if (typeof caption !== 'string') throw new TypeError('Tokenizer.build: every caption must be a string')
      for (const w of splitWords(caption)) counts.set(w, (counts.get(w) ?? 0) + 1)
    }
    const words = [...counts]
      .filter(([, n]) => n >= minCount)
      .sort(([a, na], [b, nb]) => nb - na || (a < b ? -1 : a > b ? 1 : 0))
      .map(([w]) => w)
    return new Tokenizer(words, maxLength, oovBuckets)
  }

  /** Id of a single normalised word, or null if it is not in the vocabulary. */
  wordId(word: string): number | null {
    return this.idOf.get(word) ?? null
  }

  /** The word for a vocabulary id; '' for pad, '<oov:k>' for an OOV bucket. */
  idToWord(id: number): string {
    if (id === 0) return ''
    if (id >= 1 && id <= this.oovBuckets) return `<oov:${id - 1}>`
    const w = this.words[id - 1 - this.oovBuckets]
    if (w === undefined) throw new RangeError(`Tokenizer: id ${id} is outside the vocabulary (size ${this.vocabSize})`)
    return w
  }

  /** Encodes a prompt into exactly maxLength ids; words beyond maxLength are dropped. */
  encode(prompt: string): Encoding {
    if (typeof prompt !== 'string') throw new TypeError(`Tokenizer.encode: prompt must be a string, got ${typeof prompt}`)
    const ids = new Int32Array(this.maxLength)
    const unknownWords: string[] = []
    const words = splitWords(prompt)
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!
      let id = this.idOf.get(w)
      if (id === undefined) {
        unknownWords.push(w)
        id = 1 + (hashString(w) % this.oovBuckets)
      }
      if (i < this.maxLength) ids[i] = id
    }
    return { ids, unknownWords }
  }

  /** Encodes prompts into one row-major B x maxLength array (ready for tf.tensor2d(..., 'int32')). */
  encodeBatch(prompts: string[]): Int32Array {
    if (!Array.isArray(prompts)) throw new TypeError('Tokenizer.encodeBatch: prompts must be an array of strings')
    const out = new Int32Array(prompts.length * this.maxLength)
    prompts.forEach((p, b) => out.set(this.encode(p).ids, b * this.maxLength))
    return out
  }

  toJSON(): TokenizerJson {
    return { format: TOKENIZER_FORMAT, version: TOKENIZER_VERSION, maxLength: this.maxLength, oovBuckets: this.oovBuckets, words: [...this.words] }
  }

  /** Rebuilds a tokenizer from toJSON() output; anything else throws an Error saying what is wrong. */
  static fromJSON(json: unknown): Tokenizer {
    const fail = (why: string): never => {
      throw new Error(`Tokenizer.fromJSON: ${why}`)
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('expected an object')
    const o = json as Record<string, unknown>
    if (o.format !== TOKENIZER_FORMAT) fail(`format must be '${TOKENIZER_FORMAT}', got ${JSON.stringify(o.format)}`)
    if (o.version !== TOKENIZER_VERSION) fail(`unsupported version ${JSON.stringify(o.version)} (this build reads version ${TOKENIZER_VERSION})`)
    if (!isPositiveInt(o.maxLength, MAX_SANE_LENGTH)) fail(`maxLength must be an integer in 1..${MAX_SANE_LENGTH}, got ${JSON.stringify(o.maxLength)}`)
    if (!isPositiveInt(o.oovBuckets, MAX_SANE_OOV_BUCKETS)) fail(`oovBuckets must be an integer in 1..${MAX_SANE_OOV_BUCKETS}, got ${JSON.stringify(o.oovBuckets)}`)
    if (!Array.isArray(o.words)) fail('words must be an array of strings')
    const words = o.words as unknown[]
    const seen = new Set<string>()
    words.forEach((w, i) => {
      if (typeof w !== 'string') fail(`words[${i}] is not a string`)
      const word = w as string
      // A stored word must be exactly what splitWords produces, or it could never be looked up.
      const norm = splitWords(word)
      if (norm.length !== 1 || norm[0] !== word) fail(`words[${i}] ${JSON.stringify(word)} is not a normalised word`)
      if (seen.has(word)) fail(`words[${i}] ${JSON.stringify(word)} is a duplicate`)
      seen.add(word)
    })
    return new Tokenizer(words as string[], o.maxLength as number, o.oovBuckets as number)
  }
}

function isPositiveInt(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max
}

function checkPositiveInt(name: string, v: unknown, max: number): void {
  if (!isPositiveInt(v, max)) throw new RangeError(`Tokenizer: ${name} must be an integer in 1..${max}, got ${String(v)}`)
}
