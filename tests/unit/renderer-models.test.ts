// Which model the Gallery and Compare offer first: a trained DI* generator, then the shipped
// distilled one, and the raw reference (blurry as a one-step generator) only when nothing else is there.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { defaultGenerator } from '../../src-renderer/src/lib/models.ts'

const reference = { path: 'reference', kind: 'reference', available: true } as const
const distilled = { path: 'one-step-init', kind: 'one-step', available: true } as const
const newestRun = { path: 'runs/b', kind: 'run', available: true, step: 300 } as const
const olderRun = { path: 'runs/a', kind: 'run', available: true, step: 100 } as const
const onnx = { path: 'models/x', kind: 'onnx', available: true } as const

describe('defaultGenerator', () => {
  it('prefers the newest DI* run, then the distilled generator, then the first available model', () => {
    assert.equal(defaultGenerator([reference, distilled, onnx, newestRun, olderRun])?.path, 'runs/b')
    assert.equal(defaultGenerator([reference, distilled, onnx])?.path, 'one-step-init')
    assert.equal(defaultGenerator([reference, onnx])?.path, 'reference')
  })

  it('skips models that are missing, and still names one when none is available', () => {
    assert.equal(defaultGenerator([reference, { ...distilled, available: false }, onnx])?.path, 'reference')
    assert.equal(defaultGenerator([{ ...newestRun, available: false }, { ...reference, available: false }])?.path, 'runs/b')
    assert.equal(defaultGenerator([]), undefined)
  })

  it('skips failed runs and runs stopped after a few steps, taking the next worthwhile one', () => {
    const shortRun = { path: 'runs/c', kind: 'run', available: true, step: 10 } as const
    assert.equal(defaultGenerator([reference, distilled, shortRun, newestRun, olderRun])?.path, 'runs/b', 'a 10-step run is passed over')
    const runs = [{ runId: 'b', state: 'failed' }, { runId: 'a', state: 'completed' }] as const
    assert.equal(defaultGenerator([reference, distilled, newestRun, olderRun], runs)?.path, 'runs/a', 'a failed run is passed over')
    assert.equal(defaultGenerator([reference, distilled, shortRun, newestRun], runs)?.path, 'one-step-init', 'no worthwhile run: the distilled generator')
  })
})
