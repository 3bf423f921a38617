// Data-parallel pretraining (`npm run pretrain -- --workers N`): a step on the main thread + a worker
// equals the single-thread step on the same batch (weights, plain loss, gradient norm), a fresh model
// starts from the same weights either way, and a run saved with one worker count resumes with another.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { DataParallelTrainer } from '../../src-main/ml/backend/data-parallel.ts'
import { loadCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { syntheticSplit } from './pretrain-fixtures.ts'
import type { DenoisingParallelConfig } from '../../src-main/ml/diffusion/denoising-parallel.ts'
import { ditEps, initDitParams, disposeParams, type DitConfig, type DitParams } from '../../src-main/ml/diffusion/dit.ts'
import { DEFAULT_PRETRAIN, Pretraining, type PretrainOptions } from '../../src-main/ml/diffusion/pretrain-run.ts'
import { DEFAULT_SCHEDULE, VpSchedule } from '../../src-main/ml/diffusion/schedule.ts'
import { DenoisingTrainer, DEFAULT_TRAIN_HYPER, drawNoise, type NoisedBatch } from '../../src-main/ml/diffusion/training.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

const MODULE = new URL('../../src-main/ml/diffusion/denoising-parallel.ts', import.meta.url)
const DIT: DitConfig = {
  imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2,
  vocabSize: 20, textLength: 4, textWidth: 8, output: 'v', schedule: DEFAULT_SCHEDULE,
}
const IMAGE: [number, number, number] = [8, 8, 3]
// min-SNR weights with a floor: most rows weigh != 1, so the weighted loss differs from the plain one
const HYPER = { ...DEFAULT_TRAIN_HYPER, warmupSteps: 2, totalSteps: 10, minSnrGamma: 5, minSnrFloor: 1 }

function noisedBatch(schedule: VpSchedule, rows: number, seed: number): NoisedBatch {
  const rng = new Rng(seed)
  const { t, noise } = drawNoise(rng, schedule, rows, 8 * 8 * 3)
  const x0 = Float32Array.from(rng.normals(rows * 8 * 8 * 3), Math.tanh)
  const cond = new Int32Array(rows * DIT.textLength).map((_, i) => (i % DIT.textLength < 2 ? rng.int(1, DIT.vocabSize - 1) : 0))
  return { x0, t, noise, cond }
}

function maxRelativeDifference(a: DitParams, b: DitParams): number {
  let diff = 0
  let scale = 1e-12
  for (const name of Object.keys(a)) {
    const x = a[name]!.dataSync()
    const y = b[name]!.dataSync()
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!))
      scale = Math.max(scale, Math.abs(x[i]!))
    }
  }
  return diff / scale
}

const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-12)

