// VP schedule identities for both schedule kinds.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { VpSchedule, type ScheduleKind } from '../../src-main/ml/diffusion/schedule.ts'

for (const kind of ['cosine', 'linear'] as ScheduleKind[]) {
  describe(`VpSchedule (${kind})`, () => {
    const s = new VpSchedule({ kind, T: 1000 })

    it('is variance preserving: alpha^2 + sigma^2 = 1 at every t', () => {
      for (let t = 0; t < s.T; t++) assert.ok(Math.abs(s.alpha(t) ** 2 + s.sigma(t) ** 2 - 1) < 1e-12, `t=${t}`)
    })

    it('alphaBar falls strictly from ~1 to ~0, so sigma rises and log-SNR falls', () => {
      assert.ok(s.alphaBar(0) > 0.999 && s.alphaBar(0) < 1)
      assert.ok(s.alphaBar(s.T - 1) < 1e-3)
      for (let t = 1; t < s.T; t++) {
        assert.ok(s.alphaBar(t) < s.alphaBar(t - 1), `alphaBar not decreasing at t=${t}`)
        assert.ok(s.sigma(t) > s.sigma(t - 1))
        assert.ok(s.lambda(t) < s.lambda(t - 1))
      }
    })

    it('alpha is the square root of alphaBar', () => {
      for (const t of [0, 1, 250, 500, 999]) assert.ok(Math.abs(s.alpha(t) - Math.sqrt(s.alphaBar(t))) < 1e-15)
    })
  })
}

describe('VpSchedule sampling grid and bad input', () => {
  const s = new VpSchedule()

  it('samplingTimesteps runs from T-1 down to 0, strictly decreasing, for any step count', () => {
    assert.deepEqual(s.samplingTimesteps(1), [999])
    assert.deepEqual(s.samplingTimesteps(2), [999, 0])
    for (const n of [3, 4, 25, 50, 1000]) {
      const ts = s.samplingTimesteps(n)
      assert.equal(ts.length, n)
      assert.equal(ts[0], 999)
      assert.equal(ts[n - 1], 0)
      for (let i = 1; i < n; i++) assert.ok(ts[i]! < ts[i - 1]!)
    }
  })

  it('refuses out-of-range timesteps, step counts and configs with clear errors', () => {
    assert.throws(() => s.alpha(1000), /t must be an integer in \[0, 999\]/)
    assert.throws(() => s.sigma(-1), /t must be an integer/)
    assert.throws(() => s.alpha(1.5), /t must be an integer/)
    assert.throws(() => s.samplingTimesteps(0), /steps must be an integer in \[1, 1000\]/)
    assert.throws(() => s.samplingTimesteps(1001), /steps must be/)
    assert.throws(() => new VpSchedule({ kind: 'cosine', T: 1 }), /T must be an integer >= 2/)
    assert.throws(() => new VpSchedule({ kind: 'quadratic' as ScheduleKind, T: 1000 }), /unknown kind/)
  })
})
