// Data-parallel regression distillation (`npm run distill -- --workers N`): steps on the main thread + a
// worker equal the single-thread steps (losses and weights, up to float summation order, with a control
// showing the tolerance catches another batch), a non-finite loss throws and changes nothing, and the
// state moves between thread counts in both directions; Distillation runs and resumes with either.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { DataParallelTrainer } from '../../src-main/ml/backend/data-parallel.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { Distillation, type DistillOptions } from '../../src-main/ml/distill/distill-run.ts'
import { DistillError, pairPlan, RegressionDistiller, type DistillPairs, type RegressionOptions } from '../../src-main/ml/distill/regression.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

const MODULE = new URL('../../src-main/ml/distill/regression-parallel.ts', import.meta.url)
const PROMPTS = ['red apple', 'black cat', 'yellow star', 'blue heart']
const OPTS: RegressionOptions = { tInit: 800, batch: 6, lr: 3e-3, seed: 2 }
const PAIR_COUNT = 16
/**
 * max |w_parallel - w_single| over the compared weights, relative to the largest one: measured ~8e-8 after
 * 4 steps, against ~3e-2 for other batches (asserted below); one row's prompt swapped moves the loss by 6e-4.
 */
const TOLERANCE = 1e-5
/**
 * Attention key biases get no gradient (softmax ignores a shift shared by all keys): what they receive is
 * float noise that Adam scales up to lr-sized steps, different noise on each summation order. Not compared.
 */
const ZERO_GRADIENT = /\.k\.b$/

type Values = Record<string, Float32Array>

function maxRelativeDifference(a: Values, b: Values): number {
  let diff = 0
  let scale = 1e-12
  for (const name of Object.keys(a)) {
    if (ZERO_GRADIENT.test(name)) continue
    const x = a[name]!, y = b[name]!
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!))
      scale = Math.max(scale, Math.abs(x[i]!))
    }
  }
  return diff / scale
}

const closeLoss = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(Math.abs(a), Math.abs(b))

/** Random targets stand in for the reference's samples: the regression does not care where they come from. */
function tinyPairs(rows = PAIR_COUNT): DistillPairs {
  const { prompts, seeds } = pairPlan(PROMPTS, rows, 1)
  const rng = new Rng(5)
  const targets = Float32Array.from({ length: rows * 8 * 8 * 3 }, () => rng.uniform() * 2 - 1)
  return { spec: { count: rows, seed: 1, sampler: 'ddim', steps: 4, guidance: 2, referenceSha256: 'test' }, prompts, seeds, targets }
}

async function parallelTrainer(distiller: RegressionDistiller): Promise<DataParallelTrainer> {
  return DataParallelTrainer.create({ module: MODULE, config: distiller.parallelConfig, mainModel: distiller.parallelModel, workers: 1, prefer: 'wasm' })
}

