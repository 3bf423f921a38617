// Half-precision conversion for float16 exports, against IEEE 754 binary16 bit patterns.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fromHalfBits, toHalfBits } from '../../src-main/ml/sd/float16.ts'

test('float32 -> float16 bits: exact values, rounding to nearest even, overflow, subnormals, NaN', () => {
  assert.equal(toHalfBits(1), 0x3c00)
  assert.equal(toHalfBits(-2), 0xc000)
  assert.equal(toHalfBits(0.1), 0x2e66)
  assert.equal(toHalfBits(65504), 0x7bff)
  assert.equal(toHalfBits(1e6), 0x7c00)
  assert.equal(toHalfBits(2 ** -24), 0x0001)
  assert.equal(toHalfBits(1e-9), 0)
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00, 'a tie rounds to even')
  assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02, 'a tie rounds to even (up)')
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))))
})

test('float16 bits -> float32 and back are the identity on every finite half', () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00) continue
    assert.equal(toHalfBits(fromHalfBits(h)), h === 0x8000 ? 0x8000 : h)
  }
  assert.equal(fromHalfBits(0x3555), 0.333251953125)
})
