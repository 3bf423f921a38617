// DI* end to end on a 2-D toy: MLP generator and MLP fake score, the exact Gaussian eps as the reference.
// - regulariser only (score and KL): the generator, which starts far off (mean 0, std 2.2), moves to the
//   reference N([1.5, -1], 0.5²);
// - reward r(x) = -|x - target|² only: the mean goes to the target;
// - reward + score regulariser: the mean lands strictly between the reference and the target.
// The numbers of each run are printed as test diagnostics (see the report of issue 4 for a copy).
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs' // registers every gradient (tfjs-core's CommonJS entry has none)
import { DiStarTrainer } from '../../src-main/ml/distar/trainer.ts'
import { DEFAULT_CONTROLS, type DiStarControls } from '../../src-main/ml/distar/controls.ts'
import { generatorSample } from '../../src-main/ml/distar/losses.ts'
import { gaussianEps, initToyMlp, linearVpTables, toyMlpEps } from '../../src-main/ml/distar/toy-models.ts'
import type { Reward } from '../../src-main/ml/distar/types.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

before(async () => {
  await tf.setBackend('cpu')
})

const SCHEDULE = linearVpTables()
const MLP = { dim: 2, hidden: 32, T: 1000 }
const REF_MEAN = [1.5, -1]
const REF_STD = 0.5
const TARGET = [-1, 1]
const T_INIT = 399

const targetReward: Reward = {
  name: 'target',
  score: (x) => tf.tidy(() => tf.neg(tf.sum(tf.square(tf.sub(x, tf.tensor1d(TARGET))), [1, 2, 3])) as tf.Tensor1D),
}

interface RunResult { mean: number[]; std: number[]; divergence: number; ratio: number }

/**
 * 60 steps that train only the fake score (generator lr 0), then 200 DI* steps (lr 3e-3, lowered to 1e-3
 * for the last 80: a control changed mid-run). Returns the generator's sample mean and std on 2,000 fixed draws.
 */
function train(controls: Partial<DiStarControls>): RunResult {
  const generator = { eps: toyMlpEps(MLP), params: initToyMlp(MLP, 1, true) }
  const fake = { eps: toyMlpEps(MLP), params: initToyMlp(MLP, 2, true) }
  const reference = {
    eps: gaussianEps({ cond: { mean: REF_MEAN, variance: [REF_STD ** 2, REF_STD ** 2] }, uncond: { mean: [0, 0], variance: [1, 1] } }, SCHEDULE),
    params: {},
  }
  const trainer = new DiStarTrainer({
    generator, fake, reference, schedule: SCHEDULE, tInit: T_INIT, batchSize: 32, imageShape: [1, 1, 2],
    conditioning: (_rng, B) => ({ prompts: new Array<string>(B).fill('toy'), cond: tf.ones([B, 1]), nullCond: tf.zeros([B, 1]) }),
    rewards: [targetReward], seed: 1,
    controls: { ...DEFAULT_CONTROLS, cfgScale: 1, huberC: 0.5, fakeLr: 3e-3, fakeStepsPerGeneratorStep: 2, ...controls, generatorLr: 0 },
  })
  for (let i = 0; i < 60; i++) trainer.step()
  let last = trainer.step()
  for (let i = 0; i < 200; i++) {
    trainer.controls = { ...trainer.controls, generatorLr: i < 120 ? 3e-3 : 1e-3 }
    last = trainer.step()
    assert.equal(last.status, 'ok', last.reason)
  }
  const stats = sampleStats(generator)
  trainer.dispose()
  tf.dispose([...Object.values(generator.params), ...Object.values(fake.params)])
  return { ...stats, divergence: last.losses.divergence, ratio: last.gradNorms.ratio }
}

function sampleStats(generator: { eps: ReturnType<typeof toyMlpEps>; params: Record<string, tf.Variable> }) {
  const n = 2000
  const x = tf.tidy(() => generatorSample(generator, tf.tensor4d(new Rng(99).normals(n * 2), [n, 1, 1, 2]), tf.ones([n, 1]), SCHEDULE, T_INIT))
  const d = x.dataSync()
  x.dispose()
  const mean = [0, 1].map((j) => { let s = 0; for (let i = 0; i < n; i++) s += d[i * 2 + j]!; return s / n })
  const std = [0, 1].map((j) => { let s = 0; for (let i = 0; i < n; i++) s += (d[i * 2 + j]! - mean[j]!) ** 2; return Math.sqrt(s / n) })
  return { mean, std }
}

const dist = (a: number[], b: number[]) => Math.hypot(...a.map((v, i) => v - b[i]!))
const fmt = (r: RunResult) => `mean [${r.mean.map((v) => v.toFixed(3))}] std [${r.std.map((v) => v.toFixed(3))}] divergence ${r.divergence.toFixed(3)} reward/regulariser gradient ratio ${r.ratio.toFixed(3)}`

test('DI* on a 2-D toy: the regulariser pulls the generator to the reference, the reward pushes it to the target', (t) => {
  const initial = sampleStats({ eps: toyMlpEps(MLP), params: initToyMlp(MLP, 1, true) })
  t.diagnostic(`initial generator: mean [${initial.mean.map((v) => v.toFixed(3))}] std [${initial.std.map((v) => v.toFixed(3))}]`)

  for (const regulariser of ['score', 'kl'] as const) {
    const r = train({ regulariser, rewardWeight: 0 })
    t.diagnostic(`${regulariser} regulariser only: ${fmt(r)} (reference mean [${REF_MEAN}] std ${REF_STD})`)
    assert.ok(dist(r.mean, REF_MEAN) < 0.35, `${regulariser}: mean ${r.mean} should reach the reference mean ${REF_MEAN}`)
    for (const s of r.std) assert.ok(s > 0.3 && s < 0.75, `${regulariser}: std ${r.std} should approach ${REF_STD} (started at ${initial.std})`)
  }

  const rewardOnly = train({ rewardWeight: 0.5, regulariserWeight: 0 })
  t.diagnostic(`reward only (α = 0.5): ${fmt(rewardOnly)} (target [${TARGET}])`)
  assert.ok(dist(rewardOnly.mean, TARGET) < 0.3, `reward only: mean ${rewardOnly.mean} should reach the target ${TARGET}`)

  const both = train({ rewardWeight: 0.5, regulariserWeight: 1 })
  t.diagnostic(`reward (α = 0.5) + score regulariser: ${fmt(both)}`)
  // strictly between: clearly further from the target than the reward-only run, clearly off the reference
  assert.ok(dist(both.mean, TARGET) > dist(rewardOnly.mean, TARGET) + 0.3, `the regulariser should pull the mean back from the target: ${both.mean}`)
  assert.ok(dist(both.mean, REF_MEAN) > 1, `the reward should move the mean away from the reference: ${both.mean}`)
  const along = [0, 1].reduce((s, j) => s + (both.mean[j]! - REF_MEAN[j]!) * (TARGET[j]! - REF_MEAN[j]!), 0) / dist(TARGET, REF_MEAN) ** 2
  assert.ok(along > 0.3 && along < 0.95, `the mean should sit between reference (0) and target (1) along their line, got ${along.toFixed(2)}`)
  assert.ok(Number.isFinite(both.ratio) && both.ratio > 0, 'both gradient parts are measured')
})
