// The evaluation's metric code on cases with known answers: Frechet distance (identity, closed forms
// for one dimension and for non-commuting 2x2 covariances, symmetry, exact sample moments), diversity
// on constructed point sets, score statistics and time per image.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Matrix } from 'ml-matrix'
import { featureSetFromRows, featureSet } from '../../src-main/eval/features.ts'
import { featureMoments, frechetDistance, frechetFromMoments, symmetricSqrt, traceSqrtProduct } from '../../src-main/eval/frechet.ts'
import { meanPairwiseDistance, meanWithinGroupDistance } from '../../src-main/eval/diversity.ts'
import { median, perImageMs, summarizeScores } from '../../src-main/eval/stats.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

const close = (actual: number, expected: number, tol: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected}, got ${actual} (tolerance ${tol})`)

function randomSet(seed: number, count: number, dim: number, scale = 1, shift = 0) {
  const rng = new Rng(seed)
  return featureSet(Float64Array.from(rng.normals(count * dim), (v) => v * scale + shift), count, dim)
}

/**
 * 2*dim points whose sample mean is exactly `mean` and whose unbiased sample covariance is exactly L L^T:
 * +-a e_i (a chosen so the covariance of the +-a e_i is the identity) pushed through x = mean + L w.
 */
function setWithMoments(mean: number[], L: number[][]) {
  const dim = mean.length
  const a = Math.sqrt((2 * dim - 1) / 2)
  const rows: number[][] = []
  for (let i = 0; i < dim; i++) {
    for (const sign of [1, -1]) {
      rows.push(mean.map((m, r) => m + sign * a * L[r]![i]!))
    }
  }
  return featureSetFromRows(rows)
}

const mat = (rows: number[][]) => new Matrix(rows)

/** tr sqrt(M) for a 2x2 positive semi-definite M: sqrt(tr M + 2 sqrt(det M)) (from its two eigenvalues). */
function closedFormTraceSqrt2x2(a: number[][], b: number[][]): number {
  const A = mat(a)
  const B = mat(b)
  const product = A.mmul(B)
  const det = (m: Matrix) => m.get(0, 0) * m.get(1, 1) - m.get(0, 1) * m.get(1, 0)
  return Math.sqrt(product.trace() + 2 * Math.sqrt(det(A) * det(B)))
}

describe('Frechet distance', () => {
  it('is 0 between a set and itself (up to float error)', () => {
    const s = randomSet(1, 200, 16)
    close(frechetDistance(s, s), 0, 1e-9, 'FD(s, s)')
    const f32 = featureSet(Float32Array.from(s.data), s.count, s.dim)
    close(frechetDistance(f32, f32), 0, 1e-6, 'FD(s, s) in float32')
  })

  it('is 0 for a singular covariance too (fewer samples than dimensions)', () => {
    const s = randomSet(2, 10, 32)
    close(frechetDistance(s, s), 0, 1e-8)
  })

  it('matches (m1 - m2)^2 + (s1 - s2)^2 in one dimension', () => {
    const a = { mean: Float64Array.of(1.5), covariance: mat([[4]]) }
    const b = { mean: Float64Array.of(-0.5), covariance: mat([[0.25]]) }
    close(frechetFromMoments(a, b), 2 ** 2 + (2 - 0.5) ** 2, 1e-12)
  })

  it('matches the closed form for two Gaussians with non-commuting covariances', () => {
    const s1 = [[2, 0.9], [0.9, 1]]
    const s2 = [[0.5, -0.3], [-0.3, 3]]
    assert.ok(Math.abs(mat(s1).mmul(mat(s2)).get(0, 1) - mat(s2).mmul(mat(s1)).get(0, 1)) > 0.5, 'S1 S2 != S2 S1')
    const m1 = [1, -2]
    const m2 = [0.5, 1]
    const expected = (1 - 0.5) ** 2 + (-2 - 1) ** 2 + 3 + 3.5 - 2 * closedFormTraceSqrt2x2(s1, s2)
    const fd = frechetFromMoments({ mean: Float64Array.from(m1), covariance: mat(s1) }, { mean: Float64Array.from(m2), covariance: mat(s2) })
    close(fd, expected, 1e-10, 'FD from moments')
    close(traceSqrtProduct(mat(s1), mat(s2)), closedFormTraceSqrt2x2(s1, s2), 1e-12, 'tr sqrt(S1 S2)')
  })

  it('computes the same closed form from sample sets with exactly those moments', () => {
    // L L^T = S1, S2 (Cholesky factors written out)
    const s1 = [[4, 1.2], [1.2, 1]]
    const s2 = [[1, -0.6], [-0.6, 2.25]]
    const chol = (s: number[][]) => {
      const l00 = Math.sqrt(s[0]![0]!)
      const l10 = s[1]![0]! / l00
      return [[l00, 0], [l10, Math.sqrt(s[1]![1]! - l10 * l10)]]
    }
    const a = setWithMoments([0.3, 0.7], chol(s1))
    const b = setWithMoments([-1, 2], chol(s2))
    const ma = featureMoments(a)
    for (let r = 0; r < 2; r++) for (let c = 0; c < 2; c++) close(ma.covariance.get(r, c), s1[r]![c]!, 1e-12, `cov[${r}][${c}]`)
    const expected = (0.3 + 1) ** 2 + (0.7 - 2) ** 2 + 5 + 3.25 - 2 * closedFormTraceSqrt2x2(s1, s2)
    close(frechetDistance(a, b), expected, 1e-10)
  })

  it('matches a diagonal closed form in many dimensions', () => {
    // diagonal covariances commute: FD = |dm|^2 + sum (sqrt(v1) - sqrt(v2))^2
    const dim = 12
    const rng = new Rng(5)
    const v1 = Array.from({ length: dim }, () => 0.1 + rng.uniform() * 3)
    const v2 = Array.from({ length: dim }, () => 0.1 + rng.uniform() * 3)
    const m1 = rng.normals(dim)
    const m2 = rng.normals(dim)
    const diag = (v: number[]) => Matrix.diag(v)
    let expected = 0
    for (let k = 0; k < dim; k++) expected += (m1[k]! - m2[k]!) ** 2 + (Math.sqrt(v1[k]!) - Math.sqrt(v2[k]!)) ** 2
    close(frechetFromMoments({ mean: Float64Array.from(m1), covariance: diag(v1) }, { mean: Float64Array.from(m2), covariance: diag(v2) }), expected, 1e-10)
  })

  it('is symmetric, positive for different sets, and grows with a mean shift', () => {
    const a = randomSet(3, 150, 8)
    const b = randomSet(4, 120, 8, 1.5, 0.2)
    const ab = frechetDistance(a, b)
    close(frechetDistance(b, a), ab, 1e-9 * Math.max(1, ab), 'FD(a,b) = FD(b,a)')
    assert.ok(ab > 0.1)
    const far = randomSet(4, 120, 8, 1.5, 2)
    assert.ok(frechetDistance(a, far) > ab)
  })

  it('refuses sets of different dimension or of a single vector', () => {
    assert.throws(() => frechetDistance(randomSet(1, 5, 3), randomSet(2, 5, 4)), /dimensions differ/)
    assert.throws(() => frechetDistance(randomSet(1, 1, 3), randomSet(2, 5, 3)), /at least 2/)
  })

  it('takes square roots of symmetric PSD matrices', () => {
    const s = mat([[2, 0.9], [0.9, 1]])
    const r = symmetricSqrt(s)
    const back = r.mmul(r)
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) close(back.get(i, j), s.get(i, j), 1e-12)
  })
})

describe('diversity', () => {
  it('is the side length for an equilateral triangle and (4 + 2 sqrt 2) / 6 for a unit square', () => {
    const tri = featureSetFromRows([[0, 0], [1, 0], [0.5, Math.sqrt(3) / 2]])
    close(meanPairwiseDistance(tri), 1, 1e-12)
    const square = featureSetFromRows([[0, 0], [1, 0], [1, 1], [0, 1]])
    close(meanPairwiseDistance(square), (4 + 2 * Math.SQRT2) / 6, 1e-12)
  })

  it('is 0 for identical samples (collapse) and NaN for fewer than two', () => {
    assert.equal(meanPairwiseDistance(featureSetFromRows([[1, 2, 3], [1, 2, 3], [1, 2, 3]])), 0)
    assert.ok(Number.isNaN(meanPairwiseDistance(featureSetFromRows([[1, 2]]))))
  })

  it('averages within groups, leaving out groups of one', () => {
    // group a: two points 2 apart; group b: three collapsed points; group c: one point
    const set = featureSetFromRows([[0, 0], [2, 0], [5, 5], [5, 5], [5, 5], [9, 9]])
    close(meanWithinGroupDistance(set, ['a', 'a', 'b', 'b', 'b', 'c']), (2 + 0) / 2, 1e-12)
    assert.ok(Number.isNaN(meanWithinGroupDistance(set, ['a', 'b', 'c', 'd', 'e', 'f'])))
    assert.throws(() => meanWithinGroupDistance(set, ['a']), /group keys/)
  })
})

describe('score statistics and time per image', () => {
  it('gives mean, sample sd, min and max', () => {
    const s = summarizeScores([2, 4, 4, 4, 5, 5, 7, 9])
    assert.equal(s.mean, 5)
    close(s.sd, Math.sqrt(32 / 7), 1e-12)
    assert.deepEqual([s.n, s.min, s.max], [8, 2, 9])
    assert.equal(summarizeScores([3]).sd, 0)
    assert.throws(() => summarizeScores([]), /no values/)
  })

  it('takes the median pass divided by the images per pass', () => {
    assert.equal(median([5, 1, 3]), 3)
    assert.equal(median([4, 1, 3, 2]), 2.5)
    assert.equal(perImageMs([160, 800, 170], 16), 10.625)
    assert.throws(() => perImageMs([1], 0), /positive/)
  })
})
