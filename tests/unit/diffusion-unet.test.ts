// The U-Net denoiser (arch 'unet', src-main/ml/diffusion/unet.ts) behind the DiT entry points: shapes,
// seeded init, v/eps output, no mixing across the batch, gradients against finite differences and the
// cpu backend, DiffusionModel save/load, the data-parallel denoising step against the single-thread one,
// and the other users of the entry points (a DI* step, a regression-distillation step).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { DataParallelTrainer } from '../../src-main/ml/backend/data-parallel.ts'
import type { DenoisingParallelConfig } from '../../src-main/ml/diffusion/denoising-parallel.ts'
import {
  countParams, ditEps, ditParamShapes, disposeParams, initDitParams, initDitValues, paramsFromValues, validateDitConfig, type DitConfig, type DitParams,
} from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_SCHEDULE, VpSchedule } from '../../src-main/ml/diffusion/schedule.ts'
import { DenoisingTrainer, DEFAULT_TRAIN_HYPER, drawNoise, type NoisedBatch } from '../../src-main/ml/diffusion/training.ts'
import { upsampleNearest2x } from '../../src-main/ml/diffusion/unet.ts'
import { RegressionDistiller } from '../../src-main/ml/distill/regression.ts'
import { DEFAULT_CONTROLS } from '../../src-main/ml/distar/controls.ts'
import { cloneParams } from '../../src-main/ml/distar/toy-models.ts'
import { DiStarTrainer } from '../../src-main/ml/distar/trainer.ts'
import type { EpsFn, Reward } from '../../src-main/ml/distar/types.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

// two levels (8x8 with 8 channels, 4x4 with 16), attention at both, 4 GroupNorm groups
const config: DitConfig = {
  arch: 'unet', imageSize: 8, channels: 3, patch: 1, width: 8, depth: 1, heads: 2, mlpRatio: 1,
  vocabSize: 12, textLength: 5, textWidth: 8, channelMults: [1, 2], attentionLevels: [0, 1], normGroups: 4,
}
const schedule = new VpSchedule(DEFAULT_SCHEDULE)
const vConfig: DitConfig = { ...config, output: 'v', schedule: DEFAULT_SCHEDULE }

function inputs(B: number, seed: number) {
  const rng = new Rng(seed)
  const x = tf.tensor4d(rng.normals(B * 8 * 8 * 3), [B, 8, 8, 3])
  const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(0, 999)), 'float32')
  const tokens = tf.tensor2d(Array.from({ length: B * 5 }, (_, i) => (i % 5 < 3 ? rng.int(1, 11) : 0)), [B, 5], 'int32')
  return { x, t, tokens }
}

/**
 * Trained-looking weights, in place: seeded noise scaled by each weight's fan-in (1/2 of the
 * init's spread per input; 0.1 for vectors), so every zero-initialised layer takes part while the
 * activations stay O(1) (the head has no normalisation, so weights of a fixed spread blow them up).
 */
function perturbValues(values: Record<string, Float32Array>, shapes: Record<string, number[]>, seed: number): void {
  const rng = new Rng(seed)
  for (const [name, v] of Object.entries(values)) {
    const shape = shapes[name]!
    const std = shape.length === 1 ? 0.1 : 0.5 / Math.sqrt(shape.slice(0, -1).reduce((a, b) => a * b, 1))
    const noise = rng.normals(v.length)
    for (let i = 0; i < v.length; i++) v[i]! += std * noise[i]!
  }
}

function perturbParams(params: DitParams, seed: number): void {
  const values = Object.fromEntries(Object.entries(params).map(([n, v]) => [n, v.dataSync().slice() as Float32Array]))
  perturbValues(values, Object.fromEntries(Object.entries(params).map(([n, v]) => [n, v.shape])), seed)
  for (const [n, v] of Object.entries(params)) tf.tidy(() => v.assign(tf.tensor(values[n]!, v.shape)))
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!)

