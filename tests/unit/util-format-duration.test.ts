import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatDuration } from '../../src-main/util/format-duration.ts'

describe('formatDuration', () => {
  it('writes seconds, minutes and hours at the precision a progress line needs', () => {
    assert.equal(formatDuration(0), '0s')
    assert.equal(formatDuration(42.4), '42s')
    assert.equal(formatDuration(59.6), '1m00s')
    assert.equal(formatDuration(425), '7m05s')
    assert.equal(formatDuration(3600 + 125), '1h02m')
    assert.equal(formatDuration(26 * 3600), '26h00m')
  })
  it('says "?" for what is not a duration', () => {
    for (const v of [NaN, Infinity, -1]) assert.equal(formatDuration(v), '?')
  })
})