describe('data-parallel denoising step', () => {
  const schedule = new VpSchedule(DEFAULT_SCHEDULE)
  let dp: DataParallelTrainer
  let single: DitParams

  before(async () => {
    await initTf({ prefer: 'wasm' })
    const config: DenoisingParallelConfig = { dit: DIT, schedule: DEFAULT_SCHEDULE, seed: 3 }
    dp = await DataParallelTrainer.create({ module: MODULE, config, workers: 1, prefer: 'wasm' })
    single = initDitParams(DIT, 3)
  })
  after(async () => {
    await dp.dispose()
    disposeParams(single)
    disposeParams(dp.model.params)
  })

  it('starts from the weights DiffusionModel.create makes with the same seed', () => {
    assert.deepEqual(Object.keys(dp.model.params).sort(), Object.keys(single).sort())
    assert.equal(maxRelativeDifference(single, dp.model.params), 0)
  })

  it('equals the single-thread step: weights, plain loss and gradient norm, over two steps', async () => {
    // adaLN-zero starts with zero gates, which hides most gradients: give both copies the same values
    let seed = 1
    for (const [name, v] of Object.entries(single)) {
      const values = tf.tidy(() => tf.randomNormal(v.shape, 0, 0.2, 'float32', seed++))
      v.assign(values)
      dp.model.params[name]!.assign(values)
      values.dispose()
    }
    const eps = (p: DitParams, x: tf.Tensor4D, t: tf.Tensor1D, cond: tf.Tensor) => ditEps(p, DIT, x, t, cond as tf.Tensor2D)
    const condShape = (b: number) => [b, DIT.textLength]
    const oneThread = new DenoisingTrainer(eps, single, schedule, HYPER, condShape)
    const twoThreads = new DenoisingTrainer(eps, dp.model.params, schedule, HYPER, condShape)
    try {
      for (const [step, rows] of [[0, 5], [1, 6]] as const) {
        const batch = noisedBatch(schedule, rows, 40 + step)
        const plainBefore = await oneThread.evaluateLoss(batch, IMAGE)
        const a = await oneThread.trainStep(batch, IMAGE)
        const b = await twoThreads.trainStepParallel(dp, batch, IMAGE)
        assert.equal(b.cpuMs.length, 2, 'main thread + one worker took part')
        assert.equal(twoThreads.step, oneThread.step)
        assert.equal(b.lr, a.lr)
        assert.ok(close(b.loss, a.loss, 1e-5), `step ${step}: plain loss ${b.loss} vs ${a.loss}`)
        assert.ok(close(b.loss, plainBefore, 1e-5), `step ${step}: reported loss ${b.loss} is the plain loss ${plainBefore}`)
        assert.ok(close(b.gradNorm, a.gradNorm, 1e-4), `step ${step}: |g| ${b.gradNorm} vs ${a.gradNorm}`)
        const diff = maxRelativeDifference(oneThread.params, twoThreads.params)
        assert.ok(diff < 1e-5, `step ${step}: weights differ by ${diff} (relative)`)
        assert.ok(maxRelativeDifference(oneThread.ema, twoThreads.ema) < 1e-5, `step ${step}: EMA`)
      }
    } finally {
      oneThread.dispose()
      twoThreads.dispose()
    }
  })

  it('refuses a trainer whose params are not the data-parallel model\'s', async () => {
    const eps = (p: DitParams, x: tf.Tensor4D, t: tf.Tensor1D, cond: tf.Tensor) => ditEps(p, DIT, x, t, cond as tf.Tensor2D)
    const other = new DenoisingTrainer(eps, single, schedule, HYPER, (b) => [b, DIT.textLength])
    try {
      await assert.rejects(other.trainStepParallel(dp, noisedBatch(schedule, 2, 1), IMAGE), /not the data-parallel model's/)
    } finally {
      other.dispose()
    }
  })
})

describe('pretraining run with --workers', () => {
  let dir = ''
  const data = { train: syntheticSplit(), showcasePrompts: ['red apple', ''] }
  const options = (outDir: string, extra: Partial<PretrainOptions> = {}): PretrainOptions => ({
    ...DEFAULT_PRETRAIN,
    outDir, steps: 6, batch: 5, seed: 3, imageSize: 8, maxTextLength: 6,
    architecture: { channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8, output: 'v' },
    hyper: { ...DEFAULT_PRETRAIN.hyper, warmupSteps: 2, minSnrFloor: 1 },
    sampleEvery: 0, sampleSteps: 2, logEvery: 1,
    ...extra,
  })
  const losses = async (outDir: string) =>
    (await readFile(join(outDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number })

  before(async () => {
    await initTf({ prefer: 'wasm' })
    dir = await mkdtemp(join(tmpdir(), 'pretrain-parallel-'))
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('runs 6 steps single-thread as the reference', async () => {
    const r = await new Pretraining(options(join(dir, 'single')), data, () => {}).run()
    assert.equal(r.step, 6)
  })

  for (const [first, second] of [[1, 0], [0, 1]] as const) {
    it(`saves with workers ${first}, resumes with workers ${second}, and follows the single-thread run`, async () => {
      const out = join(dir, `w${first}-then-w${second}`)
      const log: string[] = []
      const a = await new Pretraining(options(out, { workers: first, stopAtStep: 3 }), data, (l) => log.push(l)).run()
      assert.equal(a.stopped, 'stop-at-step')
      assert.equal(a.step, 3)
      const saved = await loadCheckpoint(join(out, 'state'))
      assert.equal((saved.config as { step: number }).step, 3)
      assert.equal('workers' in (saved.config as { options: object }).options, false, 'the worker count is not part of the saved run')

      const b = await new Pretraining(options(out, { workers: second, resume: true }), data, (l) => log.push(l)).run()
      assert.equal(b.stopped, 'finished')
      assert.equal(b.step, 6)
      assert.ok(log.includes('resumed from ' + join(out, 'state') + ' at step 3'), log.join('\n'))
      const threadLines = log.filter((l) => l.startsWith('threads: '))
      assert.deepEqual(threadLines.map((l) => l.split(' ')[1]), [String(first + 1), String(second + 1)])

      // same batches, same init: the plain losses match the single-thread run's up to float order
      const reference = await losses(join(dir, 'single'))
      const got = await losses(out)
      assert.deepEqual(got.map((l) => l.step), [1, 2, 3, 4, 5, 6])
      got.forEach((l, i) => assert.ok(close(l.loss, reference[i]!.loss, 1e-4), `step ${l.step}: loss ${l.loss} vs ${reference[i]!.loss}`))
      const end = await loadCheckpoint(join(out, 'state'))
      const ref = await loadCheckpoint(join(dir, 'single', 'state'))
      const x = end.tensors['param/final.w']!.data as Float32Array
      const y = ref.tensors['param/final.w']!.data as Float32Array
      let diff = 0
      x.forEach((v, i) => { diff = Math.max(diff, Math.abs(v - y[i]!)) })
      assert.ok(diff < 1e-4, `final.w after 6 steps differs by ${diff}`)
    })
  }

  it('stops its worker threads when the run stops early or fails', async () => {
    const original = DataParallelTrainer.prototype.dispose
    let disposed = 0
    DataParallelTrainer.prototype.dispose = function (this: DataParallelTrainer) {
      disposed++
      return original.call(this)
    }
    try {
      const stopping = new Pretraining(options(join(dir, 'stopped'), { workers: 1 }), data, () => {})
      const stopped = await stopping.run((p) => { if (p.step === 2) stopping.requestStop() })
      assert.equal(stopped.stopped, 'stop-requested')
      assert.equal(stopped.step, 2)
      assert.equal(disposed, 1)
      // a learning rate this large blows the weights up within a few steps
      const diverging = options(join(dir, 'diverged'), { workers: 1, hyper: { ...options('').hyper, learningRate: 1e30, warmupSteps: 0 } })
      await assert.rejects(new Pretraining(diverging, data, () => {}).run(), /pretraining diverged/)
      assert.equal(disposed, 2)
    } finally {
      DataParallelTrainer.prototype.dispose = original
    }
  })

  it('refuses a bad worker count up front', () => {
    assert.throws(() => new Pretraining(options(join(dir, 'x'), { workers: -1 }), data, () => {}), /--workers must be an integer/)
    assert.throws(() => new Pretraining(options(join(dir, 'x'), { workers: 1.5 }), data, () => {}), /--workers must be an integer/)
  })
})
