// The DI* trainer step on toy models: stop-gradient placement, tensor hygiene, the NaN guard, live controls,
// seeded determinism and bit-exact resume from exported optimizer state.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs' // registers every gradient (tfjs-core's CommonJS entry has none)
import { DiStarTrainer, type ConditioningSource, type DiStarTrainerOptions } from '../../src-main/ml/distar/trainer.ts'
import { DEFAULT_CONTROLS, DiStarControlError, type DiStarControls } from '../../src-main/ml/distar/controls.ts'
import { cloneParams, initToyMlp, linearVpTables, toyMlpEps } from '../../src-main/ml/distar/toy-models.ts'
import { profileDiStarStep } from '../../src-main/ml/distar/profile.ts'
import { loadCheckpoint, saveCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EpsFn, EpsModel, NamedTensor, Reward } from '../../src-main/ml/distar/types.ts'

before(async () => {
  await tf.setBackend('cpu')
})

const DIM = 3
const SCHEDULE = linearVpTables()
const MLP = { dim: DIM, hidden: 16, T: 1000 }
const BATCH = 8

const conditioning: ConditioningSource = (_rng, B) => ({
  prompts: new Array<string>(B).fill('toy'),
  cond: tf.ones([B, 1]),
  nullCond: tf.zeros([B, 1]),
})

/** r(x) = -|x - target|² per sample; `poison` makes it return NaN (a broken reward model). */
function targetReward(target: number[], poison = { on: false }): Reward {
  return {
    name: 'target',
    score: (images) => tf.tidy(() => {
      const r = tf.neg(tf.sum(tf.square(tf.sub(images, tf.tensor1d(target))), [1, 2, 3])) as tf.Tensor1D
      return poison.on ? tf.mul(r, NaN) : r
    }),
  }
}

const CONTROLS: DiStarControls = {
  ...DEFAULT_CONTROLS,
  rewardWeight: 0.5,
  cfgScale: 2,
  huberC: 0.3,
  generatorLr: 1e-3,
  fakeLr: 1e-3,
  tRange: [20, 980],
  fakeStepsPerGeneratorStep: 2,
}

/** Generator, fake score and reference all start from one toy MLP (as DI* initialises from the reference). */
function makeTrainer(overrides: Partial<DiStarTrainerOptions> & { initSeed?: number; reward?: Reward } = {}) {
  const eps = toyMlpEps(MLP)
  const refParams = initToyMlp(MLP, overrides.initSeed ?? 1, false)
  // a non-zero output layer, so the reference actually depends on its input and conditioning
  tf.tidy(() => { refParams.w3!.assign(tf.randomNormal(refParams.w3!.shape, 0, 0.3, 'float32', 7)) })
  const reference: EpsModel = { eps, params: refParams }
  const generator: EpsModel = { eps, params: cloneParams(refParams, true) }
  const fake: EpsModel = { eps, params: cloneParams(refParams, true) }
  const trainer = new DiStarTrainer({
    generator, fake, reference,
    schedule: SCHEDULE, tInit: 399, batchSize: BATCH, imageShape: [1, 1, DIM],
    conditioning, rewards: [overrides.reward ?? targetReward([1, -1, 0.5])],
    seed: 42, controls: { ...CONTROLS }, pauseAfterNonFinite: 3,
    ...overrides,
  })
  const dispose = () => { trainer.dispose(); tf.dispose([...Object.values(refParams), ...Object.values(generator.params), ...Object.values(fake.params)]) }
  return { trainer, generator, fake, reference, dispose }
}

const snapshot = (params: Record<string, tf.Variable>) => Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.from(v.dataSync())]))

test('generator step: only the generator moves; the fake score and the reference get no update', () => {
  for (const regulariser of ['score', 'kl'] as const) {
    const { trainer, generator, fake, reference, dispose } = makeTrainer()
    trainer.controls = { ...trainer.controls, regulariser, fakeStepsPerGeneratorStep: 0 }
    const before = { g: snapshot(generator.params), f: snapshot(fake.params), r: snapshot(reference.params) }
    const res = trainer.step()
    assert.equal(res.status, 'ok', res.reason)
    assert.deepEqual(snapshot(fake.params), before.f, `${regulariser}: fake score changed during a generator-only step`)
    assert.deepEqual(snapshot(reference.params), before.r, `${regulariser}: reference changed`)
    assert.notDeepEqual(snapshot(generator.params), before.g, `${regulariser}: generator did not move`)
    assert.ok(Number.isNaN(res.losses.fakeScore) && Number.isNaN(res.gradNorms.fake), 'K = 0 has no fake-score loss')
    dispose()
  }
})

