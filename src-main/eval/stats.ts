// Summary statistics of per-image scores and timings.

export interface ScoreSummary {
  mean: number
  /** sample standard deviation (divides by n - 1); 0 for a single value */
  sd: number
  n: number
  min: number
  max: number
}

export function summarizeScores(values: ArrayLike<number>): ScoreSummary {
  const n = values.length
  if (n === 0) throw new RangeError('summarizeScores: no values')
  let sum = 0
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < n; i++) {
    const v = values[i]!
    sum += v
    if (v < min) min = v
    if (v > max) max = v
  }
  const mean = sum / n
  let squares = 0
  for (let i = 0; i < n; i++) squares += (values[i]! - mean) ** 2
  return { mean, sd: n > 1 ? Math.sqrt(squares / (n - 1)) : 0, n, min, max }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median: no values')
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * Time per image from timed passes that each made `imagesPerPass` images: the median pass (other jobs
 * share the cores, so single passes are noisy) divided by the images it made.
 */
export function perImageMs(passMs: readonly number[], imagesPerPass: number): number {
  if (!(imagesPerPass > 0)) throw new RangeError(`perImageMs: imagesPerPass must be positive, got ${imagesPerPass}`)
  return median(passMs) / imagesPerPass
}
