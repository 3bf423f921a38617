// The DI* run engine on a tiny model (cpu backend): run directory layout, live controls recorded with the
// step they apply from, pause/resume and stop/resume reaching the same weights as an uninterrupted run,
// a corrupt checkpoint refused in favour of the one before, the NaN-guard pause, and no tensor leaks.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { DiStarRun, type RunStepEvent } from '../../src-main/core/runs/run-engine.ts'
import { parseRunConfig, RunConfigError } from '../../src-main/core/runs/run-config.ts'
import { readMetrics, readStatus } from '../../src-main/core/runs/run-files.ts'
import { DiStarControlError } from '../../src-main/ml/distar/controls.ts'
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { saveTinyReference, tempWorkspace, tinyRunConfig } from './runs-fixtures.ts'

let reference = ''
let baseline: Record<string, Float32Array> = {}
let baselineEma: Record<string, Float32Array> = {}

before(async () => {
  await tf.setBackend('cpu')
  reference = await saveTinyReference()
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference), { runId: 'baseline' })
  await run.run()
  baseline = run.session.generatorValues()
  baselineEma = run.session.generatorValues('ema')
  run.dispose()
})

function assertSameWeights(actual: Record<string, Float32Array>, expected: Record<string, Float32Array>, what: string) {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort())
  for (const k of Object.keys(expected)) assert.ok(Buffer.from(actual[k]!.buffer).equals(Buffer.from(expected[k]!.buffer)), `${what}: '${k}' differs`)
}

test('run config: {} gets working defaults; bad fields are named in the error', () => {
  const c = parseRunConfig({})
  assert.equal(c.batchSize, 16)
  assert.equal(c.tInit, 800, "the measured default for the embedded model (DEFAULT_T_INIT)")
  assert.deepEqual(c.reward, { kind: 'alignment' })
  assert.equal(c.prompts, 'emoji-train-captions')
  const shipped = parseRunConfig(JSON.parse(readFileSync(new URL('../../resources/configs/default-run.json', import.meta.url), 'utf8')), 'default-run.json')
  assert.equal(shipped.reward.kind, 'alignment')
  assert.equal(shipped.controls.regulariser, 'score')
  assert.throws(() => parseRunConfig({ batchSize: 0 }), (e: Error) => e instanceof RunConfigError && /batchSize/.test(e.message))
  assert.throws(() => parseRunConfig({ controls: { rewardWeight: 'high' } }), (e: Error) => /controls\.rewardWeight/.test(e.message))
  assert.throws(() => parseRunConfig({ reward: { kind: 'nope' } }), (e: Error) => /reward/.test(e.message))
  assert.throws(() => parseRunConfig({ stepz: 3 }), (e: Error) => /stepz/.test(e.message))
  assert.throws(() => parseRunConfig({ samples: { prompts: ['a', 'b'], seeds: [1] } }), (e: Error) => /one seed per sample prompt/.test(e.message))
  // paths are bounded and NUL-free: a huge one is refused without being echoed back whole
  const huge = 'x'.repeat(5000)
  for (const bad of [{ baseModelDir: huge }, { prompts: { file: huge } }, { reward: { kind: 'alignment', modelDir: huge } }, { baseModelDir: 'a\0b' }]) {
    assert.throws(() => parseRunConfig(bad), (e: Error) => e instanceof RunConfigError && e.message.length < 1000, JSON.stringify(bad).slice(0, 60))
  }
})

test('a missing reference model or a tRange beyond the model is a clear error', async () => {
  const ws = await tempWorkspace()
  await assert.rejects(DiStarRun.start(ws, tinyRunConfig(join(ws, 'nowhere'))), (e: Error) => e instanceof RunConfigError && /No reference model/.test(e.message))
  await assert.rejects(DiStarRun.start(ws, tinyRunConfig(reference, { controls: { tRange: [1, 5000] } })), (e: Error) => /tRange/.test(e.message))
})

