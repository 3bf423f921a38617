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

/**
 * The Train view's chart panels, one small chart per group of metrics of like scale (as W&B panels
 * do), so no chart mixes a reward in the tens with a loss near zero on two axes:
 *   losses      loss/generatorTotal, loss/rewardTerm, loss/fakeScore (and any other loss/)
 *   divergence  the regulariser's terms: loss/regulariser, loss/divergence, loss/scoreGap, loss/cfgOut
 *   rewards     reward/<reward>
 *   gradients   grad/<name>
 *   timing, controls, other: shown when picked under "Metrics shown"
 */
export const CHART_PANELS = [
  { id: 'losses', title: 'Losses' },
  { id: 'divergence', title: 'Divergence terms' },
  { id: 'rewards', title: 'Rewards' },
  { id: 'gradients', title: 'Gradient norms' },
  { id: 'timing', title: 'Timing' },
  { id: 'controls', title: 'Controls' },
  { id: 'other', title: 'Other' },
] as const
export type ChartPanelId = (typeof CHART_PANELS)[number]['id']

/** The regulariser's terms among the loss/ metrics (ml/distar/step-model.ts METRIC). */
const DIVERGENCE_TERMS = new Set(['loss/regulariser', 'loss/divergence', 'loss/scoreGap', 'loss/cfgOut'])

export function chartPanelOf(name: string): ChartPanelId {
  if (DIVERGENCE_TERMS.has(name)) return 'divergence'
  if (name.startsWith('loss/')) return 'losses'
  if (name.startsWith('reward/')) return 'rewards'
  if (name.startsWith('grad/')) return 'gradients'
  if (name.startsWith('time/')) return 'timing'
  if (name.startsWith('control/')) return 'controls'
  return 'other'
}

/** The panels that have a metric among `names`, in CHART_PANELS order, each with its metrics in the order given. */
export function chartPanels(names: readonly string[]): { id: ChartPanelId; title: string; names: string[] }[] {
  return CHART_PANELS.map((p) => ({ id: p.id, title: p.title, names: names.filter((n) => chartPanelOf(n) === p.id) })).filter((p) => p.names.length > 0)
}

/** What the charts show before the user picks: the four main panels (losses, divergence terms, rewards, gradient norms). */
export function defaultPlotted(names: readonly string[]): string[] {
  const main = new Set<ChartPanelId>(['losses', 'divergence', 'rewards', 'gradients'])
  return names.filter((n) => main.has(chartPanelOf(n)))
}
