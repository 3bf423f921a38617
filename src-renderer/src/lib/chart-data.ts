// Lines up metric series on one x axis for uPlot (x = step). A DI* run logs every metric at every
// step, so the plotted series usually share their steps exactly: then the columns are copied straight
// (one pass, no sets, maps or sorting), which keeps a redraw cheap at tens of thousands of points.
// Series logged at different steps (a metric that appears later, a run resumed mid-way) are merged.
export interface MetricSeries {
  steps: number[]
  values: (number | null)[]
}

/** [steps, ...one column per name]; a missing value is null, and so is a value <= 0 on a log scale. */
export type AlignedColumns = [number[], ...(number | null)[][]]

export function alignSeries(series: ReadonlyMap<string, MetricSeries>, names: readonly string[], logScale: boolean): AlignedColumns {
  const chosen = names.map((name) => series.get(name) ?? { steps: [], values: [] })
  const column = (values: (number | null)[]): (number | null)[] =>
    logScale ? values.map((v) => (v !== null && v <= 0 ? null : v)) : values.slice()
  if (chosen.length > 0 && chosen.every((s) => sameSteps(s.steps, chosen[0]!.steps))) {
    return [chosen[0]!.steps.slice(), ...chosen.map((s) => column(s.values))]
  }
  const xs = mergeSortedSteps(chosen.map((s) => s.steps))
  const index = new Map(xs.map((x, i) => [x, i]))
  const ys = chosen.map((s) => {
    const out: (number | null)[] = new Array(xs.length).fill(null)
    for (let i = 0; i < s.steps.length; i++) {
      const v = s.values[i] ?? null
      out[index.get(s.steps[i]!)!] = logScale && v !== null && v <= 0 ? null : v
    }
    return out
  })
  return [xs, ...ys]
}

function sameSteps(a: number[], b: number[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}

/** The union of ascending step lists, ascending, without duplicates. */
function mergeSortedSteps(lists: number[][]): number[] {
  const all = new Set<number>()
  for (const steps of lists) for (const s of steps) all.add(s)
  return [...all].sort((a, b) => a - b)
}