test('fake-score step: the reference never moves, the fake does', () => {
  const { trainer, fake, reference, dispose } = makeTrainer()
  const before = { f: snapshot(fake.params), r: snapshot(reference.params) }
  const res = trainer.step()
  assert.equal(res.status, 'ok', res.reason)
  assert.deepEqual(snapshot(reference.params), before.r)
  assert.notDeepEqual(snapshot(fake.params), before.f)
  assert.ok(res.losses.fakeScore > 0 && Number.isFinite(res.gradNorms.fake))
  dispose()
})

/**
 * An elementwise-affine eps network eps(x) = a ⊙ x + b + cond * c, whose input Jacobian is diag(a), in a form
 * where backprop sees diag(factor * a) while the values stay the same: `factor` changes only the network's
 * input-dependence as seen by the gradient.
 */
function affineEps(factor: number): EpsFn {
  return (params, xt, _t, cond) => tf.customGrad((x) => {
    const input = x as tf.Tensor4D
    const B = input.shape[0]
    const condTerm = tf.mul(tf.reshape(tf.cast(cond, 'float32'), [B, 1, 1, 1]), params.c!)
    return {
      value: tf.add(tf.add(tf.mul(input, params.a!), params.b!), condTerm) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor4D) => tf.mul(dy, tf.mul(params.a!, factor)),
    }
  })(xt) as tf.Tensor4D
}

/** The same affine network, plainly differentiable (also w.r.t. its parameters): the generator. */
const plainAffineEps: EpsFn = (params, xt, _t, cond) => tf.tidy(() => {
  const condTerm = tf.mul(tf.reshape(tf.cast(cond, 'float32'), [xt.shape[0], 1, 1, 1]), params.c!)
  return tf.add(tf.add(tf.mul(xt, params.a!), params.b!), condTerm) as tf.Tensor4D
})

function affineParams(seed: number, trainable: boolean): Record<string, tf.Variable> {
  const v = (vals: number[]) => tf.variable(tf.tensor1d(vals), trainable)
  return { a: v([0.3 + 0.1 * seed, -0.2, 0.5]), b: v([0.1, -0.3 * seed, 0.2]), c: v([0.4, 0.1, -0.2 * seed]) }
}

test('score form backpropagates through both eps networks w.r.t. x_t; the KL form does not', () => {
  const run = (regulariser: 'score' | 'kl', factor: number, which: 'fake' | 'reference') => {
    const models = {
      generator: { eps: plainAffineEps, params: affineParams(1, true) },
      fake: { eps: affineEps(which === 'fake' ? factor : 1), params: affineParams(2, true) },
      reference: { eps: affineEps(which === 'reference' ? factor : 1), params: affineParams(3, false) },
    }
    const trainer = new DiStarTrainer({
      ...models, schedule: SCHEDULE, tInit: 399, batchSize: BATCH, imageShape: [1, 1, DIM], conditioning, rewards: [], seed: 3,
      controls: { ...CONTROLS, regulariser, fakeStepsPerGeneratorStep: 0 },
    })
    const res = trainer.step()
    assert.equal(res.status, 'ok', res.reason)
    const weights = snapshot(models.generator.params)
    trainer.dispose()
    tf.dispose(Object.values(models).flatMap((m) => Object.values(m.params)))
    return { norm: res.gradNorms.regulariser, weights }
  }
  for (const which of ['fake', 'reference'] as const) {
    const score1 = run('score', 1, which)
    const score3 = run('score', 3, which)
    assert.ok(Math.abs(score1.norm - score3.norm) > 1e-3 * score1.norm, `score form: the ${which} network's input gradient must reach the generator (${score1.norm} vs ${score3.norm})`)
    assert.notDeepEqual(score1.weights, score3.weights)
    const kl1 = run('kl', 1, which)
    const kl3 = run('kl', 3, which)
    assert.ok(kl1.norm > 0)
    assert.equal(kl1.norm, kl3.norm, `KL form: the ${which} network must be a constant`)
    assert.deepEqual(kl1.weights, kl3.weights)
  }
})