describe('U-Net', () => {
  before(async () => { await initTf({ prefer: 'wasm' }) })

  it('has the parameter shapes of its config: the DiT text encoder, convs, FiLM, attention, skips', () => {
    const shapes = ditParamShapes(config)
    assert.deepEqual(shapes['text.embed'], [12, 8])
    assert.deepEqual(shapes['text.pos'], [5, 8])
    assert.deepEqual(shapes['text.w1'], [8, 32]) // conditioning width 4 * width
    assert.deepEqual(shapes['time.w1'], [32, 32]) // sinusoid and conditioning both 4 * width wide
    assert.deepEqual(shapes['out.film.w'], [32, 16]) // the head's FiLM: scale and shift for 8 channels
    assert.deepEqual(shapes['in.w'], [3, 3, 3, 8])
    assert.deepEqual(shapes['down.0.0.conv1.w'], [3, 3, 8, 8])
    assert.deepEqual(shapes['down.0.0.film.w'], [32, 16])
    assert.deepEqual(shapes['down.0.down.w'], [3, 3, 8, 8])
    assert.deepEqual(shapes['down.1.0.skip.w'], [8, 16]) // 8 -> 16 channels
    assert.deepEqual(shapes['down.1.0.xattn.k.w'], [8, 16]) // caption tokens (textWidth 8) -> 16
    assert.deepEqual(shapes['mid.attn.q.w'], [16, 16])
    assert.deepEqual(shapes['up.1.0.conv1.w'], [3, 3, 32, 16]) // concat(h, skip) = 16 + 16
    assert.deepEqual(shapes['up.0.0.conv1.w'], [3, 3, 24, 8]) // upsampled 16 + skip 8
    assert.deepEqual(shapes['out.w'], [3, 3, 8, 3])
    assert.equal(shapes['down.0.down.w'] !== undefined && shapes['down.1.down.w'] === undefined, true, 'no downsampling after the last level')
    const total = Object.values(shapes).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0)
    assert.equal(countParams(config), total)
    // without arch (or with 'dit') the same entry points still describe the DiT
    const dit = { ...config, arch: undefined, patch: 4, mlpRatio: 2, channelMults: undefined, attentionLevels: undefined, normGroups: undefined }
    assert.ok('patch.w' in ditParamShapes(dit) && !('in.w' in ditParamShapes(dit)))
  })

  it('initialises from a seed: same seed same values, other seed other values; zero-init and GroupNorm gains', () => {
    const a = initDitValues(config, 7), b = initDitValues(config, 7), c = initDitValues(config, 8)
    assert.deepEqual(a, b)
    assert.notDeepEqual(a['down.0.0.conv1.w'], c['down.0.0.conv1.w'])
    for (const name of ['down.0.0.conv2.w', 'mid.attn.o.w', 'mid.xattn.o.w', 'out.w', 'out.b', 'in.b']) assert.ok(a[name]!.every((v) => v === 0), name)
    assert.ok(a['down.0.0.norm1.g']!.every((v) => v === 1))
    assert.ok(a['down.0.0.norm1.b']!.every((v) => v === 0))
    // Xavier-normal for a 3x3 conv 8 -> 8: std sqrt(2 / (9 * 16))
    const w = a['down.0.0.conv1.w']!
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length)
    assert.ok(Math.abs(std - Math.sqrt(2 / 144)) < 0.03, `conv init std ${std}`)
  })

  it('maps [B,H,W,C] to [B,H,W,C], deterministically, starting as the zero function', () => {
    const params = initDitParams(config, 1)
    const { x, t, tokens } = inputs(3, 2)
    const y0 = ditEps(params, config, x, t, tokens)
    assert.deepEqual(y0.shape, [3, 8, 8, 3])
    assert.ok((y0.dataSync() as Float32Array).every((v) => v === 0))
    perturbParams(params, 3)
    const y1 = ditEps(params, config, x, t, tokens).dataSync()
    const y2 = ditEps(params, config, x, t, tokens).dataSync()
    assert.deepEqual(y1, y2)
    assert.ok(y1.some((v) => Math.abs(v) > 1e-3))
    assert.ok(y1.every(Number.isFinite))
    disposeParams(params)
    tf.dispose([x, t, tokens, y0])
  })

  it("with output 'v' returns eps = sigma_t x_t + alpha_t v (sigma_t x_t at initialisation)", () => {
    const params = initDitParams(vConfig, 1)
    const { x, tokens } = inputs(2, 3)
    const ts = [17, 900]
    const atInit = ditEps(params, vConfig, x, tf.tensor1d(ts), tokens)
    const sigmaX = tf.mul(tf.tensor4d(ts.map((t) => schedule.sigma(t)), [2, 1, 1, 1]), x)
    assert.ok(maxAbsDiff(atInit, sigmaX) < 1e-5)
    perturbParams(params, 8)
    const eps = ditEps(params, vConfig, x, tf.tensor1d(ts), tokens)
    const v = ditEps(params, { ...vConfig, output: 'epsilon' }, x, tf.tensor1d(ts), tokens) // the raw network output
    const a = tf.tensor4d(ts.map((t) => schedule.alpha(t)), [2, 1, 1, 1])
    assert.ok(maxAbsDiff(eps, tf.add(sigmaX, tf.mul(a, v))) < 1e-5)
    disposeParams(params)
  })

  it('depends on the timestep, the prompt and the word tokens themselves (cross-attention); the empty prompt is valid', () => {
    const params = initDitParams(config, 1)
    perturbParams(params, 4)
    const { x, t, tokens } = inputs(2, 5)
    const base = ditEps(params, config, x, t, tokens)
    assert.ok(maxAbsDiff(base, ditEps(params, config, x, tf.tensor1d([10, 20]), tokens)) > 1e-4)
    const empty = tf.zeros([2, 5], 'int32') as tf.Tensor2D
    const nullCond = ditEps(params, config, x, t, empty)
    assert.ok(maxAbsDiff(base, nullCond) > 1e-4)
    assert.ok(nullCond.dataSync().every(Number.isFinite))
    // the cross-attention keys and values get gradients: the words reach the image directly
    const grad = tf.grad((w: tf.Tensor) => tf.sum(tf.square(ditEps({ ...params, 'mid.xattn.k.w': w as tf.Variable }, config, x, t, tokens))))(params['mid.xattn.k.w']!)
    assert.ok(tf.max(tf.abs(grad)).dataSync()[0]! > 0)
    disposeParams(params)
  })

  it('each image depends only on its own inputs (GroupNorm and attention do not mix the batch)', () => {
    const params = initDitParams(config, 1)
    perturbParams(params, 6)
    const { x, t, tokens } = inputs(3, 9)
    const all = ditEps(params, config, x, t, tokens)
    const last = ditEps(params, config, tf.slice(x, 2, 1), tf.slice(t, 2, 1), tf.slice(tokens, 2, 1))
    assert.ok(maxAbsDiff(tf.slice(all, 2, 1), last) < 1e-5)
    disposeParams(params)
  })

  it('upsamples by nearest neighbour with concat + reshape', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2])
    const y = upsampleNearest2x(x).arraySync()[0]!
    assert.deepEqual(y[0], [[1, 2], [1, 2], [3, 4], [3, 4]])
    assert.deepEqual(y[1], y[0])
    assert.deepEqual(y[3], [[5, 6], [5, 6], [7, 8], [7, 8]])
  })

  it('has gradients that match finite differences (every kind of parameter and the input), on wasm and on cpu', async () => {
    const values = initDitValues(vConfig, 2)
    // move every weight off its init, so zero-initialised layers do not hide any path
    const rng = new Rng(10)
    perturbValues(values, ditParamShapes(vConfig), 10)
    const { x, t, tokens } = inputs(2, 12)
    const xData = x.dataSync().slice() as Float32Array
    const weights = Float64Array.from(rng.normals(2 * 8 * 8 * 3))
    const names = ['in.w', 'down.0.0.norm1.g', 'down.0.0.conv1.w', 'down.0.0.film.w', 'down.0.0.conv2.w', 'down.0.0.attn.q.w', 'down.0.0.xattn.k.w',
      'down.0.down.w', 'down.1.0.skip.w', 'mid.attn.o.w', 'mid.1.conv2.b', 'up.0.0.conv1.w', 'out.film.w', 'out.film.b', 'out.w', 'text.embed', 'text.w1', 'time.w2']
    const gradsOn = (backend: string) => {
      const params = paramsFromValues(vConfig, values, true)
      const xv = tf.variable(tf.tensor4d(xData, x.shape))
      const w = tf.tensor4d(Float32Array.from(weights), [2, 8, 8, 3])
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(ditEps(params, vConfig, xv, t, tokens), w)) as tf.Scalar, [...names.map((n) => params[n]!), xv])
      const byName: Record<string, Float32Array> = {}
      for (const n of names) byName[n] = grads[params[n]!.name]!.dataSync().slice() as Float32Array
      byName['x'] = grads[xv.name]!.dataSync().slice() as Float32Array
      tf.dispose(Object.values(grads))
      disposeParams(params)
      tf.dispose([xv, w])
      assert.ok(Object.values(byName).every((g) => g.every(Number.isFinite)), backend)
      return byName
    }
    // the loss at shifted values, summed in float64
    const lossAt = (name: string, direction: Float32Array, h: number) => tf.tidy(() => {
      const shifted = { ...values }
      let xs = xData
      if (name === 'x') xs = xData.map((v, i) => v + h * direction[i]!)
      else shifted[name] = values[name]!.map((v, i) => v + h * direction[i]!)
      const params = paramsFromValues(vConfig, shifted, false)
      const y = ditEps(params, vConfig, tf.tensor4d(xs, x.shape), t, tokens).dataSync()
      disposeParams(params)
      let s = 0
      for (let i = 0; i < y.length; i++) s += y[i]! * weights[i]!
      return s
    })
    const wasm = gradsOn('wasm')
    for (const name of [...names, 'x']) {
      const g = wasm[name]!
      const direction = Float32Array.from(rng.normals(g.length))
      const h = 2e-3
      const numeric = (lossAt(name, direction, h) - lossAt(name, direction, -h)) / (2 * h)
      let analytic = 0, gg = 0, dd = 0
      for (let i = 0; i < g.length; i++) {
        analytic += g[i]! * direction[i]!
        gg += g[i]! ** 2
        dd += direction[i]! ** 2
      }
      const scale = Math.sqrt(gg * dd) + 1e-3
      assert.ok(Math.abs(numeric - analytic) <= 2e-3 * scale, `${name}: directional derivative ${analytic} vs finite difference ${numeric} (scale ${scale})`)
    }
    // the cpu backend runs tfjs's stock conv gradient kernels; ours on wasm must agree
    await tf.setBackend('cpu')
    let cpu: Record<string, Float32Array>
    try {
      cpu = gradsOn('cpu')
    } finally {
      await tf.setBackend('wasm')
    }
    for (const name of [...names, 'x']) {
      const a = wasm[name]!, b = cpu[name]!
      const scale = Math.max(...Array.from(b, Math.abs), 1e-6)
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-3 * scale, `${name}[${i}]: wasm ${a[i]} vs cpu ${b[i]}`)
    }
    tf.dispose([x, t, tokens])
  })

  it('refuses configs the U-Net cannot build, and U-Net fields on a DiT', () => {
    assert.throws(() => validateDitConfig({ ...config, patch: 2 }), /patch must be 1/)
    assert.throws(() => validateDitConfig({ ...config, normGroups: 3 }), /8 channels, not divisible by normGroups 3/)
    assert.throws(() => validateDitConfig({ ...config, channelMults: [1, 1, 1, 1, 1] }), /not divisible by 2\^4/)
    assert.throws(() => validateDitConfig({ ...config, channelMults: [] }), /channelMults/)
    assert.throws(() => validateDitConfig({ ...config, attentionLevels: [2] }), /attentionLevels/)
    assert.throws(() => validateDitConfig({ ...config, heads: 3 }), /not divisible by heads 3/)
    assert.throws(() => validateDitConfig({ ...config, textTokens: true }), /textTokens does not apply/)
    assert.throws(() => validateDitConfig({ ...config, arch: 'resnet' as never }), /arch must be 'dit' or 'unet'/)
    assert.throws(() => validateDitConfig({ ...config, arch: 'dit', patch: 4, mlpRatio: 2 }), /channelMults is a U-Net setting/)
    const params = initDitParams(config, 1)
    const { x, t, tokens } = inputs(2, 1)
    assert.throws(() => ditEps(params, config, tf.zeros([2, 16, 16, 3]) as tf.Tensor4D, t, tokens), /config expects 8x8x3/)
    assert.throws(() => ditEps(params, config, x, tf.zeros([3]) as tf.Tensor1D, tokens), /batch sizes differ/)
    assert.throws(() => ditEps(params, config, x, t, tf.zeros([2, 4], 'int32') as tf.Tensor2D), /textLength 5/)
    disposeParams(params)
  })
})

