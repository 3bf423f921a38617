// Regression distillation (ml/distill) on a tiny reference, cpu backend: the pairs are the reference's own
// DDIM samples, the regression loss falls, a stopped distillation resumes bit for bit without drawing the
// pairs again, its output starts a DI* run (generatorInit) and is refused by a run on another reference,
// and bad inputs (another spec, a corrupt state, non-finite targets, an occupied --out) are clear errors.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { Distillation, distillPaths, type DistillOptions } from '../../src-main/ml/distill/distill-run.ts'
import { DistillError, loadPairs, makePairs, modelWeightsSha256, pairPlan, RegressionDistiller, type ReferenceSampler } from '../../src-main/ml/distill/regression.ts'
import { CheckpointError, loadCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { DiStarRun } from '../../src-main/core/runs/run-engine.ts'
import { RunConfigError } from '../../src-main/core/runs/run-config.ts'
import { saveTinyReference, tempWorkspace, tinyRunConfig, TINY_PROMPTS } from './runs-fixtures.ts'

let referenceDir = ''
let reference: DiffusionModel
let sampleCalls = 0

/** The tiny reference's own DDIM sampler (what the CLI draws in onnxruntime): 4 steps, CFG 2. */
const tfjsSampler: ReferenceSampler = async (prompts, seeds, onProgress) => {
  sampleCalls++
  const x = reference.generate(prompts, { seeds, steps: 4, guidance: 2, sampler: 'ddim' })
  const data = Float32Array.from(await x.data())
  x.dispose()
  onProgress(prompts.length)
  return data
}

function options(outDir: string, overrides: Partial<DistillOptions> = {}): DistillOptions {
  return {
    outDir, referenceDir, trainPrompts: TINY_PROMPTS,
    pairs: { count: 24, seed: 1, sampler: 'ddim', steps: 4, guidance: 2 },
    regression: { tInit: 800, batch: 6, lr: 3e-3, seed: 2 },
    steps: 40, checkpointEvery: 7, sampleEvery: 20,
    showcase: { prompts: TINY_PROMPTS.slice(0, 2), seeds: [0, 1], columns: 2 },
    resume: false,
    ...overrides,
  }
}

const tempOut = async () => join(await mkdtemp(join(tmpdir(), 'distill-')), 'out')

let uninterrupted: { generator: Record<string, Float32Array>; curve: { step: number; loss: number }[]; modelDir: string }

before(async () => {
  await tf.setBackend('cpu')
  referenceDir = await saveTinyReference()
  reference = await DiffusionModel.load(referenceDir)
  const out = await tempOut()
  const result = await new Distillation(reference, options(out), { sampler: tfjsSampler }).run()
  assert.equal(result.state, 'completed')
  const ck = await loadCheckpoint(distillPaths(out).model)
  uninterrupted = {
    generator: Object.fromEntries(Object.entries(ck.tensors).map(([k, t]) => [k, t.data as Float32Array])),
    curve: result.curve,
    modelDir: distillPaths(out).model,
  }
})

test('the pair plan is a function of its seed; the targets are the reference sampler\'s images', async () => {
  const a = pairPlan(TINY_PROMPTS, 10, 1)
  assert.deepEqual(pairPlan(TINY_PROMPTS, 10, 1), a)
  assert.notDeepEqual(pairPlan(TINY_PROMPTS, 10, 2).prompts, a.prompts)
  assert.notDeepEqual(pairPlan(TINY_PROMPTS, 10, 2).seeds, a.seeds)
  assert.ok(a.prompts.every((p) => TINY_PROMPTS.includes(p)))
  const spec = { count: 4, seed: 1, sampler: 'ddim' as const, steps: 4, guidance: 2, referenceSha256: 'x' }
  const pairs = await makePairs(spec, TINY_PROMPTS, tfjsSampler)
  const plan = pairPlan(TINY_PROMPTS, 4, 1)
  const direct = reference.generate(plan.prompts, { seeds: plan.seeds, steps: 4, guidance: 2, sampler: 'ddim' })
  assert.deepEqual(Array.from(pairs.targets), Array.from(direct.dataSync()))
  direct.dispose()
  // a sampler that returns NaN is refused before anything is saved
  await assert.rejects(makePairs(spec, TINY_PROMPTS, async (p) => new Float32Array(p.length * 8 * 8 * 3).fill(NaN)), (e: Error) => e instanceof DistillError && /non-finite/.test(e.message))
})

test('the regression loss falls, and the written generator is what a DI* run starts from', async () => {
  const curve = uninterrupted.curve
  assert.equal(curve.length, 4, 'a curve point every 10 steps')
  assert.ok(curve.at(-1)!.loss < 0.8 * curve[0]!.loss, `regression MSE ${curve.map((c) => c.loss.toFixed(4)).join(' -> ')}`)
  const config = (await loadCheckpoint(uninterrupted.modelDir)).config as { kind: string; tInit: number; reference: { sha256: string } }
  assert.equal(config.kind, 'one-step-generator')
  assert.equal(config.tInit, 800)
  assert.equal(config.reference.sha256, await modelWeightsSha256(referenceDir))

  const ws = await tempWorkspace()
  const run = await DiStarRun.start(ws, tinyRunConfig(referenceDir, { generatorInit: uninterrupted.modelDir }), { runId: 'from-distilled' })
  const values = run.session.generatorValues()
  for (const [k, v] of Object.entries(values)) assert.deepEqual(Array.from(v), Array.from(uninterrupted.generator[`generator/${k}`]!), k)
  run.dispose()

  // another reference of the same architecture (same shapes) refuses the generator
  const other = join(await mkdtemp(join(tmpdir(), 'distill-other-')), 'reference')
  const otherModel = await DiffusionModel.load(referenceDir)
  tf.tidy(() => { for (const v of Object.values(otherModel.params)) v.assign(tf.add(v, 0.01)) })
  await otherModel.save(other)
  otherModel.dispose()
  await assert.rejects(
    DiStarRun.start(ws, tinyRunConfig(other, { generatorInit: uninterrupted.modelDir }), { runId: 'other' }),
    (e: Error) => e instanceof RunConfigError && /distilled from another reference model/.test(e.message),
  )
  // 'embedded' names the generator shipped for the embedded reference: not this one's either
  await assert.rejects(
    DiStarRun.start(ws, tinyRunConfig(referenceDir, { generatorInit: 'embedded' }), { runId: 'embedded' }),
    (e: Error) => e instanceof RunConfigError && /generatorInit/.test(e.message),
  )
})

test('a stopped distillation resumes bit for bit and does not draw the pairs again', async () => {
  const out = await tempOut()
  const first = await new Distillation(reference, options(out, { stopAtStep: 17 }), { sampler: tfjsSampler }).run()
  assert.equal(first.state, 'stopped')
  assert.equal(first.step, 17)
  assert.ok(!existsSync(distillPaths(out).model), 'no model before the end')
  // without --resume an occupied folder is refused
  await assert.rejects(new Distillation(reference, options(out), { sampler: tfjsSampler }).run(), (e: Error) => e instanceof DistillError && /already holds a distillation/.test(e.message))
  const callsBefore = sampleCalls
  const resumed = await new Distillation(reference, options(out, { resume: true }), { sampler: tfjsSampler }).run()
  assert.equal(resumed.state, 'completed')
  assert.equal(sampleCalls, callsBefore, 'the saved pairs were reused')
  const ck = await loadCheckpoint(distillPaths(out).model)
  for (const [k, t] of Object.entries(ck.tensors)) {
    assert.ok(Buffer.from((t.data as Float32Array).buffer).equals(Buffer.from(uninterrupted.generator[k]!.buffer)), `'${k}' differs from the uninterrupted distillation`)
  }
  assert.deepEqual(resumed.curve.map((c) => c.step), uninterrupted.curve.map((c) => c.step))
  assert.ok(existsSync(join(distillPaths(out).samples, 'step-0.png')) && existsSync(join(distillPaths(out).samples, 'step-40.png')))
})

test('pairs of another spec, a damaged state and a state of other options are refused', async () => {
  const out = await tempOut()
  await new Distillation(reference, options(out, { stopAtStep: 3 }), { sampler: tfjsSampler }).run()
  const sha = await modelWeightsSha256(referenceDir)
  await assert.rejects(loadPairs(distillPaths(out).pairs, { count: 24, seed: 9, sampler: 'ddim', steps: 4, guidance: 2, referenceSha256: sha }, reference.imageShape), (e: Error) => e instanceof DistillError && /drawn with/.test(e.message))
  await assert.rejects(new Distillation(reference, options(out, { resume: true, pairs: { count: 24, seed: 1, sampler: 'ddim', steps: 8, guidance: 2 } }), { sampler: tfjsSampler }).run(), (e: Error) => e instanceof DistillError)

  const pairs = await loadPairs(distillPaths(out).pairs, { count: 24, seed: 1, sampler: 'ddim', steps: 4, guidance: 2, referenceSha256: sha }, reference.imageShape)
  const state = await loadCheckpoint(distillPaths(out).state)
  const other = new RegressionDistiller(reference, pairs, { tInit: 800, batch: 6, lr: 1e-3, seed: 2 })
  const before = other.generatorValues()
  assert.throws(() => other.importState(state), (e: Error) => e instanceof DistillError && /saved state was made with/.test(e.message))
  assert.deepEqual(other.generatorValues(), before, 'nothing changed')
  other.dispose()

  const stateFile = join(distillPaths(out).state, 'model.safetensors')
  const bytes = readFileSync(stateFile)
  bytes[bytes.length - 5] ^= 0xff
  writeFileSync(stateFile, bytes)
  await assert.rejects(new Distillation(reference, options(out, { resume: true }), { sampler: tfjsSampler }).run(), (e: Error) => e instanceof CheckpointError && /corrupt/.test(e.message))
})

test('a non-finite loss changes nothing and throws', async () => {
  const pairs = await makePairs({ count: 4, seed: 1, sampler: 'ddim', steps: 4, guidance: 2, referenceSha256: 'x' }, TINY_PROMPTS, tfjsSampler)
  const d = new RegressionDistiller(reference, pairs, { tInit: 800, batch: 4, lr: 1e-3, seed: 0 })
  const before = d.generatorValues()
  // a pair the first step trains on gets an infinite target
  pairs.targets[d.batchIndices(1)[0]! * 8 * 8 * 3] = Infinity
  assert.throws(() => d.trainStep(), (e: Error) => e instanceof DistillError && /nothing was updated/.test(e.message))
  assert.deepEqual(d.generatorValues(), before)
  assert.equal(d.step, 0)
  d.dispose()
})
