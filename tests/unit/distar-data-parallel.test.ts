// DI* with its gradients computed on two threads (the main thread + one data-parallel worker) follows the
// one-thread run: same losses, reward scores and image-space gradient norms at every step and the same
// generator weights after several steps, up to float rounding. Also: a sum of rewards splits the same way
// in the worker, and the trainer refuses a data-parallel trainer not built around its own step model.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { DataParallelTrainer } from '../../src-main/ml/backend/data-parallel.ts'
import { RunSession } from '../../src-main/core/runs/run-session.ts'
import { parseRunConfig } from '../../src-main/core/runs/run-config.ts'
import { parallelModelUrl } from '../../src-main/core/runs/run-networks.ts'
import type { DiStarStepResult } from '../../src-main/ml/distar/trainer.ts'
import { assertSameSteps } from './distar-compare.ts'
import { saveTinyReference, tinyRunConfig } from './runs-fixtures.ts'

const STEPS = 4

describe('DI* on two threads', () => {
  let referenceDir: string
  before(async () => {
    await initTf({ prefer: 'wasm' })
    referenceDir = await saveTinyReference()
  })

  it('matches the one-thread run step by step, with a sum of rewards and CFG inside', async () => {
    // batch 5: an uneven split (3 rows here, 2 in the worker)
    const config = parseRunConfig(tinyRunConfig(referenceDir, {
      batchSize: 5,
      reward: { kind: 'sum', parts: [{ spec: { kind: 'brightness' }, weight: 1 }, { spec: { kind: 'target-colour', rgb: [255, 200, 0] }, weight: 0.5 }] },
      controls: { generatorLr: 1e-3, fakeLr: 1e-3, cfgScale: 3, rewardWeight: 2, fakeStepsPerGeneratorStep: 2 },
    }))
    const single = await RunSession.create(config)
    const parallel = await RunSession.create(config, { trainingThreads: 2 })
    try {
      assert.equal(single.trainingThreads, 1)
      assert.equal(parallel.trainingThreads, 2)
      const results: [DiStarStepResult, DiStarStepResult][] = []
      const tensorCounts: number[] = []
      for (let i = 0; i < STEPS; i++) {
        results.push([single.trainer.step(), await parallel.trainer.stepAsync()])
        tensorCounts.push(tf.memory().numTensors)
      }
      // no tensor leaks on the main thread in either path (the first step creates the optimizer moments)
      assert.deepEqual(tensorCounts.slice(1), tensorCounts.slice(1).map(() => tensorCounts[1]), `tensors after each step: ${tensorCounts}`)
      for (const [, b] of results) assert.deepEqual(Object.keys(b.losses.rewards), ['brightness', 'target-colour(255,200,0)'])
      assertSameSteps(results.map(([a]) => a), results.map(([, b]) => b), ['1 thread', '2 threads'])
      const ws = single.generatorValues()
      const wp = parallel.generatorValues()
      let moved = 0
      const initial = single.reference.params
      for (const [name, values] of Object.entries(ws)) {
        const start = initial[name]!.dataSync()
        values.forEach((v, i) => {
          if (v !== start[i]) moved++
          assert.ok(Math.abs(v - wp[name]![i]!) <= 1e-4 * Math.max(1, Math.abs(v)), `generator ${name}[${i}]: ${v} vs ${wp[name]![i]}`)
        })
      }
      assert.ok(moved > 0, 'the generator was trained')
    } finally {
      single.dispose()
      parallel.dispose()
    }
  })

  it('refuses a data-parallel trainer that was not built around the trainer\'s step model, and step() once parallel', async () => {
    const config = parseRunConfig(tinyRunConfig(referenceDir))
    const a = await RunSession.create(config)
    const b = await RunSession.create(config, { trainingThreads: 2 })
    const foreign = await DataParallelTrainer.create({
      module: parallelModelUrl(), config: { modelDir: referenceDir, reward: { kind: 'brightness' }, tInit: config.tInit }, workers: 0,
    })
    try {
      assert.throws(() => a.trainer.useDataParallel(foreign), /mainModel: trainer.stepModel/)
      assert.throws(() => b.trainer.step(), /use stepAsync/)
      await assert.rejects(RunSession.create(config, { trainingThreads: 0 }), /trainingThreads must be an integer 1..16/)
    } finally {
      a.dispose()
      b.dispose()
      await foreign.dispose()
      tf.dispose(Object.values(foreign.model.params))
    }
  })
})
