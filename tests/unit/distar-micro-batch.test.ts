// Big batches in bounded memory (issue 23): a DI* step whose batch is bigger than `rowsPerPass` rows per
// thread is computed in passes whose gradients are accumulated. The step model sees no more rows at once
// than that, and the step (losses, rewards, gradient norms, weights) is the one-pass step up to float
// rounding, on one thread and on two. Tiny model on wasm, as the studio trains.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { RunSession, ROWS_PER_PASS } from '../../src-main/core/runs/run-session.ts'
import { parseRunConfig } from '../../src-main/core/runs/run-config.ts'
import type { DiStarStepResult } from '../../src-main/ml/distar/trainer.ts'
import { assertSameSteps } from './distar-compare.ts'
import { saveTinyReference, tinyRunConfig } from './runs-fixtures.ts'

const STEPS = 3

const SIDES = ['one pass', 'in passes'] as const

/** Rows of every batch the step model's losses were given, in order (on this thread). */
function recordRows(session: RunSession): number[] {
  const rows: number[] = []
  const model = session.trainer.stepModel
  const loss = model.loss.bind(model)
  model.loss = (batch, name, context) => {
    rows.push(batch.cond!.shape[0])
    return loss(batch, name, context)
  }
  return rows
}

function assertSameWeights(a: RunSession, b: RunSession): void {
  const wa = a.generatorValues()
  const wb = b.generatorValues()
  for (const [name, values] of Object.entries(wa)) {
    values.forEach((v, i) => assert.ok(Math.abs(v - wb[name]![i]!) <= 1e-4 * Math.max(1, Math.abs(v)), `generator ${name}[${i}]: ${v} vs ${wb[name]![i]}`))
  }
}

describe('DI* steps in passes (gradient accumulation)', () => {
  let referenceDir: string
  let config: ReturnType<typeof parseRunConfig>
  before(async () => {
    await initTf({ prefer: 'wasm' })
    referenceDir = await saveTinyReference()
    // batch 7 with a sum of rewards and CFG inside: passes of uneven sizes
    config = parseRunConfig(tinyRunConfig(referenceDir, {
      batchSize: 7,
      reward: { kind: 'sum', parts: [{ spec: { kind: 'brightness' }, weight: 1 }, { spec: { kind: 'target-colour', rgb: [255, 200, 0] }, weight: 0.5 }] },
      controls: { generatorLr: 1e-3, fakeLr: 1e-3, cfgScale: 3, rewardWeight: 2, fakeStepsPerGeneratorStep: 2 },
    }))
  })

  it('a run session computes at most ROWS_PER_PASS rows per thread at once by default', async () => {
    const session = await RunSession.create(parseRunConfig({ ...tinyRunConfig(referenceDir), batchSize: ROWS_PER_PASS * 2 + 1 }))
    try {
      const rows = recordRows(session)
      assert.equal((await session.trainer.stepAsync()).status, 'ok')
      assert.ok(rows.length > 0 && rows.every((r) => r <= ROWS_PER_PASS), `rows per pass: ${rows}`)
      assert.equal(rows.reduce((a, b) => a + b, 0), (ROWS_PER_PASS * 2 + 1) * 2, 'every row of both updates was computed once')
    } finally {
      session.dispose()
    }
  })

  it('on one thread: passes of 3 rows give the one-pass step', async () => {
    const whole = await RunSession.create(config, { rowsPerPass: 7 })
    const split = await RunSession.create(config, { rowsPerPass: 3 })
    try {
      const wholeRows = recordRows(whole)
      const splitRows = recordRows(split)
      const a: DiStarStepResult[] = []
      const b: DiStarStepResult[] = []
      for (let i = 0; i < STEPS; i++) {
        a.push(await whole.trainer.stepAsync())
        b.push(split.trainer.step()) // the synchronous path accumulates too
      }
      // two fake-score updates and one generator update a step
      assert.deepEqual(wholeRows.slice(0, 3), [7, 7, 7])
      assert.deepEqual(splitRows.slice(0, 9), [3, 2, 2, 3, 2, 2, 3, 2, 2])
      assertSameSteps(a, b, SIDES)
      assertSameWeights(whole, split)
    } finally {
      whole.dispose()
      split.dispose()
    }
  })

  it('on two threads: passes of 2 rows per thread give the one-pass, one-thread step', async () => {
    const whole = await RunSession.create(config, { rowsPerPass: 7 })
    const split = await RunSession.create(config, { rowsPerPass: 2, trainingThreads: 2 })
    try {
      const mainRows = recordRows(split)
      const a: DiStarStepResult[] = []
      const b: DiStarStepResult[] = []
      for (let i = 0; i < STEPS; i++) {
        a.push(await whole.trainer.stepAsync())
        b.push(await split.trainer.stepAsync())
      }
      // passes of 4 rows and 3 rows over two threads: the main thread takes 2 of each
      assert.deepEqual(mainRows.slice(0, 2), [2, 2])
      assertSameSteps(a, b, SIDES)
      assertSameWeights(whole, split)
    } finally {
      whole.dispose()
      split.dispose()
    }
  })
})