describe('U-Net as a DiffusionModel', () => {
  let dir = ''
  before(async () => {
    await initTf({ prefer: 'wasm' })
    dir = await mkdtemp(join(tmpdir(), 'unet-model-'))
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('creates, saves and loads bit-exactly (weights, config, samples)', async () => {
    const tokenizer = Tokenizer.build(['red apple, twitter style', 'dog face, google style', 'rocket'], { maxLength: 6 })
    const { vocabSize: _v, textLength: _l, schedule: _s, ...arch } = vConfig
    const model = DiffusionModel.create(arch, DEFAULT_SCHEDULE, tokenizer, 3)
    assert.equal(model.dit.arch, 'unet')
    perturbParams(model.params, 5)
    await model.save(join(dir, 'm'))
    const loaded = await DiffusionModel.load(join(dir, 'm'))
    assert.deepEqual(loaded.config, model.config)
    for (const [name, v] of Object.entries(model.params)) assert.deepEqual(loaded.params[name]!.dataSync(), v.dataSync(), name)
    const opts = { steps: 2, guidance: 2, seeds: [4, 5] }
    const a = model.generate(['red apple', ''], opts)
    const b = loaded.generate(['red apple', ''], opts)
    assert.deepEqual(a.dataSync(), b.dataSync())
    assert.ok(a.dataSync().every(Number.isFinite))
    tf.dispose([a, b])
    model.dispose()
    loaded.dispose()
  })
})

describe('U-Net in DI* and in regression distillation', () => {
  before(async () => { await initTf({ prefer: 'wasm' }) })

  it('DI* steps with U-Net generator, fake score and reference (score and KL regularisers); the reference stays frozen', () => {
    const eps: EpsFn = (params, xt, t, cond) => ditEps(params, vConfig, xt, t, cond as tf.Tensor2D)
    const reference = initDitParams(vConfig, 1, false)
    perturbParams(reference, 5) // trained-looking: zero-initialised layers would stay out of the first gradients
    const frozen = reference['mid.xattn.k.w']!.dataSync().slice()
    const redness: Reward = { name: 'redness', score: (x) => tf.tidy(() => tf.mean(tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, 1]), [1, 2, 3]) as tf.Tensor1D) }
    for (const [regulariser, cfgPlacement] of [['score', 'in'], ['kl', 'out']] as const) {
      const generator = cloneParams(reference, true)
      const fake = cloneParams(reference, true)
      const trainer = new DiStarTrainer({
        generator: { eps, params: generator }, fake: { eps, params: fake }, reference: { eps, params: reference },
        schedule, tInit: 800, batchSize: 2, imageShape: [8, 8, 3],
        conditioning: (rng, B) => ({
          prompts: new Array<string>(B).fill('red apple'),
          cond: tf.tensor2d(Int32Array.from({ length: B * 5 }, () => rng.int(1, 11)), [B, 5], 'int32'),
          nullCond: tf.zeros([B, 5], 'int32'),
        }),
        rewards: [redness], seed: 9,
        controls: { ...DEFAULT_CONTROLS, regulariser, cfgPlacement, cfgScale: 3, generatorLr: 1e-3, fakeLr: 1e-3, fakeStepsPerGeneratorStep: 1 },
      })
      trainer.step()
      const count = tf.memory().numTensors
      const res = trainer.step()
      assert.equal(res.status, 'ok', res.reason)
      assert.equal(tf.memory().numTensors, count, `${regulariser}/${cfgPlacement}: tensors leaked`)
      assert.ok(res.gradNorms.regulariser > 0 && Number.isFinite(res.losses.fakeScore))
      for (const name of ['out.w', 'down.0.0.conv1.w', 'mid.xattn.k.w']) {
        assert.notDeepEqual(generator[name]!.dataSync(), reference[name]!.dataSync(), `${regulariser}/${cfgPlacement}: ${name} trains`)
      }
      trainer.dispose()
      disposeParams(generator)
      disposeParams(fake)
    }
    assert.deepEqual(reference['mid.xattn.k.w']!.dataSync(), frozen)
    disposeParams(reference)
  })

  it('regression distillation fits a one-step U-Net generator to reference pairs (the loss falls)', () => {
    const tokenizer = Tokenizer.build(['red apple', 'dog face', 'rocket'], { maxLength: 5 })
    const { vocabSize: _v, textLength: _l, schedule: _s, ...arch } = vConfig
    const reference = DiffusionModel.create(arch, DEFAULT_SCHEDULE, tokenizer, 2)
    perturbParams(reference.params, 3)
    const rng = new Rng(4)
    const count = 4
    const pairs = {
      spec: { count, seed: 1, sampler: 'ddim' as const, steps: 4, guidance: 2, referenceSha256: 'test' },
      prompts: ['red apple', 'dog face', 'rocket', ''], seeds: [0, 1, 2, 3],
      targets: Float32Array.from(rng.normals(count * 8 * 8 * 3), Math.tanh),
    }
    const distiller = new RegressionDistiller(reference, pairs, { tInit: 800, batch: 4, lr: 3e-3, seed: 1 })
    const losses = Array.from({ length: 8 }, () => distiller.trainStep())
    assert.ok(losses.every(Number.isFinite))
    assert.ok(losses[losses.length - 1]! < losses[0]!, `regression loss ${losses[0]} -> ${losses[losses.length - 1]}`)
    distiller.dispose()
    reference.dispose()
  })
})

