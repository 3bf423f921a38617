// How sure a held-out accuracy is: the exact (Clopper-Pearson) interval of a binomial proportion, k
// successes in n trials. It never claims less uncertainty than there is, which matters here: the
// preference model is measured on a handful of held-out pairs ("67% on 3 pairs, 95% interval 9-99%").

/** P(X <= k) for X ~ Binomial(n, p), summed in log space (exact enough for n up to tens of thousands). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0
  if (k >= n) return 1
  if (p <= 0) return 1
  if (p >= 1) return 0
  const logP = Math.log(p)
  const logQ = Math.log1p(-p)
  let logCoef = 0 // log C(n, 0)
  let sum = 0
  for (let i = 0; i <= k; i++) {
    if (i > 0) logCoef += Math.log((n - i + 1) / i)
    sum += Math.exp(logCoef + i * logP + (n - i) * logQ)
  }
  return Math.min(1, sum)
}

/** The p in [0, 1] where a decreasing function of p crosses `target`, by bisection. */
function solveDecreasing(f: (p: number) => number, target: number): number {
  let lo = 0
  let hi = 1
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2
    if (f(mid) > target) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}

/**
 * The Clopper-Pearson interval for k successes out of n at the given confidence (default 95%): lower
 * is the p with P(X >= k) = alpha/2 (0 when k = 0), upper the p with P(X <= k) = alpha/2 (1 when k = n).
 */
export function clopperPearson(k: number, n: number, confidence = 0.95): { lower: number; upper: number } {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(k) || k < 0 || k > n) throw new Error(`clopperPearson: ${k} of ${n} is not a count`)
  const tail = (1 - confidence) / 2
  // P(X >= k) = 1 - P(X <= k-1) grows with p; P(X <= k) falls with p
  const lower = k === 0 ? 0 : solveDecreasing((p) => binomialCdf(k - 1, n, p), 1 - tail)
  const upper = k === n ? 1 : solveDecreasing((p) => binomialCdf(k, n, p), tail)
  return { lower, upper }
}

/** "67% on 3 pairs, 95% interval 9-99%" for an accuracy measured on n pairs. */
export function accuracyWithInterval(accuracy: number, n: number): string {
  if (n < 1) return 'no held-out pairs'
  const k = Math.round(accuracy * n)
  const { lower, upper } = clopperPearson(k, n)
  const pct = (x: number) => Math.round(x * 100)
  return `${pct(k / n)}% on ${n} pair${n === 1 ? '' : 's'}, 95% interval ${pct(lower)}-${pct(upper)}%`
}