test('an uninterrupted run writes the run directory as specified', async () => {
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference), { runId: 'layout' })
  const samples: number[] = []
  const statuses: string[] = []
  const steps: RunStepEvent[] = []
  const initial = run.session.generatorValues()
  const final = await run.run({ onSamples: (e) => samples.push(e.step), onStatus: (s) => statuses.push(s.state), onStep: (e) => steps.push(e) })
  const trained = run.session.generatorValues()
  run.dispose()
  assert.notDeepEqual(trained['final.w'], initial['final.w'], 'the generator moved')
  assertSameWeights(trained, baseline, 'same config, same seed')
  assert.equal(final.state, 'completed')
  assert.deepEqual(statuses, ['running', 'completed'])
  assert.deepEqual(samples, [0, 2, 4, 6])
  const dir = join(ws, 'runs', 'layout')
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
  assert.equal(config.baseModelDir, reference)
  for (const s of [0, 2, 4, 6]) {
    assert.ok(existsSync(join(dir, 'samples', `step-${s}.png`)))
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'samples', `step-${s}.json`), 'utf8')).prompts, ['red apple', 'black cat'])
  }
  assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), ['step-4', 'step-6'], 'keeps the last 2 checkpoints')
  const lines = (await readMetrics(dir)).filter((l) => l.type === 'step')
  assert.deepEqual(lines.map((l) => l.step), [0, 1, 2, 3, 4, 5])
  const first = lines[0] as unknown as RunStepEvent
  for (const key of ['generatorTotal', 'regulariser', 'fakeScore', 'rewardTerm']) assert.equal(typeof (first.losses as unknown as Record<string, number>)[key], 'number')
  assert.equal(typeof first.losses.rewards.brightness, 'number')
  assert.equal(typeof first.gradNorms.ratio, 'number')
  assert.equal(typeof first.timings.totalMs, 'number')
  assert.equal(first.controls.generatorLr, 1e-3)
  assert.equal(steps.at(-1)!.etaMs, 0)
  assert.equal((await readStatus(dir))?.state, 'completed')
})

test('controls changed while running apply from the next step and are recorded with it', async () => {
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference), { runId: 'controls' })
  const recorded: { step: number; changes: unknown }[] = []
  assert.throws(() => run.setControls({ cfgPlacement: 'sideways' as 'in' }), DiStarControlError)
  await run.run({
    onStep: (e) => { if (e.step === 2) run.setControls({ rewardWeight: 5, generatorLr: 2e-3 }) },
    onControls: (e) => recorded.push({ step: e.step, changes: e.changes }),
  })
  run.dispose()
  assert.deepEqual(recorded, [{ step: 3, changes: { rewardWeight: 5, generatorLr: 2e-3 } }])
  const lines = await readMetrics(join(ws, 'runs', 'controls'))
  const controlLine = lines.findIndex((l) => l.type === 'controls')
  assert.equal(lines[controlLine]!.step, 3)
  assert.equal(lines[controlLine - 1]!.step, 2, 'recorded between step 2 and step 3')
  const byStep = new Map(lines.filter((l) => l.type === 'step').map((l) => [l.step, (l as unknown as RunStepEvent).controls]))
  assert.equal(byStep.get(2)!.rewardWeight, 1)
  assert.equal(byStep.get(3)!.rewardWeight, 5)
  assert.equal(byStep.get(3)!.generatorLr, 2e-3)
  assert.equal(byStep.get(5)!.rewardWeight, 5)
})

test('pause and resume in the same process reach the uninterrupted weights', async () => {
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference), { runId: 'pause' })
  const states: string[] = []
  await run.run({
    onStep: (e) => { if (e.step === 1) run.pause() },
    // resume once the run has actually parked (a fixed timer could fire before it got there)
    onStatus: (s) => { states.push(s.state); if (s.state === 'paused') setTimeout(() => run.resume(), 10) },
  })
  assert.deepEqual(states, ['running', 'paused', 'running', 'completed'])
  assertSameWeights(run.session.generatorValues(), baseline, 'pause/resume')
  assertSameWeights(run.session.generatorValues('ema'), baselineEma, 'pause/resume (EMA)')
  run.dispose()
})

