// The held-out accuracy's uncertainty: the exact Clopper-Pearson interval, checked against published
// values (R's binom.test, which computes the same interval from the beta quantiles).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { accuracyWithInterval, binomialCdf, clopperPearson } from '../../src-renderer/src/lib/binomial-interval.ts'
import { PREFERENCE_MIN_CHOICES } from '../../src-main/contract/index.ts'
import { MIN_PREFERENCE_PAIRS } from '../../src-main/ml/rewards/preference-model.ts'

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 5e-5, `${what}: ${actual} vs ${expected}`)

describe('Clopper-Pearson interval', () => {
  it('matches binom.test: 2 of 3, 7 of 10, 0 of 10, 10 of 10, 50 of 100', () => {
    const cases: [number, number, number, number][] = [
      [2, 3, 0.0942993, 0.9915962],
      [7, 10, 0.3475471, 0.9332605],
      [0, 10, 0, 0.3084971],
      [10, 10, 0.6915029, 1],
      [50, 100, 0.3983211, 0.6016789],
    ]
    for (const [k, n, lower, upper] of cases) {
      const ci = clopperPearson(k, n)
      close(ci.lower, lower, `${k}/${n} lower`)
      close(ci.upper, upper, `${k}/${n} upper`)
    }
  })

  it('says it the way the Prefer view shows it', () => {
    assert.equal(accuracyWithInterval(2 / 3, 3), '67% on 3 pairs, 95% interval 9-99%')
    assert.equal(accuracyWithInterval(4 / 5, 5), '80% on 5 pairs, 95% interval 28-99%')
    assert.equal(accuracyWithInterval(1, 1).startsWith('100% on 1 pair,'), true)
  })

  it('has a binomial CDF that sums to one and refuses counts that are not counts', () => {
    close(binomialCdf(3, 3, 0.3), 1, 'P(X <= n)')
    close(binomialCdf(0, 2, 0.5), 0.25, 'P(X = 0) of 2 fair coins')
    assert.throws(() => clopperPearson(4, 3), /not a count/)
  })

  it('states the same minimum of choices as the trainer', () => {
    assert.equal(PREFERENCE_MIN_CHOICES, MIN_PREFERENCE_PAIRS)
  })
})