test('tensor count stays flat across steps, for every regulariser and CFG placement', () => {
  for (const [regulariser, cfgPlacement] of [['score', 'in'], ['score', 'out'], ['kl', 'in'], ['kl', 'out']] as const) {
    const { trainer, dispose } = makeTrainer()
    trainer.controls = { ...trainer.controls, regulariser, cfgPlacement }
    trainer.step()
    const count = tf.memory().numTensors
    for (let i = 0; i < 3; i++) assert.equal(trainer.step().status, 'ok')
    assert.equal(tf.memory().numTensors, count, `${regulariser}/${cfgPlacement}: tensors leaked`)
    dispose()
  }
})

test('NaN guard: a NaN reward skips the generator update, counts, pauses after N in a row, resumes', () => {
  const poison = { on: false }
  const { trainer, generator, dispose } = makeTrainer({ reward: targetReward([1, 0, 0], poison) })
  assert.equal(trainer.step().status, 'ok')
  const weights = snapshot(generator.params)
  const optimizer = trainer.exportState().generatorOptimizer
  const tensors = tf.memory().numTensors
  poison.on = true
  for (let i = 1; i <= 3; i++) {
    const res = trainer.step()
    assert.equal(res.status, i < 3 ? 'skipped' : 'paused')
    assert.equal(res.consecutiveSkips, i)
    assert.match(res.reason!, /generator update: generator loss is NaN/)
    assert.deepEqual(snapshot(generator.params), weights, 'generator weights must not change on a skipped step')
    assert.deepEqual(trainer.exportState().generatorOptimizer, optimizer, 'generator optimizer state must not change')
  }
  assert.match(trainer.paused!, /^paused: 3 steps in a row/)
  // while paused, step() does nothing
  const stepBefore = trainer.exportState().step
  assert.equal(trainer.step().status, 'paused')
  assert.equal(trainer.exportState().step, stepBefore)
  assert.equal(tf.memory().numTensors, tensors, 'skipped steps leak no tensors')
  poison.on = false
  trainer.resume()
  const res = trainer.step()
  assert.equal(res.status, 'ok')
  assert.equal(res.consecutiveSkips, 0)
  assert.equal(res.totalSkips, 3)
  assert.notDeepEqual(snapshot(generator.params), weights)
  dispose()
})

test('controls changed between steps apply from the next step and are recorded with it', () => {
  const a = makeTrainer()
  const b = makeTrainer()
  a.trainer.step()
  b.trainer.step()
  assert.deepEqual(snapshot(a.generator.params), snapshot(b.generator.params))
  a.trainer.controls = { ...a.trainer.controls, rewardWeight: 4, generatorLr: 5e-3, regulariser: 'kl' }
  const ra = a.trainer.step()
  const rb = b.trainer.step()
  assert.equal(ra.controls.rewardWeight, 4)
  assert.equal(ra.controls.regulariser, 'kl')
  assert.equal(rb.controls.rewardWeight, CONTROLS.rewardWeight)
  // the reward term is -α r̄ with the new α
  assert.ok(Math.abs(ra.losses.rewardTerm + 4 * ra.losses.rewards.target!) < 1e-5)
  assert.ok(Math.abs(rb.losses.rewardTerm + CONTROLS.rewardWeight * rb.losses.rewards.target!) < 1e-5)
  assert.notDeepEqual(snapshot(a.generator.params), snapshot(b.generator.params))
  // a bad control is refused with a clear error at the next step, and nothing moves
  const weights = snapshot(a.generator.params)
  a.trainer.controls = { ...a.trainer.controls, tRange: [0, 5000] }
  assert.throws(() => a.trainer.step(), (e: unknown) => e instanceof DiStarControlError && /tRange/.test(e.message))
  assert.deepEqual(snapshot(a.generator.params), weights)
  a.dispose()
  b.dispose()
})

test('same seed, same weights after several steps; another seed differs', () => {
  const run = (seed: number) => {
    const t = makeTrainer({ seed })
    for (let i = 0; i < 3; i++) t.trainer.step()
    const w = { g: snapshot(t.generator.params), f: snapshot(t.fake.params) }
    t.dispose()
    return w
  }
  const first = run(5)
  assert.deepEqual(run(5), first)
  assert.notDeepEqual(run(6).g, first.g)
})

