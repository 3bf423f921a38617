// Frechet distance between two feature distributions, each summarised by its mean and covariance
// (FID's formula, here on the alignment model's image embedding instead of Inception features):
//
//   FD = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr( (S_a^1/2 S_b S_a^1/2)^1/2 )
//
// The trace term is tr((S_a S_b)^1/2) written with symmetric matrices only: S_a^1/2 S_b S_a^1/2 is
// symmetric positive semi-definite and similar to S_a S_b, so both square roots come from symmetric
// eigen-decompositions (ml-matrix), which stay real and stable even when S_a and S_b do not commute
// or are singular (fewer samples than dimensions). Tiny negative eigenvalues from rounding are clamped.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix'
import type { FeatureSet } from './features.ts'

export interface Moments {
  mean: Float64Array
  /** dim x dim, unbiased (divides by count - 1), as numpy.cov and the usual FID code */
  covariance: Matrix
  count: number
}

export function featureMoments(set: FeatureSet): Moments {
  const { data, count, dim } = set
  if (count < 2) throw new RangeError(`Frechet distance: a covariance needs at least 2 feature vectors, got ${count}`)
  const mean = new Float64Array(dim)
  for (let i = 0; i < count; i++) for (let k = 0; k < dim; k++) mean[k]! += data[i * dim + k]!
  for (let k = 0; k < dim; k++) mean[k]! /= count
  const cov = new Float64Array(dim * dim)
  const centred = new Float64Array(dim)
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < dim; k++) centred[k] = data[i * dim + k]! - mean[k]!
    for (let r = 0; r < dim; r++) {
      const cr = centred[r]!
      for (let c = r; c < dim; c++) cov[r * dim + c]! += cr * centred[c]!
    }
  }
  const covariance = new Matrix(dim, dim)
  for (let r = 0; r < dim; r++) {
    for (let c = r; c < dim; c++) {
      const v = cov[r * dim + c]! / (count - 1)
      covariance.set(r, c, v)
      covariance.set(c, r, v)
    }
  }
  return { mean, covariance, count }
}

/** Square root of a symmetric positive semi-definite matrix (negative rounding noise clamped to 0). */
export function symmetricSqrt(m: Matrix): Matrix {
  const e = new EigenvalueDecomposition(symmetrise(m), { assumeSymmetric: true })
  const roots = e.realEigenvalues.map((v) => Math.sqrt(Math.max(0, v)))
  const V = e.eigenvectorMatrix
  return V.mmul(Matrix.diag(roots)).mmul(V.transpose())
}

/** tr((S_a S_b)^1/2) for symmetric positive semi-definite S_a, S_b. */
export function traceSqrtProduct(a: Matrix, b: Matrix): number {
  const rootA = symmetricSqrt(a)
  const inner = symmetrise(rootA.mmul(b).mmul(rootA))
  const e = new EigenvalueDecomposition(inner, { assumeSymmetric: true })
  return e.realEigenvalues.reduce((sum, v) => sum + Math.sqrt(Math.max(0, v)), 0)
}

export function frechetFromMoments(a: Pick<Moments, 'mean' | 'covariance'>, b: Pick<Moments, 'mean' | 'covariance'>): number {
  const dim = a.mean.length
  if (b.mean.length !== dim || a.covariance.rows !== dim || b.covariance.rows !== dim) {
    throw new RangeError(`Frechet distance: dimensions differ (${dim} vs ${b.mean.length})`)
  }
  let meanTerm = 0
  for (let k = 0; k < dim; k++) meanTerm += (a.mean[k]! - b.mean[k]!) ** 2
  const fd = meanTerm + a.covariance.trace() + b.covariance.trace() - 2 * traceSqrtProduct(a.covariance, b.covariance)
  // the exact value is >= 0; rounding can leave a tiny negative number for identical sets
  return Math.max(0, fd)
}

/** Frechet distance between two sets of feature vectors of the same dimension. */
export function frechetDistance(a: FeatureSet, b: FeatureSet): number {
  if (a.dim !== b.dim) throw new RangeError(`Frechet distance: feature dimensions differ (${a.dim} vs ${b.dim})`)
  return frechetFromMoments(featureMoments(a), featureMoments(b))
}

function symmetrise(m: Matrix): Matrix {
  return m.clone().add(m.transpose()).mul(0.5)
}
