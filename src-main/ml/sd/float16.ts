// IEEE 754 half precision <-> float32, for float16 exports (`--dtype fp16`): onnxruntime-node takes and
// returns float16 tensors as Uint16Array bit patterns.
const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** Round to nearest even, with overflow to infinity, subnormals and NaN kept. */
export function toHalfBits(value: number): number {
  f32[0] = value
  const x = u32[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0)
  let e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    const half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const mid = 1 << (shift - 1)
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0))
  }
  const half = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  const rounded = half + (rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? 1 : 0)
  e = rounded >>> 10
  return sign | (e >= 0x1f ? 0x7c00 : rounded)
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >>> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 0x1f) return mant ? NaN : sign * Infinity
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

export function toHalf(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length)
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i]!)
  return out
}

export function fromHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length)
  for (let i = 0; i < bits.length; i++) out[i] = fromHalfBits(bits[i]!)
  return out
}