test('a checkpoint of both networks and both optimizers (saveCheckpoint/loadCheckpoint) continues bit-exactly', async () => {
  const straight = makeTrainer()
  for (let i = 0; i < 4; i++) straight.trainer.step()

  // two steps, then a checkpoint in the project's format: weights and optimizer moments as named tensors
  const first = makeTrainer()
  for (let i = 0; i < 2; i++) first.trainer.step()
  const state = first.trainer.exportState()
  const named = (prefix: string, params: Record<string, tf.Variable>): Record<string, NamedTensor> =>
    Object.fromEntries(Object.entries(params).map(([k, v]) => [`${prefix}/${k}`, { dtype: 'float32', shape: [...v.shape], data: Float32Array.from(v.dataSync()) }]))
  const prefixed = (prefix: string, moments: Record<string, NamedTensor>) => Object.fromEntries(Object.entries(moments).map(([k, v]) => [`${prefix}/${k}`, v]))
  const dir = await mkdtemp(join(tmpdir(), 'distar-ckpt-'))
  await saveCheckpoint(dir, {
    config: { step: state.step, generatorOptimizerStep: state.generatorOptimizer.step, fakeOptimizerStep: state.fakeOptimizer.step },
    tensors: { ...named('generator', first.generator.params), ...named('fake', first.fake.params), ...prefixed('adamG', state.generatorOptimizer.moments), ...prefixed('adamF', state.fakeOptimizer.moments) },
  })
  first.dispose()

  const loaded = await loadCheckpoint(dir)
  await rm(dir, { recursive: true, force: true })
  const config = loaded.config as { step: number; generatorOptimizerStep: number; fakeOptimizerStep: number }
  const under = (prefix: string) => Object.fromEntries(Object.entries(loaded.tensors).filter(([k]) => k.startsWith(prefix + '/')).map(([k, v]) => [k.slice(prefix.length + 1), v]))
  const resumed = makeTrainer()
  tf.tidy(() => {
    for (const [role, params] of [['generator', resumed.generator.params], ['fake', resumed.fake.params]] as const) {
      const saved = under(role)
      for (const [k, v] of Object.entries(params)) v.assign(tf.tensor(saved[k]!.data, v.shape))
    }
  })
  resumed.trainer.importState({
    step: config.step, consecutiveSkips: 0, totalSkips: 0, pausedReason: null,
    generatorOptimizer: { step: config.generatorOptimizerStep, moments: under('adamG') },
    fakeOptimizer: { step: config.fakeOptimizerStep, moments: under('adamF') },
  })
  for (let i = 0; i < 2; i++) resumed.trainer.step()
  assert.deepEqual(snapshot(resumed.generator.params), snapshot(straight.generator.params))
  assert.deepEqual(snapshot(resumed.fake.params), snapshot(straight.fake.params))
  // and a state that does not fit is refused before anything changes (the generator's part was fine)
  const current = resumed.trainer.exportState()
  const other = straight.trainer.exportState()
  assert.throws(() => resumed.trainer.importState({ ...other, generatorOptimizer: { ...other.generatorOptimizer, step: 99 }, fakeOptimizer: { step: 1, moments: {} } }), /missing moment/)
  assert.deepEqual(resumed.trainer.exportState(), current)
  straight.dispose()
  resumed.dispose()
})

test('bad trainer options get clear errors', () => {
  const eps = toyMlpEps(MLP)
  const shared = initToyMlp(MLP, 3, true)
  const base = {
    schedule: SCHEDULE, tInit: 399, batchSize: 4, imageShape: [1, 1, DIM] as [number, number, number],
    conditioning, rewards: [], seed: 1, controls: CONTROLS,
  }
  assert.throws(() => new DiStarTrainer({ ...base, generator: { eps, params: shared }, fake: { eps, params: shared }, reference: { eps, params: cloneParams(shared, false) } }), /share the variable/)
  const ok = { generator: { eps, params: shared }, fake: { eps, params: cloneParams(shared, true) }, reference: { eps, params: cloneParams(shared, false) } }
  assert.throws(() => new DiStarTrainer({ ...base, ...ok, tInit: 1000 }), /tInit/)
  assert.throws(() => new DiStarTrainer({ ...base, ...ok, controls: { ...CONTROLS, huberC: 0 } }), /huberC/)
  assert.throws(() => new DiStarTrainer({ ...base, ...ok, controls: { ...CONTROLS, fakeStepsPerGeneratorStep: 1.5 } }), /fakeStepsPerGeneratorStep/)
  assert.throws(() => new DiStarTrainer({ ...base, ...ok, generator: { eps, params: cloneParams(shared, false) } }), /must be trainable/)
})

