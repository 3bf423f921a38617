// The embedded one-step generator (resources/models/one-step-init, made by npm run distill) that
// default-run.json starts from: it belongs to the shipped reference and the default t_init, a default run
// starts from exactly its weights, and it does what distillation promises on prompts and noise it never
// trained on (held-out validation captions, seeds below the pairs' range): its one-step samples are much
// closer to the reference's own 25-step samples than the reference read as a one-step model is.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { loadCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { ditEps, ditParamShapes, type DitParams } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { initialNoise } from '../../src-main/ml/diffusion/samplers.ts'
import { generatorSample } from '../../src-main/ml/distar/losses.ts'
import { modelWeightsSha256 } from '../../src-main/ml/distill/regression.ts'
import { checkpointGeneratorValues } from '../../src-main/core/runs/run-files.ts'
import { embeddedGeneratorInitDir } from '../../src-main/core/runs/generator-init.ts'
import { defaultReferenceModelDir } from '../../src-main/core/runs/run-session.ts'
import { DiStarRun } from '../../src-main/core/runs/run-engine.ts'
import { parseRunConfig } from '../../src-main/core/runs/run-config.ts'
import { promptSubset } from '../../src-main/eval/pipeline.ts'
import { readPromptFile } from '../../src-main/util/prompt-file.ts'
import { resolveModelChoice } from '../../src-main/core/gallery/generate.ts'
import { OnnxInference } from '../../src-main/ml/onnx/inference.ts'

const defaultRun = parseRunConfig(JSON.parse(readFileSync(new URL('../../resources/configs/default-run.json', import.meta.url), 'utf8')))
let reference: DiffusionModel
let initValues: Record<string, Float32Array>
let initConfig: { kind?: string; tInit?: number; reference?: { sha256?: string } }

before(async () => {
  await initTf()
  reference = await DiffusionModel.load(defaultReferenceModelDir())
  const ck = await loadCheckpoint(embeddedGeneratorInitDir())
  initConfig = ck.config as typeof initConfig
  const values = checkpointGeneratorValues(ck.tensors, ditParamShapes(reference.dit))
  assert.ok(!('bad' in values), 'every generator tensor of the reference\'s architecture is present')
  initValues = values.values
})

after(() => reference?.dispose())

test('the embedded one-step generator belongs to the shipped reference and the default run', async () => {
  assert.equal(defaultRun.generatorInit, 'embedded')
  assert.equal(initConfig.kind, 'one-step-generator')
  assert.equal(initConfig.tInit, defaultRun.tInit)
  assert.equal(initConfig.reference?.sha256, await modelWeightsSha256(defaultReferenceModelDir()))
  const ws = await mkdtemp(join(tmpdir(), 'shipped-init-'))
  try {
    const run = await DiStarRun.start(ws, { ...defaultRun, steps: 1 }, { runId: 'default' })
    try {
      for (const weights of ['raw', 'ema'] as const) {
        for (const [k, v] of Object.entries(run.session.generatorValues(weights))) assert.deepEqual(v, initValues[k], `${weights} '${k}'`)
      }
      assert.equal(JSON.parse(readFileSync(join(run.dir, 'config.json'), 'utf8')).generatorInit, 'embedded', 'saved as the keyword, not a path into this install')
    } finally {
      run.dispose()
    }
  } finally {
    await rm(ws, { recursive: true, force: true })
  }
})

test('on held-out captions and noise it draws close to the reference\'s 25-step samples', { timeout: 300_000 }, async () => {
  const prompts = promptSubset(readPromptFile(fileURLToPath(new URL('../../resources/prompts/validation-captions.txt', import.meta.url))), 12)
  const seeds = prompts.map((_, i) => 500 + i)
  const target = reference.generate(prompts, { seeds, steps: 25, guidance: 4.5, sampler: 'ddim' })
  const distilled = reference.cloneParams(false)
  tf.tidy(() => { for (const [k, v] of Object.entries(distilled)) v.assign(tf.tensor(initValues[k]!, v.shape)) })
  const oneStep = (params: DitParams) => tf.tidy(() => {
    const z = tf.tensor4d(initialNoise(seeds, reference.imageShape), [prompts.length, ...reference.imageShape])
    const model = { eps: (p: DitParams, x: tf.Tensor4D, t: tf.Tensor1D, c: tf.Tensor) => ditEps(p, reference.dit, x, t, c as tf.Tensor2D), params }
    const x = tf.clipByValue(generatorSample(model, z, reference.encodePrompts(prompts), reference.schedule, defaultRun.tInit), -1, 1)
    return tf.mean(tf.square(tf.sub(x, target))).dataSync()[0]!
  })
  const raw = oneStep(reference.params)
  const init = oneStep(distilled)
  tf.dispose([target, ...Object.values(distilled)])
  process.stdout.write(`# MSE to the reference's DDIM-25 samples on 12 held-out captions: reference at t_init ${raw.toFixed(4)}, distilled ${init.toFixed(4)}\n`)
  assert.ok(init < 0.5 * raw, `distilled ${init} vs the reference read at t_init ${raw}`)
})

test('the gallery\'s \'one-step-init\' model generates what the distilled weights draw', { timeout: 300_000 }, async () => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'shipped-init-onnx-'))
  const inference = new OnnxInference({ threads: 1 })
  try {
    const pkg = await resolveModelChoice({ path: 'one-step-init' }, cacheDir)
    assert.equal(pkg.manifest.kind, 'generator')
    assert.equal(pkg.manifest.tInit, defaultRun.tInit)
    const prompts = ['grinning face, twitter style', 'red apple, google style', 'unknownword zebra']
    const seeds = [3, 4, 5]
    const onnx = await inference.generate(pkg, { prompts, seeds })
    const distilled = reference.cloneParams(false)
    tf.tidy(() => { for (const [k, v] of Object.entries(distilled)) v.assign(tf.tensor(initValues[k]!, v.shape)) })
    const expected = tf.tidy(() => {
      const z = tf.tensor4d(initialNoise(seeds, reference.imageShape), [prompts.length, ...reference.imageShape])
      const model = { eps: (p: DitParams, x: tf.Tensor4D, t: tf.Tensor1D, c: tf.Tensor) => ditEps(p, reference.dit, x, t, c as tf.Tensor2D), params: distilled }
      return tf.clipByValue(generatorSample(model, z, reference.encodePrompts(prompts), reference.schedule, defaultRun.tInit), -1, 1).dataSync() as Float32Array
    })
    tf.dispose(Object.values(distilled))
    let worst = 0
    for (let k = 0; k < expected.length; k++) worst = Math.max(worst, Math.abs(expected[k]! - onnx.pixels[k]!))
    assert.ok(worst < 1e-3, `largest pixel difference between onnxruntime and TF.js: ${worst}`)
  } finally {
    await inference.dispose()
    await rm(cacheDir, { recursive: true, force: true })
  }
})
