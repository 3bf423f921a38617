// The live sliders' scales: a log slider puts the default reward weight (0.1 of 0-10) mid-slider and
// reaches 0 at its leftmost position; values round-trip; a value a step reports counts as the one set.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatControl, fromPosition, LIVE_CONTROLS, sameControlValue, toPosition } from '../../src-renderer/src/lib/live-slider.ts'


describe('live slider scales', () => {
  const reward = LIVE_CONTROLS.find((c) => c.key === 'rewardWeight')!
  it('log-scales the reward weight, whose default 0.1 sits near the bottom of 0-10', () => {
    assert.equal(reward.log, true)
    const middle = (toPosition(reward, 0.1) - reward.min) / (reward.max - reward.min)
    assert.ok(middle > 0.3 && middle < 0.7, `0.1 at ${middle.toFixed(2)} of the slider`)
  })

  it('sets 0 at the leftmost position of a log slider, and shows 0 there', () => {
    assert.equal(fromPosition(reward, reward.min), 0)
    assert.equal(toPosition(reward, 0), reward.min)
    assert.equal(fromPosition(reward, reward.max), 10)
  })

  it('round-trips values through positions, and a step of the slider sets a round value', () => {
    for (const v of [0.002, 0.1, 0.3, 5, 10]) assert.equal(fromPosition(reward, toPosition(reward, v)), v)
    assert.equal(fromPosition(reward, 0.7), 5, 'the slider step nearest log10(5)')
    const linear = { min: 0, max: 10, log: false }
    assert.equal(fromPosition(linear, 4.5), 4.5)
    assert.equal(toPosition(linear, 20), 10, 'clamped to the range')
  })

  it('reads a reported value as the one set despite float noise, and a different one as different', () => {
    assert.ok(sameControlValue(0.30000000000000004, 0.3))
    assert.ok(!sameControlValue(0.31, 0.3))
  })

  it('formats values for people', () => {
    assert.equal(formatControl(0.3), '0.3')
    assert.equal(formatControl(5), '5')
    assert.equal(formatControl(0.0001), '1.0e-4')
    assert.equal(formatControl(0), '0')
    assert.equal(formatControl(undefined), '–')
  })
})
