// The judge's scoring maths on hand-made logits: ranks (ties count against the image), top-1/top-5,
// the wanted emoji's probability, and the summaries overall and by group.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rankOfClass, scoreLogits, summarizeByGroup, summarizeJudge } from '../../src-main/ml/judge/score.ts'

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g']

describe('judge scoring', () => {
  it('ranks the wanted class among all classes, 1 = the first choice', () => {
    const row = [0.1, 3, -2, 0.5, 2, 1, -1]
    assert.equal(rankOfClass(row, 1), 1)
    assert.equal(rankOfClass(row, 4), 2)
    assert.equal(rankOfClass(row, 5), 3)
    assert.equal(rankOfClass(row, 3), 4)
    assert.equal(rankOfClass(row, 0), 5)
    assert.equal(rankOfClass(row, 6), 6)
    assert.equal(rankOfClass(row, 2), 7)
  })

  it('counts ties against the image: constant logits rank the wanted emoji last, not first', () => {
    const flat = new Array(7).fill(0.25)
    for (let c = 0; c < 7; c++) assert.equal(rankOfClass(flat, c), 7)
    // one tie with a better class: shares rank 2-3, reported as 3
    assert.equal(rankOfClass([5, 1, 1, 0], 1), 3)
    assert.equal(rankOfClass([5, 1, 1, 0], 2), 3)
  })

  it('treats a NaN logit for the wanted class as last and NaN elsewhere as not better', () => {
    assert.equal(rankOfClass([Number.NaN, 1, 2], 0), 3)
    assert.equal(rankOfClass([1, Number.NaN, 0], 0), 1)
  })

  it('reads rows at an offset and refuses a class outside the row', () => {
    const rows = [9, 8, 7, /* row 2: */ 1, 2, 3]
    assert.equal(rankOfClass(rows, 2, 3, 3), 1)
    assert.equal(rankOfClass(rows, 0, 3, 3), 3)
    assert.throws(() => rankOfClass(rows, 3, 3, 3), /outside/)
    assert.throws(() => rankOfClass(rows, -1), /outside/)
  })

  it('scores rows of logits: ranks, top-1 / top-5 flags, first choice and probability', () => {
    const C = 7
    const logits = [
      [5, 0, 0, 0, 0, 0, 0], // wanted 0: rank 1
      [0, 1, 2, 3, 4, 5, 6], // wanted 2: 4 better -> rank 5
      [0, 1, 2, 3, 4, 5, 6], // wanted 1: rank 6
      [1, 1, 1, 1, 1, 1, 1], // wanted 3: all tied -> rank 7
    ].flat()
    const s = scoreLogits(logits, 4, C, [0, 2, 1, 3], KEYS)
    assert.deepEqual([...s.ranks], [1, 5, 6, 7])
    assert.deepEqual(s.top1, [true, false, false, false])
    assert.deepEqual(s.top5, [true, true, false, false])
    assert.deepEqual(s.predicted, ['a', 'g', 'g', 'a'])
    const p0 = Math.exp(5) / (Math.exp(5) + 6)
    assert.ok(Math.abs(s.wantedProbability[0]! - p0) < 1e-6)
    assert.ok(Math.abs(s.wantedProbability[3]! - 1 / 7) < 1e-6)
    assert.equal(s.classes, C)
  })

  it('is numerically stable for large logits', () => {
    const s = scoreLogits([1000, 999, -1000], 1, 3, [1], ['x', 'y', 'z'])
    assert.equal(s.ranks[0], 2)
    assert.ok(Math.abs(s.wantedProbability[0]! - 1 / (1 + Math.E)) < 1e-6)
  })

  it('refuses mismatched inputs', () => {
    assert.throws(() => scoreLogits([1, 2, 3], 2, 2, [0, 1], ['a', 'b']), /logits/)
    assert.throws(() => scoreLogits([1, 2], 1, 2, [0, 1], ['a', 'b']), /wanted/)
    assert.throws(() => scoreLogits([1, 2], 1, 2, [0], ['a']), /class keys/)
  })

  it('summarises overall and by group (e.g. category)', () => {
    const logits = [
      [3, 0, 0], // wanted 0 -> rank 1
      [3, 0, 0], // wanted 1 -> rank 3 (tie with class 2)
      [0, 3, 1], // wanted 2 -> rank 2
      [0, 0, 3], // wanted 2 -> rank 1
    ].flat()
    const s = scoreLogits(logits, 4, 3, [0, 1, 2, 2], ['x', 'y', 'z'])
    const all = summarizeJudge(s)
    assert.equal(all.images, 4)
    assert.equal(all.top1, 0.5)
    assert.equal(all.top5, 1)
    assert.equal(all.meanRank, (1 + 3 + 2 + 1) / 4)
    const groups = summarizeByGroup(s, ['Food', 'Animals', 'Food', 'Animals'])
    assert.deepEqual(groups.map((g) => g.group), ['Food', 'Animals'])
    assert.equal(groups[0]!.summary.top1, 0.5)
    assert.equal(groups[0]!.summary.meanRank, 1.5)
    assert.equal(groups[1]!.summary.meanRank, 2)
    const none = summarizeJudge(s, [])
    assert.equal(none.images, 0)
    assert.ok(Number.isNaN(none.top1))
    assert.throws(() => summarizeByGroup(s, ['a']), /group labels/)
  })
})