test('stop saves a checkpoint; resuming it reaches the uninterrupted weights', async () => {
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference), { runId: 'stop' })
  const status = await run.run({ onStep: (e) => { if (e.step === 2) run.stop() } })
  run.dispose()
  assert.equal(status.state, 'stopped')
  assert.equal(status.checkpointStep, 3)
  const dir = join(ws, 'runs', 'stop')
  assert.ok(existsSync(join(dir, 'checkpoints', 'step-3', 'model.safetensors')))
  const resumed = await DiStarRun.resume(ws, 'stop')
  assert.equal(resumed.step, 3)
  const logs: string[] = []
  assert.equal((await resumed.run({ onLog: (m) => logs.push(m) })).state, 'completed')
  assert.ok(logs.some((m) => /Resumed from the checkpoint at step 3/.test(m)))
  assertSameWeights(resumed.session.generatorValues(), baseline, 'stop/resume')
  assertSameWeights(resumed.session.generatorValues('ema'), baselineEma, 'stop/resume (EMA)')
  assert.deepEqual((await readMetrics(dir)).filter((l) => l.type === 'step').map((l) => l.step), [0, 1, 2, 3, 4, 5])
  resumed.dispose()
})

test('training or sample prompts with words the reference does not know are named in the run log, at start and on resume', async () => {
  const ws = await tempWorkspace()
  const config = tinyRunConfig(reference, { steps: 1, prompts: ['red apple', 'purple cat'], samples: { every: 1, prompts: ['yellow star'], columns: 1 } })
  const run = await DiStarRun.start(ws, config, { runId: 'words' })
  const logs: string[] = []
  assert.equal((await run.run({ onLog: (m, level) => logs.push(`${level}: ${m}`) })).state, 'completed')
  run.dispose()
  const notes = logs.filter((m) => /prompts:/.test(m))
  assert.deepEqual(notes, ["warn: training prompts: not in the model's vocabulary, so read as unknown tokens: purple"], logs.join('\n'))
  const resumed = await DiStarRun.resume(ws, 'words')
  const again: string[] = []
  await resumed.run({ onLog: (m) => again.push(m) })
  resumed.dispose()
  assert.ok(again.some((m) => /training prompts: .*purple/.test(m)), again.join('\n'))
})

test('a corrupt newest checkpoint is refused and the previous one is used', async () => {
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference, { checkpoints: { every: 2, keep: 3 } }), { runId: 'corrupt' })
  await run.run({ onStep: (e) => { if (e.step === 3) run.stop() } })
  run.dispose()
  const dir = join(ws, 'runs', 'corrupt')
  const newest = join(dir, 'checkpoints', 'step-4', 'model.safetensors')
  const bytes = readFileSync(newest)
  bytes[bytes.length - 10] ^= 0xff // flip bits in the tensor data
  writeFileSync(newest, bytes)
  const resumed = await DiStarRun.resume(ws, 'corrupt')
  assert.equal(resumed.step, 2)
  const logs: string[] = []
  await resumed.run({ onLog: (m, level) => logs.push(`${level}: ${m}`) })
  assert.ok(logs.some((m) => /^warn: Checkpoint step-4 refused.*corrupt/.test(m)), logs.join('\n'))
  assertSameWeights(resumed.session.generatorValues(), baseline, 'resume from the previous checkpoint')
  assertSameWeights(resumed.session.generatorValues('ema'), baselineEma, 'resume from the previous checkpoint (EMA)')
  resumed.dispose()
  await assert.rejects(DiStarRun.resume(ws, 'no-such-run'), /No run 'no-such-run'/)
  await assert.rejects(DiStarRun.resume(ws, '../escape'), /Invalid run id/)
})

