// Emoji pixels: decode a PNG, composite it on white, box-downsample, scale to [-1, 1].

import { PNG } from 'pngjs'

/** Largest supported output size: the source PNGs are 64x64 and upsampling adds nothing. */
export const MAX_IMAGE_SIZE = 64

/**
 * Area-weighted resampling weights along one axis: output pixel o covers the source interval
 * [o*src/dst, (o+1)*src/dst) and averages the source pixels in proportion to their overlap.
 * For 64 -> 32 this is a plain 2x2 box filter; it also handles sizes that do not divide 64.
 */
function boxWeights(src: number, dst: number): { index: number; weight: number }[][] {
  const scale = src / dst
  const out: { index: number; weight: number }[][] = []
  for (let o = 0; o < dst; o++) {
    const lo = o * scale
    const hi = (o + 1) * scale
    const taps: { index: number; weight: number }[] = []
    for (let i = Math.floor(lo); i < Math.min(src, Math.ceil(hi)); i++) {
      const overlap = Math.min(hi, i + 1) - Math.max(lo, i)
      if (overlap > 0) taps.push({ index: i, weight: overlap / scale })
    }
    out.push(taps)
  }
  return out
}

/**
 * Decodes one PNG (any colour type pngjs reads; alpha composited on white) and writes
 * size*size*3 floats in [-1, 1], row-major HWC, into out starting at offset.
 */
export function decodeEmojiPng(png: Uint8Array, size: number, out: Float32Array, offset: number, what = 'PNG'): void {
  let decoded: PNG
  try {
    decoded = PNG.sync.read(Buffer.from(png.buffer, png.byteOffset, png.byteLength))
  } catch (err) {
    throw new Error(`Cannot decode ${what}: ${(err as Error).message}`)
  }
  const { width, height, data } = decoded
  // Composite on white at full resolution first, so transparent edges blend to white, not black.
  const rgb = new Float32Array(width * height * 3)
  for (let p = 0; p < width * height; p++) {
    const a = data[p * 4 + 3]! / 255
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = data[p * 4 + c]! * a + 255 * (1 - a)
  }
  const wx = boxWeights(width, size)
  const wy = boxWeights(height, size)
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      let r = 0
      let g = 0
      let b = 0
      for (const ty of wy[oy]!) {
        for (const tx of wx[ox]!) {
          const w = ty.weight * tx.weight
          const s = (ty.index * width + tx.index) * 3
          r += w * rgb[s]!
          g += w * rgb[s + 1]!
          b += w * rgb[s + 2]!
        }
      }
      const d = offset + (oy * size + ox) * 3
      out[d] = toUnitRange(r)
      out[d + 1] = toUnitRange(g)
      out[d + 2] = toUnitRange(b)
    }
  }
}

/** 0..255 -> [-1, 1], clamped because fractional box weights can sum to 1 +- a rounding error. */
function toUnitRange(v: number): number {
  return Math.min(1, Math.max(-1, v / 127.5 - 1))
}
