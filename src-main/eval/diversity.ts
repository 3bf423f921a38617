// Sample diversity as the mean pairwise Euclidean distance between feature vectors: 0 when every sample
// is the same (mode collapse), larger when samples spread out. Two views: over the whole set (do
// different prompts give different images?) and within groups, e.g. the seeds of one prompt (does one
// prompt still give varied images? one-step generators tend to lose this first).
import type { FeatureSet } from './features.ts'

function distance(set: FeatureSet, i: number, j: number): number {
  const { data, dim } = set
  let s = 0
  for (let k = 0; k < dim; k++) s += (data[i * dim + k]! - data[j * dim + k]!) ** 2
  return Math.sqrt(s)
}

/** Mean distance over all pairs i < j of the given rows (default: every row); NaN for fewer than 2 rows. */
export function meanPairwiseDistance(set: FeatureSet, rows?: readonly number[]): number {
  const idx = rows ?? Array.from({ length: set.count }, (_, i) => i)
  if (idx.length < 2) return Number.NaN
  let sum = 0
  let pairs = 0
  for (let a = 0; a < idx.length; a++) {
    for (let b = a + 1; b < idx.length; b++) {
      sum += distance(set, idx[a]!, idx[b]!)
      pairs++
    }
  }
  return sum / pairs
}

/**
 * The mean over groups (rows sharing a key, e.g. a prompt) of each group's mean pairwise distance.
 * Groups with a single row carry no within-group spread and are left out; NaN if no group has two rows.
 */
export function meanWithinGroupDistance(set: FeatureSet, groupOf: readonly string[]): number {
  if (groupOf.length !== set.count) throw new RangeError(`diversity: ${groupOf.length} group keys for ${set.count} rows`)
  const groups = new Map<string, number[]>()
  groupOf.forEach((key, i) => {
    const rows = groups.get(key)
    if (rows) rows.push(i)
    else groups.set(key, [i])
  })
  const perGroup = [...groups.values()].filter((rows) => rows.length >= 2).map((rows) => meanPairwiseDistance(set, rows))
  return perGroup.length === 0 ? Number.NaN : perGroup.reduce((a, b) => a + b, 0) / perGroup.length
}
