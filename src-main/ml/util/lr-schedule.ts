// The learning-rate schedule every trainer here uses: linear warm-up to the peak, then one cosine down
// to a floor (a fraction of the peak) at totalSteps, flat after it.

export interface WarmupCosine {
  learningRate: number
  warmupSteps: number
  totalSteps: number
  /** the rate at totalSteps, as a fraction of learningRate */
  minLrFraction: number
}

export function warmupCosineLr(s: WarmupCosine, step: number): number {
  if (step < s.warmupSteps) return (s.learningRate * (step + 1)) / s.warmupSteps
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps))
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress))
  return s.learningRate * (s.minLrFraction + (1 - s.minLrFraction) * cosine)
}
