// Backoff for prompt words a model never saw in training: instead of a hashed "unknown" bucket (noise),
// the word is read as the known words WordNet relates to it, e.g. "gorilla" -> great ape, ape,
// primate; "lemon" -> citrus, fruit. Used by the alignment model's bag-of-words text encoder, where a
// word's feature is its embedding, so a backoff word set is simply the mean of those embeddings.
import { z } from 'zod'
import { splitWords } from './tokenizer.ts'
import type { Synset, SynsetRef, WordNet } from './wordnet.ts'

export const wordBackoffSchema = z.object({
  source: z.literal('wordnet'),
  /** how many levels of broader synsets (hypernyms) to collect; weight 1/level */
  hypernymDepth: z.number().int().min(0).max(8),
})
export type WordBackoff = z.infer<typeof wordBackoffSchema>

export const DEFAULT_WORD_BACKOFF: WordBackoff = { source: 'wordnet', hypernymDepth: 3 }

/** Function words inside multi-word lemmas ("article of clothing") that say nothing about the word. */
export const FUNCTION_WORDS = new Set(['a', 'an', 'the', 'of', 'and', 'or', 'in', 'on', 'for', 'to', 'with', 'by', 'at', 'from'])

/**
 * Known word ids related to `word`, with weights summing to 1 (empty if WordNet does not know the word,
 * names a proper noun, or relates it to no known word).
 *
 * From the word's first sense: its synonyms (weight 1) and the lemmas of its broader synsets up to
 * `hypernymDepth` levels (weight 1/level). Glosses are left out: free text adds more noise than meaning
 * (measured on the validation captions, see the alignment model card). Proper nouns (instances, such
 * as countries) are left out because all their hypernyms are alike ("European country"), which made
 * every flag caption look the same.
 */
export function wordNetBackoff(wordnet: WordNet, word: string, knownId: (word: string) => number | null, opts: WordBackoff = DEFAULT_WORD_BACKOFF): Map<number, number> {
  const weights = new Map<number, number>()
  const first = wordnet.firstSenseOf(word)
  if (!first) return weights
  const sense = wordnet.synset(first)
  if (sense.isInstance) return weights
  const addLemmas = (synset: Synset, weight: number) => {
    for (const lemma of synset.lemmas) {
      for (const w of splitWords(lemma)) {
        if (w === word || FUNCTION_WORDS.has(w)) continue
        // Lemmas are singular; the captions may know only the plural, or the reverse.
        const id = knownId(w) ?? knownId(`${w}s`) ?? (w.endsWith('s') ? knownId(w.slice(0, -1)) : null)
        if (id !== null) weights.set(id, (weights.get(id) ?? 0) + weight)
      }
    }
  }
  addLemmas(sense, 1)
  let frontier: SynsetRef[] = sense.broader
  const seen = new Set<string>([`${first.part}:${first.offset}`])
  for (let level = 1; level <= opts.hypernymDepth && frontier.length > 0; level++) {
    const next: SynsetRef[] = []
    for (const ref of frontier) {
      const key = `${ref.part}:${ref.offset}`
      if (seen.has(key)) continue
      seen.add(key)
      const synset = wordnet.synset(ref)
      addLemmas(synset, 1 / level)
      next.push(...synset.broader)
    }
    frontier = next
  }
  let total = 0
  for (const w of weights.values()) total += w
  for (const [id, w] of weights) weights.set(id, w / total)
  return weights
}
