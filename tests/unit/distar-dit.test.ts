// DI* on the project's DiT (a tiny configuration, cpu backend): the generic EpsFn interface carries the real
// network, its int32 token conditioning (batched cond + empty prompt for CFG) and its parameter records;
// every regulariser/CFG combination steps (with and without caption tokens in the attention), keeps the
// reference frozen, trains the blocks and leaks no tensors.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs' // registers every gradient (tfjs-core's CommonJS entry has none)
import { ditEps, initDitParams, disposeParams, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { VpSchedule } from '../../src-main/ml/diffusion/schedule.ts'
import { DiStarTrainer } from '../../src-main/ml/distar/trainer.ts'
import { DEFAULT_CONTROLS } from '../../src-main/ml/distar/controls.ts'
import { cloneParams } from '../../src-main/ml/distar/toy-models.ts'
import { perturbParams } from '../helpers/dit-params.ts'
import type { EpsFn, Reward } from '../../src-main/ml/distar/types.ts'

before(async () => {
  await tf.setBackend('cpu')
})

const PLAIN: DitConfig = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, vocabSize: 20, textLength: 4, textWidth: 8 }
const redness: Reward = { name: 'redness', score: (x) => tf.tidy(() => tf.mean(tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, 1]), [1, 2, 3]) as tf.Tensor1D) }

// textTokens: the caption's tokens inside the attention (an architecture option of the reference; the
// generator and fake score copy the reference's architecture, so DI* must step through it too)
for (const DIT of [PLAIN, { ...PLAIN, textTokens: true }]) test(`DI* steps on a tiny DiT for every regulariser and CFG placement${DIT.textTokens ? ', caption tokens in the attention' : ''}`, () => {
  const eps: EpsFn = (params, xt, t, cond) => ditEps(params, DIT, xt, t, cond as tf.Tensor2D)
  const reference = initDitParams(DIT, 1, false)
  // A trained reference: with adaLN-zero gates and a zero output layer, every block (and the token
  // map) would stay out of the first steps' gradients.
  perturbParams(reference, 5)
  const before = Object.fromEntries(Object.entries(reference).map(([k, v]) => [k, Array.from(v.dataSync())]))
  for (const [regulariser, cfgPlacement] of [['score', 'in'], ['score', 'out'], ['kl', 'in'], ['kl', 'out']] as const) {
    const generator = cloneParams(reference, true)
    const fake = cloneParams(reference, true)
    const trainer = new DiStarTrainer({
      generator: { eps, params: generator }, fake: { eps, params: fake }, reference: { eps, params: reference },
      schedule: new VpSchedule(), tInit: 399, batchSize: 2, imageShape: [DIT.imageSize, DIT.imageSize, 3],
      conditioning: (rng, B) => ({
        prompts: new Array<string>(B).fill('red apple'),
        cond: tf.tensor2d(Int32Array.from({ length: B * DIT.textLength }, () => rng.int(1, DIT.vocabSize - 1)), [B, DIT.textLength], 'int32'),
        nullCond: tf.zeros([B, DIT.textLength], 'int32'),
      }),
      rewards: [redness], seed: 9,
      controls: { ...DEFAULT_CONTROLS, regulariser, cfgPlacement, cfgScale: 3, generatorLr: 1e-3, fakeLr: 1e-3, fakeStepsPerGeneratorStep: 1 },
    })
    trainer.step()
    const count = tf.memory().numTensors
    const res = trainer.step()
    assert.equal(res.status, 'ok', res.reason)
    assert.equal(tf.memory().numTensors, count, `${regulariser}/${cfgPlacement}: tensors leaked`)
    for (const v of [res.losses.generatorTotal, res.losses.fakeScore, res.gradNorms.reward, res.gradNorms.regulariser, res.gradNorms.generator]) assert.ok(Number.isFinite(v))
    assert.ok(res.gradNorms.regulariser > 0, `${regulariser}/${cfgPlacement}: the regulariser should push the generator (CFG 3 makes the guided reference differ from the fake)`)
    assert.notDeepEqual(Array.from(generator['final.w']!.dataSync()), Array.from(reference['final.w']!.dataSync()))
    for (const name of ['blocks.0.q.w', ...(DIT.textTokens ? ['tok.w'] : [])]) assert.notDeepEqual(Array.from(generator[name]!.dataSync()), Array.from(reference[name]!.dataSync()), `${regulariser}/${cfgPlacement}: ${name} trains too`)
    trainer.dispose()
    disposeParams(generator)
    disposeParams(fake)
  }
  assert.deepEqual(Object.fromEntries(Object.entries(reference).map(([k, v]) => [k, Array.from(v.dataSync())])), before, 'the reference must stay frozen')
  disposeParams(reference)
})
