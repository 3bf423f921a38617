import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Tokenizer, splitWords } from '../../src-main/ml/text/tokenizer.ts'

const captions = ['red apple, twitter style', 'apple, food & drink, google style', 'red apple', 'grinning face, google style']

test('splitWords lower-cases, drops accents and splits on non-alphanumerics (no "&" token)', () => {
  assert.deepEqual(splitWords('Food & Drink, Côte d’Ivoire_flag: A-1'), ['food', 'drink', 'cote', 'd', 'ivoire', 'flag', 'a', '1'])
  assert.deepEqual(splitWords('  &&  '), [])
})

test('vocabulary is built from caption words with pad id 0, deterministically', () => {
  const tok = Tokenizer.build(captions)
  assert.equal(tok.padId, 0)
  assert.equal(tok.maxLength, 16)
  // apple x2, red x2, style x3, google x2 ... distinct words: red apple twitter style food drink google grinning face
  assert.equal(tok.vocabSize, 1 + tok.oovBuckets + 9)
  assert.equal(tok.wordId('&'), null)
  assert.deepEqual(Tokenizer.build([...captions].reverse()).toJSON(), tok.toJSON(), 'caption order must not change ids')
  const { ids, unknownWords } = tok.encode('Red APPLE, twitter style')
  assert.deepEqual(unknownWords, [])
  assert.deepEqual([...ids.slice(0, 4)].map((id) => tok.idToWord(id)), ['red', 'apple', 'twitter', 'style'])
  assert.ok([...ids.slice(4)].every((id) => id === 0))
})

test('unknown words map to OOV buckets, are reported, and never throw', () => {
  const tok = Tokenizer.build(captions)
  const { ids, unknownWords } = tok.encode('purple apple ⁂ 猫')
  assert.deepEqual(unknownWords, ['purple', '猫'])
  assert.ok(ids[0]! >= 1 && ids[0]! <= tok.oovBuckets, 'unknown word goes to an OOV bucket')
  assert.equal(tok.idToWord(ids[1]!), 'apple')
  assert.ok(ids[2]! >= 1 && ids[2]! <= tok.oovBuckets)
  assert.equal(ids[3], 0, 'a punctuation character is not a word')
  assert.deepEqual(tok.encode('purple').ids, tok.encode('purple').ids, 'the same unknown word always lands in the same bucket')
  assert.throws(() => tok.encode(42 as unknown as string), /prompt must be a string/)
})

test('emoji characters are read as their names (ZWJ-free, flags, keycaps, skin tones), so "🍎" encodes as "red apple"', () => {
  assert.deepEqual(splitWords('🍎'), ['red', 'apple'])
  assert.deepEqual(splitWords('🍎🍌'), ['red', 'apple', 'banana'])
  assert.deepEqual(splitWords('a 🍎, please'), ['a', 'red', 'apple', 'please'])
  assert.deepEqual(splitWords('👍🏽'), ['thumbs', 'up', 'sign'], 'a skin tone is read as the base emoji')
  assert.deepEqual(splitWords('🇯🇵'), ['japan', 'flag'])
  assert.deepEqual(splitWords('#️⃣'), ['hash', 'key'])
  assert.deepEqual(splitWords('# 1 !!!'), ['1'], 'a bare "#" or digit is not an emoji')
  assert.deepEqual(splitWords('!!!'), [])
  const tok = Tokenizer.build(captions)
  assert.deepEqual([...tok.encode('🍎').ids], [...tok.encode('red apple').ids])
  assert.deepEqual(tok.encode('🍎').unknownWords, [])
  // an emoji whose name the vocabulary lacks is read as that name's words, unknown ones included
  assert.deepEqual(tok.encode('🦄').unknownWords, ['unicorn'])
})

test('the empty prompt (and a prompt of punctuation) encodes to all pad ids', () => {
  const tok = Tokenizer.build(captions)
  for (const p of ['', '   ', ', & ;']) {
    const { ids, unknownWords } = tok.encode(p)
    assert.equal(ids.length, tok.maxLength)
    assert.ok(ids.every((id) => id === tok.padId))
    assert.deepEqual(unknownWords, [])
  }
})

test('long prompts are truncated to maxLength; encodeBatch lays rows out B x maxLength', () => {
  const tok = Tokenizer.build(captions, { maxLength: 3 })
  const { ids } = tok.encode('red apple red apple red apple')
  assert.equal(ids.length, 3)
  assert.deepEqual([...ids].map((id) => tok.idToWord(id)), ['red', 'apple', 'red'])
  const batch = tok.encodeBatch(['red', '', 'apple style'])
  assert.equal(batch.length, 9)
  assert.deepEqual([...batch], [tok.wordId('red'), 0, 0, 0, 0, 0, tok.wordId('apple'), tok.wordId('style'), 0])
})

test('toJSON / fromJSON round trip gives identical encodings', () => {
  const tok = Tokenizer.build(captions, { maxLength: 8 })
  const back = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tok)))
  assert.equal(back.vocabSize, tok.vocabSize)
  assert.equal(back.maxLength, 8)
  for (const p of [...captions, 'unseen words here', '']) assert.deepEqual(back.encode(p), tok.encode(p))
})

test('fromJSON refuses junk with a clear error', () => {
  const good = Tokenizer.build(captions).toJSON()
  const cases: [unknown, RegExp][] = [
    [null, /expected an object/],
    ['tokenizer', /expected an object/],
    [[1, 2], /expected an object/],
    [{ ...good, format: 'bpe' }, /format must be/],
    [{ ...good, version: 99 }, /unsupported version/],
    [{ ...good, maxLength: 0 }, /maxLength/],
    [{ ...good, maxLength: 2.5 }, /maxLength/],
    [{ ...good, oovBuckets: -1 }, /oovBuckets/],
    [{ ...good, words: 'red apple' }, /words must be an array/],
    [{ ...good, words: ['red', 7] }, /words\[1\] is not a string/],
    [{ ...good, words: ['red', 'red'] }, /duplicate/],
    [{ ...good, words: ['Red'] }, /not a normalised word/],
    [{ ...good, words: ['red apple'] }, /not a normalised word/],
  ]
  for (const [json, message] of cases) assert.throws(() => Tokenizer.fromJSON(json), message, JSON.stringify(json))
})

test('build rejects bad options', () => {
  assert.throws(() => Tokenizer.build(captions, { maxLength: 0 }), /maxLength/)
  assert.throws(() => Tokenizer.build([1] as unknown as string[]), /must be a string/)
})
