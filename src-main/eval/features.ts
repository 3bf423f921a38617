// A set of feature vectors stored row-major (count x dim), as the alignment model's embedding returns them.
export interface FeatureSet {
  /** count * dim values, row i at [i * dim, (i + 1) * dim) */
  data: Float32Array | Float64Array
  count: number
  dim: number
}

export function featureSet(data: Float32Array | Float64Array, count: number, dim: number): FeatureSet {
  if (!Number.isInteger(count) || count < 0 || !Number.isInteger(dim) || dim < 1) throw new RangeError(`feature set: bad shape ${count} x ${dim}`)
  if (data.length !== count * dim) throw new RangeError(`feature set: ${data.length} values for ${count} x ${dim}`)
  return { data, count, dim }
}

/** Builds a feature set from plain rows (tests and small inputs). */
export function featureSetFromRows(rows: readonly (readonly number[])[]): FeatureSet {
  if (rows.length === 0) throw new RangeError('feature set: no rows')
  const dim = rows[0]!.length
  const data = new Float64Array(rows.length * dim)
  rows.forEach((r, i) => {
    if (r.length !== dim) throw new RangeError(`feature set: row ${i} has ${r.length} values, row 0 has ${dim}`)
    data.set(r, i * dim)
  })
  return featureSet(data, rows.length, dim)
}