describe('data-parallel regression distillation', () => {
  let reference: DiffusionModel
  const pairs = tinyPairs()

  before(async () => {
    await initTf({ prefer: 'wasm' })
    const tokenizer = Tokenizer.build(PROMPTS, { maxLength: 4 })
    reference = DiffusionModel.create(
      { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8 },
      { kind: 'cosine', T: 1000 }, tokenizer, 7,
    )
    // adaLN-zero starts with zero gates, which would hide most gradients: give every weight a value
    let seed = 1
    for (const v of Object.values(reference.params)) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.2, 'float32', seed++)))
  })
  after(() => reference.dispose())

  describe('one worker against one thread', () => {
    let single: RegressionDistiller
    let parallel: RegressionDistiller
    let dp: DataParallelTrainer
    const STEPS = 4

    before(async () => {
      single = new RegressionDistiller(reference, pairs, OPTS)
      parallel = new RegressionDistiller(reference, pairs, OPTS)
      dp = await parallelTrainer(parallel)
    })
    after(async () => {
      await dp.dispose()
      single.dispose()
      parallel.dispose()
    })

    it('gives the same losses and weights as the single-thread steps; another batch is outside the tolerance', async (t) => {
      const start = parallel.generatorValues()
      for (let s = 1; s <= STEPS; s++) {
        const a = single.trainStep()
        const b = await parallel.trainStepParallel(dp)
        assert.ok(closeLoss(a, b), `step ${s}: loss ${b} on two threads, ${a} on one`)
      }
      assert.equal(parallel.step, STEPS)
      const diff = maxRelativeDifference(single.generatorValues(), parallel.generatorValues())
      assert.ok(diff < TOLERANCE, `weights differ by ${diff} (relative)`)

      // control: the same distillation drawing other batches (another seed) lands far outside the tolerance
      const other = new RegressionDistiller(reference, pairs, { ...OPTS, seed: OPTS.seed + 1 })
      try {
        for (let s = 1; s <= STEPS; s++) other.trainStep()
        const otherDiff = maxRelativeDifference(single.generatorValues(), other.generatorValues())
        t.diagnostic(`relative weight difference after ${STEPS} steps: two threads vs one ${diff.toExponential(1)}, other batches ${otherDiff.toExponential(1)}`)
        assert.ok(otherDiff > 100 * TOLERANCE, `other batches differ by only ${otherDiff}`)
        assert.ok(maxRelativeDifference(start, parallel.generatorValues()) > 100 * TOLERANCE, 'the weights moved')
      } finally {
        other.dispose()
      }
    })

    it('exports a state that a single-thread distiller resumes, and takes one back', async () => {
      // parallel (step 4) -> a new single-thread distiller; both it and the uninterrupted single-thread run go on
      const resumed = new RegressionDistiller(reference, pairs, OPTS)
      try {
        resumed.importState(parallel.exportState())
        assert.equal(resumed.step, STEPS)
        for (let s = 1; s <= 3; s++) {
          const a = single.trainStep()
          const b = resumed.trainStep()
          assert.ok(closeLoss(a, b), `resumed step ${resumed.step}: loss ${b}, uninterrupted ${a}`)
        }
        assert.ok(maxRelativeDifference(single.generatorValues(), resumed.generatorValues()) < TOLERANCE)

        // single-thread state (step 7) -> the parallel distiller: its workers must follow the imported weights
        parallel.importState(single.exportState())
        assert.equal(parallel.step, STEPS + 3)
        for (let s = 1; s <= 2; s++) {
          const a = single.trainStep()
          const b = await parallel.trainStepParallel(dp)
          assert.ok(closeLoss(a, b), `step ${single.step}: loss ${b} on two threads after import, ${a} on one`)
        }
        assert.ok(maxRelativeDifference(single.generatorValues(), parallel.generatorValues()) < TOLERANCE)
      } finally {
        resumed.dispose()
      }
    })
  })

  it('throws on a non-finite loss (NaN only in the worker\'s rows) and changes nothing', async () => {
    const poisoned = tinyPairs()
    const probe = new RegressionDistiller(reference, poisoned, OPTS)
    const rows = probe.batchIndices(1)
    const bad = rows[OPTS.batch - 1]!
    assert.ok(!rows.slice(0, OPTS.batch / 2).includes(bad), 'the poisoned pair is only in the worker\'s half of step 1')
    const per = 8 * 8 * 3
    poisoned.targets[bad * per + 5] = NaN

    const dp = await parallelTrainer(probe)
    const stranger = new RegressionDistiller(reference, pairs, OPTS)
    try {
      const before = probe.exportState()
      await assert.rejects(probe.trainStepParallel(dp), (e: Error) => e instanceof DistillError && /loss is NaN; nothing was updated/.test(e.message))
      assert.equal(probe.step, 0)
      const after = probe.exportState()
      assert.deepEqual(after.config, before.config)
      for (const [k, t] of Object.entries(before.tensors)) {
        assert.ok(Buffer.from((t.data as Float32Array).buffer).equals(Buffer.from((after.tensors[k]!.data as Float32Array).buffer)), `'${k}' changed`)
      }
      // a trainer built around another distiller's generator is refused
      await assert.rejects(stranger.trainStepParallel(dp), (e: Error) => e instanceof DistillError && /parallelModel/.test(e.message))
    } finally {
      await dp.dispose()
      probe.dispose()
      stranger.dispose()
    }
  })

  it('Distillation runs with --workers 1 and resumes on one thread, recording both thread counts', async () => {
    const root = await mkdtemp(join(tmpdir(), 'distill-parallel-'))
    const referenceDir = join(root, 'reference')
    await reference.save(referenceDir)
    const targets = tinyPairs(8).targets
    const options = (overrides: Partial<DistillOptions>): DistillOptions => ({
      outDir: join(root, 'out'), referenceDir, trainPrompts: PROMPTS,
      pairs: { count: 8, seed: 1, sampler: 'ddim', steps: 4, guidance: 2 },
      regression: { ...OPTS, batch: 4 }, steps: 4, checkpointEvery: 2, sampleEvery: 0,
      showcase: { prompts: [], seeds: [], columns: 1 }, resume: false,
      ...overrides,
    })
    const hooks = { sampler: async () => targets }
    const logs: string[] = []
    const first = await new Distillation(reference, options({ workers: 1, stopAtStep: 2 }), { ...hooks, onLog: (m) => logs.push(m) }).run()
    assert.equal(first.state, 'stopped')
    assert.deepEqual(first.regressionThreads, [2])
    assert.ok(logs.some((m) => /regression threads: 2 \(data-parallel/.test(m)), logs.join('\n'))
    const second = await new Distillation(reference, options({ workers: 0, resume: true }), hooks).run()
    assert.equal(second.state, 'completed')
    assert.equal(second.step, 4)
    assert.deepEqual(second.regressionThreads, [2, 1])
    assert.throws(() => new Distillation(reference, options({ workers: -1 }), hooks), DistillError)
  })
})
