// The CLIP BPE tokenizer against the reference implementation's own published test values:
// transformers' tests/models/clip/test_tokenization_clip.py.
//   1. test_full_tokenizer: its tiny vocab/merges, "lower newer" -> lo w er</w> n e w er</w> -> [10, 2, 16, 9, 3, 2, 16, 20].
//   2. the integration test (integration_expected_tokens / integration_expected_token_ids for
//      "openai/clip-vit-base-patch32" on the common master input string): the pieces and ids are the test's.
// No npm package ships the real CLIP vocabulary (49408 entries) under a licence we could add, and nothing
// is downloaded, so for (2) the vocab.json written here holds exactly the tokens of the expected output with
// the test's ids, plus the 512 single-byte entries (ids 0-511) that openai/CLIP's simple_tokenizer builds
// from bytes_to_unicode() (vocab = bytes, then bytes + "</w>"; specials 49406/49407 at the end). The
// merges.txt is built BY HAND from the expected pieces (each piece assembled left to right), so it reproduces
// the real splits of this text but not the real merge ranks: what (2) checks is the clean-up, the
// pre-tokenisation regex, the byte-level mapping, the "</w>" marking, the BPE loop and the id lookup.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClipTokenizer, cleanClipText } from '../../src-main/ml/sd/clip-tokenizer.ts'

test('transformers test_full_tokenizer: "lower newer" with the test vocabulary', () => {
  const vocabList = ['l', 'o', 'w', 'e', 'r', 's', 't', 'i', 'd', 'n', 'lo', 'l</w>', 'w</w>', 'r</w>', 't</w>', 'low</w>', 'er</w>', 'lowest</w>', 'newer</w>', 'wider', '<unk>', '<|startoftext|>', '<|endoftext|>']
  const vocab = Object.fromEntries(vocabList.map((t, i) => [t, i]))
  const tok = new ClipTokenizer({ vocab, merges: ['#version: 0.2', 'l o', 'lo w</w>', 'e r</w>'], special: { unk: '<unk>' } })
  assert.deepEqual(tok.tokenize('lower newer'), ['lo', 'w', 'er</w>', 'n', 'e', 'w', 'er</w>'])
  assert.deepEqual([...tok.encode('lower newer'), tok.unkId], [10, 2, 16, 9, 3, 2, 16, 20])
  // same test file, get_input_output_texts: upper case and extra spaces read the same
  assert.deepEqual(tok.tokenize('  LOWER\tnewer '), tok.tokenize('lower newer'))
})

// transformers' master input string (tests/test_tokenization_common.py, as the CLIP test's
// integration_expected_decoded_text of the byte-level tokenizers spells it)
const INPUT = 'This is a test 😊\nI was born in 92000, and this is falsé.\n生活的真谛是\nHi  Hello\nHi   Hello\n\n \n  \n Hello\n<s>\nhi<s>there\nThe following string should be properly encoded: Hello.\nBut ird and ปี   ird   ด\nHey how are you doing'
// prettier-ignore
const EXPECTED_TOKENS = ['this</w>', 'is</w>', 'a</w>', 'test</w>', 'ðŁĺĬ</w>', 'i</w>', 'was</w>', 'born</w>', 'in</w>', '9</w>', '2</w>', '0</w>', '0</w>', '0</w>', ',</w>', 'and</w>', 'this</w>', 'is</w>', 'fal', 's', 'Ã©</w>', '.</w>', 'çĶŁ', 'æ', '´', '»', 'ç', 'ļ', 'Ħ', 'çľŁ', 'è', '°', 'Ľ', 'æĺ', '¯</w>', 'hi</w>', 'hello</w>', 'hi</w>', 'hello</w>', 'hello</w>', '<</w>', 's</w>', '></w>', 'hi</w>', '<</w>', 's</w>', '></w>', 'there</w>', 'the</w>', 'following</w>', 'string</w>', 'should</w>', 'be</w>', 'properly</w>', 'en', 'coded</w>', ':</w>', 'hello</w>', '.</w>', 'but</w>', 'ird</w>', 'and</w>', 'à¸', 'Ľ</w>', 'à¸µ</w>', 'ird</w>', 'à¸Ķ</w>', 'hey</w>', 'how</w>', 'are</w>', 'you</w>', 'doing</w>']
// prettier-ignore
const EXPECTED_IDS = [589, 533, 320, 1628, 3020, 328, 739, 2683, 530, 280, 273, 271, 271, 271, 267, 537, 589, 533, 2778, 82, 4166, 269, 33375, 162, 112, 119, 163, 248, 226, 41570, 164, 108, 249, 42891, 363, 1883, 3306, 1883, 3306, 3306, 283, 338, 285, 1883, 283, 338, 285, 997, 518, 3473, 9696, 1535, 655, 12560, 524, 33703, 281, 3306, 269, 767, 2770, 537, 1777, 505, 20278, 2770, 38825, 2189, 829, 631, 592, 1960]

/** openai/CLIP simple_tokenizer's bytes_to_unicode order: the first 256 vocab entries, then each + "</w>". */
function byteVocab(): string[] {
  const bs: number[] = []
  for (let b = 33; b <= 126; b++) bs.push(b)
  for (let b = 161; b <= 172; b++) bs.push(b)
  for (let b = 174; b <= 255; b++) bs.push(b)
  const cs = [...bs]
  let n = 0
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++) }
  const chars = cs.map((c) => String.fromCharCode(c))
  return [...chars, ...chars.map((c) => `${c}</w>`)]
}