test('the generator EMA follows its formula and is what the grids show', async () => {
  const ws = await tempWorkspace()
  const decay = 0.2 // below the warm-up (1+n)/(10+n) from n = 2 on, so both branches of the min are used
  const run = await DiStarRun.start(ws, tinyRunConfig(reference, { generatorEmaDecay: decay }), { runId: 'ema' })
  const initial = run.session.generatorValues()
  assertSameWeights(run.session.generatorValues('ema'), initial, 'the EMA starts at the generator')
  const raw: Record<string, Float32Array>[] = []
  await run.run({ onStep: () => raw.push(run.session.generatorValues()) })
  const ema = run.session.generatorValues('ema')
  run.dispose()
  assert.equal(raw.length, 6)
  for (const k of Object.keys(initial)) {
    const expected = Float64Array.from(initial[k]!)
    raw.forEach((g, i) => {
      const d = Math.min(decay, (2 + i) / (11 + i)) // after the (i+1)-th update
      for (let j = 0; j < expected.length; j++) expected[j] = d * expected[j]! + (1 - d) * g[k]![j]!
    })
    const worst = Math.max(...Array.from(expected, (e, j) => Math.abs(e - ema[k]![j]!)))
    assert.ok(worst < 1e-5, `'${k}': EMA off by ${worst}`)
  }
  assert.notDeepEqual(ema['final.w'], raw[5]!['final.w'], 'the EMA lags the raw weights')
  const sidecar = JSON.parse(readFileSync(join(ws, 'runs', 'ema', 'samples', 'step-6.json'), 'utf8'))
  assert.equal(sidecar.weights, 'ema')
  assert.equal(sidecar.emaDecay, decay)

  const off = await DiStarRun.start(ws, tinyRunConfig(reference, { generatorEmaDecay: 0 }), { runId: 'ema-off' })
  await off.run()
  assertSameWeights(off.session.generatorValues('ema'), off.session.generatorValues(), 'decay 0: the EMA is the raw generator')
  off.dispose()
  assert.throws(() => parseRunConfig({ generatorEmaDecay: 1 }), (e: Error) => /generatorEmaDecay/.test(e.message))
})

test('a checkpoint from before the EMA resumes with the EMA at the generator; an unknown version is refused', async () => {
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference), { runId: 'v1' })
  await run.run({ onStep: (e) => { if (e.step === 2) run.stop() } })
  run.dispose()
  const ckDir = join(ws, 'runs', 'v1', 'checkpoints', 'step-3')
  const ck = await loadCheckpoint(ckDir)
  const tensors = Object.fromEntries(Object.entries(ck.tensors).filter(([k]) => !k.startsWith('generatorEma/')))
  await saveCheckpoint(ckDir, { config: { ...(ck.config as object), version: 1 }, tensors })
  const resumed = await DiStarRun.resume(ws, 'v1')
  assert.equal(resumed.step, 3)
  assertSameWeights(resumed.session.generatorValues('ema'), resumed.session.generatorValues(), 'EMA restarted from the generator')
  assert.equal((await resumed.run()).state, 'completed')
  assertSameWeights(resumed.session.generatorValues(), baseline, 'the raw weights do not depend on the EMA')
  await saveCheckpoint(join(ws, 'v99'), { config: { ...(ck.config as object), version: 99 }, tensors: ck.tensors })
  await assert.rejects(resumed.session.loadCheckpoint(join(ws, 'v99')), (e: Error) => e instanceof CheckpointError && /version 99/.test(e.message))
  resumed.dispose()
})

