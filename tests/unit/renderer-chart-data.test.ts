// The Train chart's data alignment: shared steps are copied as they are, differing steps are merged
// with gaps as null, and a log scale blanks values that cannot be drawn.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { alignSeries, chartPanels, defaultPlotted } from '../../src-renderer/src/lib/chart-data.ts'
import type { MetricSeries } from '../../src-renderer/src/lib/chart-data.ts'

const series = (entries: Record<string, [number, number | null][]>) =>
  new Map<string, MetricSeries>(Object.entries(entries).map(([name, points]) => [name, { steps: points.map((p) => p[0]), values: points.map((p) => p[1]) }]))

describe('chart data alignment', () => {
  it('uses the shared steps directly and never hands out the store arrays', () => {
    const data = series({ a: [[0, 1], [1, 2], [2, 3]], b: [[0, -1], [1, 0], [2, 5]] })
    const aligned = alignSeries(data, ['a', 'b'], false)
    assert.deepEqual(aligned, [[0, 1, 2], [1, 2, 3], [-1, 0, 5]])
    aligned[0].push(99)
    aligned[1]!.push(99)
    assert.deepEqual(data.get('a'), { steps: [0, 1, 2], values: [1, 2, 3] })
  })

  it('merges series logged at different steps, leaving gaps as null', () => {
    const data = series({ a: [[0, 1], [2, 3], [4, 5]], late: [[3, 30], [4, 40]] })
    assert.deepEqual(alignSeries(data, ['a', 'late'], false), [[0, 2, 3, 4], [1, 3, null, 5], [null, null, 30, 40]])
  })

  it('blanks values at or below zero on a log scale, on both paths', () => {
    const same = series({ a: [[0, 1], [1, 0], [2, -2]] })
    assert.deepEqual(alignSeries(same, ['a'], true), [[0, 1, 2], [1, null, null]])
    const merged = series({ a: [[0, 0], [1, 2]], b: [[1, -1], [2, 4]] })
    assert.deepEqual(alignSeries(merged, ['a', 'b'], true), [[0, 1, 2], [null, 2, null], [null, null, 4]])
  })

  it('handles no names and unknown names', () => {
    assert.deepEqual(alignSeries(new Map(), [], false), [[]])
    assert.deepEqual(alignSeries(series({ a: [[0, 1]] }), ['a', 'missing'], false), [[0], [1], [null]])
  })
})

describe('chart panels', () => {
  // what a DI* step streams (core/runs/step-metrics.ts)
  const streamed = [
    'loss/generatorTotal', 'loss/regulariser', 'loss/divergence', 'loss/scoreGap', 'loss/cfgOut', 'loss/rewardTerm', 'loss/fakeScore',
    'reward/alignment', 'reward/brightness', 'grad/rewardNorm', 'grad/regulariserNorm', 'time/stepMs', 'time/wallMs', 'skipped',
    'control/rewardWeight', 'control/cfgScale',
  ]

  it('shows one panel per group of like scale by default: losses, divergence terms, rewards, gradient norms', () => {
    const panels = chartPanels(defaultPlotted(streamed))
    assert.deepEqual(panels.map((p) => p.title), ['Losses', 'Divergence terms', 'Rewards', 'Gradient norms'])
    assert.deepEqual(panels[0]!.names, ['loss/generatorTotal', 'loss/rewardTerm', 'loss/fakeScore'])
    assert.deepEqual(panels[1]!.names, ['loss/regulariser', 'loss/divergence', 'loss/scoreGap', 'loss/cfgOut'])
    assert.deepEqual(panels[2]!.names, ['reward/alignment', 'reward/brightness'])
    assert.deepEqual(panels[3]!.names, ['grad/rewardNorm', 'grad/regulariserNorm'])
  })

  it('gives picked timing, control and other metrics panels of their own, never mixing them into the others', () => {
    const panels = chartPanels(streamed)
    assert.deepEqual(panels.map((p) => p.id), ['losses', 'divergence', 'rewards', 'gradients', 'timing', 'controls', 'other'])
    assert.deepEqual(panels.flatMap((p) => p.names).sort(), [...streamed].sort(), 'every metric in exactly one panel')
    assert.deepEqual(chartPanels(['reward/alignment']).map((p) => p.id), ['rewards'], 'no empty panels')
  })
})
