import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PNG } from 'pngjs'
import { decodeEmojiPng } from '../../src-main/ml/data/emoji-images.ts'

/** A PNG whose RGBA pixel at (x, y) is given by px. */
function makePng(w: number, h: number, px: (x: number, y: number) => [number, number, number, number]): Buffer {
  const png = new PNG({ width: w, height: h })
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) png.data.set(px(x, y), (y * w + x) * 4)
  return PNG.sync.write(png)
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-5

test('transparent pixels become white, opaque black -1, half-transparent red blends with white', () => {
  const png = makePng(3, 1, (x) => (x === 0 ? [0, 0, 0, 0] : x === 1 ? [0, 0, 0, 255] : [255, 0, 0, 128]))
  const out = new Float32Array(9)
  // Size 3 from width 3 copies pixels; height 1 -> 3 repeats the single row.
  decodeEmojiPng(png, 3, out, 0)
  assert.deepEqual([...out.slice(0, 3)], [1, 1, 1])
  assert.deepEqual([...out.slice(3, 6)], [-1, -1, -1])
  const a = 128 / 255
  const blend = (255 * (1 - a)) / 127.5 - 1
  assert.ok(close(out[6]!, 1) && close(out[7]!, blend) && close(out[8]!, blend), String(out.slice(6)))
})

test('64 -> 32 is a 2x2 box average, written at the given offset', () => {
  // Checkerboard of black and white: each 2x2 block averages to mid grey (0 in [-1, 1]).
  const png = makePng(64, 64, (x, y) => ((x + y) % 2 === 0 ? [0, 0, 0, 255] : [255, 255, 255, 255]))
  const out = new Float32Array(10 + 32 * 32 * 3).fill(7)
  decodeEmojiPng(png, 32, out, 10)
  assert.deepEqual([...out.slice(0, 10)], new Array(10).fill(7), 'nothing written before offset')
  assert.ok(out.subarray(10).every((v) => close(v, 0)))
})

test('sizes that do not divide the source use area weights and stay in [-1, 1]', () => {
  // Left half black, right half white: with 64 -> 3 the middle column straddles the edge.
  const png = makePng(64, 64, (x) => (x < 32 ? [0, 0, 0, 255] : [255, 255, 255, 255]))
  const out = new Float32Array(3 * 3 * 3)
  decodeEmojiPng(png, 3, out, 0)
  for (let y = 0; y < 3; y++) {
    assert.ok(close(out[(y * 3 + 0) * 3]!, -1))
    assert.ok(close(out[(y * 3 + 1) * 3]!, 0))
    assert.ok(close(out[(y * 3 + 2) * 3]!, 1))
  }
  assert.ok(out.every((v) => v >= -1 && v <= 1))
})

test('a damaged PNG gives a clear error naming the file', () => {
  const png = makePng(4, 4, () => [1, 2, 3, 255])
  assert.throws(() => decodeEmojiPng(png.subarray(0, 30), 2, new Float32Array(12), 0, 'x.png'), /Cannot decode x\.png/)
  assert.throws(() => decodeEmojiPng(new Uint8Array([1, 2, 3]), 2, new Float32Array(12), 0, 'y.png'), /Cannot decode y\.png/)
})