function handBuiltMerges(pieces: string[]): string[] {
  const merges: string[] = []
  const seen = new Set<string>()
  for (const piece of new Set(pieces)) {
    const end = piece.endsWith('</w>')
    const chars = Array.from(end ? piece.slice(0, -4) : piece)
    if (end) chars[chars.length - 1] += '</w>'
    let acc = chars[0]!
    for (const c of chars.slice(1)) {
      const m = `${acc} ${c}`
      if (!seen.has(m)) { seen.add(m); merges.push(m) }
      acc += c
    }
  }
  return merges
}

function writeFolder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd-tok-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

function integrationTokenizer(extra: Record<string, string> = {}): { tok: ClipTokenizer; cleanup: () => void } {
  const vocab: Record<string, number> = {}
  byteVocab().forEach((t, i) => (vocab[t] = i))
  EXPECTED_TOKENS.forEach((t, i) => {
    if (vocab[t] !== undefined) assert.equal(vocab[t], EXPECTED_IDS[i], `${t}: the byte-level construction and the test agree on its id`)
    vocab[t] = EXPECTED_IDS[i]!
  })
  vocab['<|startoftext|>'] = 49406
  vocab['<|endoftext|>'] = 49407
  const dir = writeFolder({
    'vocab.json': JSON.stringify(vocab),
    'merges.txt': ['#version: 0.2', ...handBuiltMerges(EXPECTED_TOKENS)].join('\n') + '\n',
    ...extra,
  })
  return { tok: ClipTokenizer.fromFolder(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

test('the byte-level table gives the ids CLIP has for single bytes (a</w> = 320, s = 82, "!" = 0)', () => {
  const v = byteVocab()
  assert.equal(v.length, 512)
  assert.equal(v.indexOf('a</w>'), 320)
  assert.equal(v.indexOf('s'), 82)
  assert.equal(v.indexOf('!'), 0)
  assert.equal(v.indexOf('æ'), 162)
})

test('transformers integration test (openai/clip-vit-base-patch32): pieces and ids of the master input string', () => {
  const { tok, cleanup } = integrationTokenizer()
  try {
    assert.deepEqual(tok.tokenize(INPUT), EXPECTED_TOKENS)
    assert.deepEqual(tok.encode(INPUT), EXPECTED_IDS)
  } finally {
    cleanup()
  }
})

test('clean-up: NFC, whitespace runs collapsed, lower case (a decomposed é reads as the composed one)', () => {
  assert.equal(cleanClipText('  Fals\u0065\u0301.\n\tHI  '), 'falsé. hi')
  const { tok, cleanup } = integrationTokenizer()
  try {
    assert.deepEqual(tok.encode('Fals\u0065\u0301.'), tok.encode('falsé.'))
    assert.deepEqual(tok.encode('falsé.'), [2778, 82, 4166, 269])
  } finally {
    cleanup()
  }
})

test('77 ids for the text encoder: SD 1.x pads with <|endoftext|> (the default), SD 2.x / SDXL tokenizer_2 with "!" (id 0)', () => {
  const sd1 = integrationTokenizer({
    'special_tokens_map.json': JSON.stringify({ bos_token: { content: '<|startoftext|>' }, eos_token: { content: '<|endoftext|>' }, pad_token: '<|endoftext|>', unk_token: { content: '<|endoftext|>' } }),
    'tokenizer_config.json': JSON.stringify({ model_max_length: 77, do_lower_case: true }),
  })
  const sd2 = integrationTokenizer({
    'special_tokens_map.json': JSON.stringify({ bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', pad_token: '!', unk_token: '<|endoftext|>' }),
  })
  try {
    const a = sd1.tok.encodeForModel('this is a test')
    assert.equal(a.ids.length, 77)
    assert.deepEqual(a.ids.slice(0, 6), [49406, 589, 533, 320, 1628, 49407])
    assert.ok(a.ids.slice(6).every((id) => id === 49407))
    const b = sd2.tok.encodeForModel('this is a test')
    assert.deepEqual(b.ids.slice(0, 6), [49406, 589, 533, 320, 1628, 49407])
    assert.ok(b.ids.slice(6).every((id) => id === 0))
    // truncation=True: 75 ids between bos and eos, eos last
    const long = sd1.tok.encodeForModel(Array(80).fill('hello').join(' '))
    assert.equal(long.ids.length, 77)
    assert.equal(long.ids[0], 49406)
    assert.equal(long.ids[76], 49407)
    assert.ok(long.ids.slice(1, 76).every((id) => id === 3306))
    assert.equal(long.truncated, 5)
  } finally {
    sd1.cleanup()
    sd2.cleanup()
  }
})

test('a malformed tokenizer folder is refused naming the file', () => {
  const dir = writeFolder({ 'vocab.json': '{"a": 1,', 'merges.txt': '#version: 0.2\n' })
  try {
    assert.throws(() => ClipTokenizer.fromFolder(dir), /vocab\.json is not valid JSON/)
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify({ a: 0, '<|startoftext|>': 1, '<|endoftext|>': 2 }))
    writeFileSync(join(dir, 'special_tokens_map.json'), '{')
    assert.throws(() => ClipTokenizer.fromFolder(dir), /special_tokens_map\.json is not valid JSON/)
    writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify({ pad_token: '!' }))
    assert.throws(() => ClipTokenizer.fromFolder(dir), /pad token '!' is not in vocab\.json/)
    rmSync(join(dir, 'merges.txt'))
    assert.throws(() => ClipTokenizer.fromFolder(dir), /merges\.txt cannot be read \(ENOENT\)/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