test('a reward that throws: the update is skipped with its message, then the run pauses; no tensors leak', () => {
  const broken: Reward = { name: 'broken', score: () => { throw new Error('reward model exploded') } }
  const { trainer, generator, dispose } = makeTrainer({ reward: broken })
  const weights = snapshot(generator.params)
  trainer.step()
  const count = tf.memory().numTensors
  const res = trainer.step()
  assert.equal(res.status, 'skipped')
  assert.match(res.reason!, /generator update: reward 'broken' failed: reward model exploded/)
  assert.equal(trainer.step().status, 'paused')
  assert.match(trainer.paused!, /reward model exploded/)
  assert.deepEqual(snapshot(generator.params), weights)
  assert.equal(tf.memory().numTensors, count)
  dispose()
})

test('profileDiStarStep times every part and leaks no tensors', () => {
  const { trainer, generator, fake, reference, dispose } = makeTrainer()
  trainer.dispose()
  const count = tf.memory().numTensors
  const profile = profileDiStarStep({
    generator, fake, reference, schedule: SCHEDULE, tInit: 399, batchSize: BATCH, imageShape: [1, 1, DIM],
    conditioning, rewards: [targetReward([0, 0, 0])], seed: 1, controls: CONTROLS,
  })
  for (const [part, ms] of Object.entries(profile)) assert.ok(Number.isFinite(ms) && ms >= 0, `${part}: ${ms}`)
  assert.equal(tf.memory().numTensors, count)
  dispose()
})

test('reward and regulariser gradient norms are measured separately, with their weights applied', () => {
  const firstStep = (controls: Partial<DiStarControls>) => {
    const t = makeTrainer()
    t.trainer.controls = { ...t.trainer.controls, fakeStepsPerGeneratorStep: 0, ...controls }
    const r = t.trainer.step()
    t.dispose()
    return r.gradNorms
  }
  const base = firstStep({})
  const doubleReward = firstStep({ rewardWeight: 2 * CONTROLS.rewardWeight })
  const tripleReg = firstStep({ regulariserWeight: 3 })
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b))
  assert.ok(base.reward > 0 && base.regulariser > 0)
  assert.ok(close(doubleReward.reward, 2 * base.reward) && close(doubleReward.regulariser, base.regulariser), JSON.stringify({ base, doubleReward }))
  assert.ok(close(tripleReg.regulariser, 3 * base.regulariser) && close(tripleReg.reward, base.reward), JSON.stringify({ base, tripleReg }))
  assert.ok(close(base.ratio, base.reward / base.regulariser))
  assert.equal(firstStep({ rewardWeight: 0 }).reward, 0)
})

test('epsWithFrozenParams serves the regulariser (reference and fake), never the fake-score update', () => {
  const plain = makeTrainer()
  plain.trainer.step()
  const calls = { fakeFrozen: 0, referenceFrozen: 0 }
  const hooked = makeTrainer()
  const counted = (model: EpsModel, key: keyof typeof calls): EpsFn => (p, x, t, c) => { calls[key]++; return model.eps(p, x, t, c) }
  hooked.fake.epsWithFrozenParams = counted(hooked.fake, 'fakeFrozen')
  hooked.reference.epsWithFrozenParams = counted(hooked.reference, 'referenceFrozen')
  hooked.trainer.step()
  assert.deepEqual(calls, { fakeFrozen: 1, referenceFrozen: 1 }) // K = 2 fake updates used the trainable path
  assert.deepEqual(snapshot(hooked.generator.params), snapshot(plain.generator.params))
  assert.deepEqual(snapshot(hooked.fake.params), snapshot(plain.fake.params))
  plain.dispose()
  hooked.dispose()
})