describe('U-Net data-parallel denoising step', () => {
  const MODULE = new URL('../../src-main/ml/diffusion/denoising-parallel.ts', import.meta.url)
  const dit: DitConfig = { ...vConfig, vocabSize: 20, textLength: 4 }
  const IMAGE: [number, number, number] = [8, 8, 3]
  const HYPER = { ...DEFAULT_TRAIN_HYPER, warmupSteps: 2, totalSteps: 10, minSnrGamma: 5, minSnrFloor: 1 }
  let dp: DataParallelTrainer
  let single: DitParams

  before(async () => {
    await initTf({ prefer: 'wasm' })
    const parallel: DenoisingParallelConfig = { dit, schedule: DEFAULT_SCHEDULE, seed: 3 }
    dp = await DataParallelTrainer.create({ module: MODULE, config: parallel, workers: 1, prefer: 'wasm' })
    single = initDitParams(dit, 3)
  })
  after(async () => {
    await dp.dispose()
    disposeParams(single)
    disposeParams(dp.model.params)
  })

  it('starts from the same weights and equals the single-thread step (loss, gradient norm, weights)', async () => {
    for (const name of Object.keys(single)) assert.deepEqual(dp.model.params[name]!.dataSync(), single[name]!.dataSync(), name)
    // the zero-initialised layers would hide most gradients: give both copies the same trained-looking values
    perturbParams(single, 11)
    for (const [name, v] of Object.entries(single)) dp.model.params[name]!.assign(v)
    const eps = (p: DitParams, x: tf.Tensor4D, t: tf.Tensor1D, cond: tf.Tensor) => ditEps(p, dit, x, t, cond as tf.Tensor2D)
    const condShape = (b: number) => [b, dit.textLength]
    const oneThread = new DenoisingTrainer(eps, single, schedule, HYPER, condShape)
    const twoThreads = new DenoisingTrainer(eps, dp.model.params, schedule, HYPER, condShape)
    const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-12)
    try {
      for (const [step, rows] of [[0, 5], [1, 4]] as const) {
        const rng = new Rng(40 + step)
        const { t, noise } = drawNoise(rng, schedule, rows, 8 * 8 * 3)
        const batch: NoisedBatch = {
          x0: Float32Array.from(rng.normals(rows * 8 * 8 * 3), Math.tanh), t, noise,
          cond: new Int32Array(rows * dit.textLength).map((_, i) => (i % dit.textLength < 2 ? rng.int(1, dit.vocabSize - 1) : 0)),
        }
        const plainBefore = await oneThread.evaluateLoss(batch, IMAGE)
        const a = await oneThread.trainStep(batch, IMAGE)
        const b = await twoThreads.trainStepParallel(dp, batch, IMAGE)
        assert.equal(b.cpuMs.length, 2, 'main thread + one worker took part')
        assert.ok(close(b.loss, a.loss, 1e-5), `step ${step}: plain loss ${b.loss} vs ${a.loss}`)
        assert.ok(close(b.loss, plainBefore, 1e-5), `step ${step}: reported loss ${b.loss} vs plain ${plainBefore}`)
        assert.ok(close(b.gradNorm, a.gradNorm, 1e-4), `step ${step}: |g| ${b.gradNorm} vs ${a.gradNorm}`)
        let diff = 0, scale = 1e-12
        for (const name of Object.keys(single)) {
          const p = oneThread.params[name]!.dataSync(), q = twoThreads.params[name]!.dataSync()
          for (let i = 0; i < p.length; i++) {
            diff = Math.max(diff, Math.abs(p[i]! - q[i]!))
            scale = Math.max(scale, Math.abs(p[i]!))
          }
        }
        assert.ok(diff / scale < 1e-5, `step ${step}: weights differ by ${diff / scale} (relative)`)
      }
    } finally {
      oneThread.dispose()
      twoThreads.dispose()
    }
  })
})