test('generatorInit starts the generator from another run\'s checkpoint; bad ones are clear errors', async () => {
  const ws = await tempWorkspace()
  const first = await DiStarRun.start(ws, tinyRunConfig(reference), { runId: 'first' })
  await first.run()
  const firstEma = first.session.generatorValues('ema')
  first.dispose()
  const init = join(ws, 'runs', 'first', 'checkpoints', 'step-6')
  const second = await DiStarRun.start(ws, tinyRunConfig(reference, { generatorInit: init }), { runId: 'second' })
  assertSameWeights(second.session.generatorValues(), firstEma, 'the generator starts at the other run\'s generator EMA')
  assertSameWeights(second.session.generatorValues('ema'), firstEma, 'and so does its EMA')
  assert.equal(JSON.parse(readFileSync(join(ws, 'runs', 'second', 'config.json'), 'utf8')).generatorInit, init)
  second.dispose()
  // a run that has no checkpoint yet starts from the init again when resumed
  const again = await DiStarRun.resume(ws, 'second')
  assertSameWeights(again.session.generatorValues(), firstEma, 'resumed from step 0')
  again.dispose()

  await assert.rejects(DiStarRun.start(ws, tinyRunConfig(reference, { generatorInit: join(ws, 'nowhere') })), (e: Error) => e instanceof RunConfigError && /generatorInit: No checkpoint/.test(e.message))
  await assert.rejects(DiStarRun.start(ws, tinyRunConfig(reference, { generatorInit: init, tInit: 500 })), (e: Error) => e instanceof RunConfigError && /t_init 800.*tInit is 500/.test(e.message))
  // a tensor of the wrong shape (as a generator for another architecture has)
  const bad = join(ws, 'bad-init')
  const ck = await loadCheckpoint(init)
  const tensors = Object.fromEntries(Object.entries(ck.tensors).map(([k, t]) => [k, k === 'generatorEma/final.w' ? { ...t, shape: [t.data.length], data: t.data } : t]))
  await saveCheckpoint(bad, { config: ck.config, tensors })
  await assert.rejects(DiStarRun.start(ws, tinyRunConfig(reference, { generatorInit: bad })), (e: Error) => e instanceof RunConfigError && /generatorEma\/final\.w' is missing or not float32/.test(e.message))
  assert.deepEqual(readdirSync(join(ws, 'runs')).sort(), ['first', 'second'], 'refused starts leave no run folder')
})

test('the NaN guard pauses the run with its message; resume continues', async () => {
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference, { pauseAfterNonFinite: 2 }), { runId: 'nan' })
  const good = run.session.rewards[0]!
  // the reward turns non-finite for steps 1 and 2 (the rewards array is the trainer's own)
  let calls = 0
  run.session.rewards[0] = { name: good.name, score: (x, p) => (++calls >= 2 && calls <= 3 ? tf.mul(good.score(x, p), NaN) : good.score(x, p)) }
  const statuses: { state: string; message?: string }[] = []
  const final = await run.run({
    onStatus: (s) => { statuses.push({ state: s.state, message: s.message }); if (s.state === 'paused') setTimeout(() => run.resume(), 10) },
  })
  run.dispose()
  const paused = statuses.find((s) => s.state === 'paused')
  assert.ok(paused, 'a paused status was reported')
  assert.match(paused.message ?? '', /2 steps in a row were skipped.*brightness|2 steps in a row were skipped/)
  assert.equal(final.state, 'completed')
  const lines = (await readMetrics(join(ws, 'runs', 'nan'))).filter((l) => l.type === 'step') as unknown as RunStepEvent[]
  assert.deepEqual(lines.map((l) => l.status), ['ok', 'skipped', 'paused', 'ok', 'ok', 'ok'])
})

test('tensor count stays flat across run steps (grids and checkpoints included)', async () => {
  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(reference, { steps: 8 }), { runId: 'tensors' })
  const counts: number[] = []
  await run.run({ onStep: () => counts.push(tf.memory().numTensors) })
  run.dispose()
  assert.equal(counts.length, 8)
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensor counts per step: ${counts.join(', ')}`)
})
