import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PNG } from 'pngjs'
import { encodePng, decodePng, readPngText, toRgb8, PngError } from '../../src-main/core/gallery/png-text.ts'
import { metaToText, readImageMeta, parametersText, type ImageMeta } from '../../src-main/core/gallery/image-meta.ts'

const meta: ImageMeta = {
  prompt: 'grinning face, with big eyes — 😀 ünïcode', seed: 7, model: 'reference', modelPath: '/tmp/x', modelSha256: 'a'.repeat(64),
  modelKind: 'eps', checkpointStep: 2000, run: 'run-1', sampler: 'ddim', steps: 25, cfg: 3, width: 4, height: 3,
  createdAt: '2026-11-26T12:00:00.000Z', generationMs: 12.5,
}

function rgbImage(): Uint8Array {
  const rgb = new Uint8Array(4 * 3 * 3)
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 256
  return rgb
}

test('PNG metadata round trip: every field, UTF-8 prompt via iTXt, pixels unchanged', () => {
  const file = encodePng(rgbImage(), 4, 3, metaToText(meta))
  assert.deepEqual(readImageMeta(file, 'test.png'), meta)
  const text = readPngText(file)
  assert.equal(text.Prompt, meta.prompt)
  assert.equal(text.Seed, '7')
  assert.equal(text['CFG scale'], '3')
  assert.equal(text['Checkpoint step'], '2000')
  assert.deepEqual(decodePng(file).rgb, rgbImage())
  // an ordinary PNG decoder still reads it (text chunks are ancillary)
  const png = PNG.sync.read(file)
  assert.equal(png.width, 4)
  assert.equal(png.data[4], rgbImage()[3])
})

test("'parameters' chunk follows the A1111 convention", () => {
  const text = readPngText(encodePng(rgbImage(), 4, 3, metaToText(meta))).parameters!
  const [prompt, settings] = text.split('\n')
  assert.equal(prompt, meta.prompt)
  assert.match(settings!, /^Steps: 25, Sampler: DDIM, CFG scale: 3, Seed: 7, Size: 4x3, Model hash: aaaaaaaaaa, Model: reference, Checkpoint step: 2000/)
  // values never contain the separators
  const odd = parametersText({ ...meta, model: 'a, b\nc', prompt: 'two\nlines' })
  assert.equal(odd.split('\n').length, 2)
  assert.match(odd, /Model: a  b c/)
})

test('Latin-1 text is written as tEXt (readable by the simplest tools)', () => {
  const file = encodePng(rgbImage(), 4, 3, { parameters: 'red apple\nSteps: 1' })
  assert.ok(file.includes(Buffer.from('tEXtparameters\0red apple', 'latin1')))
})

test('corrupt and foreign PNGs give clear errors', () => {
  const file = encodePng(rgbImage(), 4, 3, metaToText(meta))
  assert.throws(() => readImageMeta(Buffer.from('not a png at all'), 'x.png'), (e: Error) => e instanceof PngError && /not a PNG/.test(e.message))
  assert.throws(() => readImageMeta(file.subarray(0, file.length - 20), 'x.png'), /truncated/)
  const flipped = Buffer.from(file)
  flipped[60] ^= 0xff
  assert.throws(() => readImageMeta(flipped, 'x.png'), /CRC mismatch/)
  const plain = encodePng(rgbImage(), 4, 3, { Comment: 'hi' })
  assert.throws(() => readImageMeta(plain, 'x.png'), /no DI Studio metadata/)
  const bad = encodePng(rgbImage(), 4, 3, { 'di-studio': JSON.stringify({ ...meta, seed: 'seven' }) })
  assert.throws(() => readImageMeta(bad, 'x.png'), /'seed' must be an integer/)
  assert.throws(() => toRgb8(new Float32Array(5), 4, 3), /expected 4x3x3/)
})

test('toRgb8 clips and rounds [-1, 1] to 0..255', () => {
  assert.deepEqual([...toRgb8(new Float32Array([-1, 0, 1, -5, 5, 0.5]), 2, 1)], [0, 128, 255, 0, 255, 191])
})
