// DiffusionModel: save/load round trip is bit-exact (weights, config, tokenizer, samples), and
// corrupt or mismatched files are refused with a clear CheckpointError.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { CheckpointError, saveCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { DiffusionModel, paramsToNamedTensors } from '../../src-main/ml/diffusion/model.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'

const arch = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8 }
const tokenizer = Tokenizer.build(['red apple, twitter style', 'dog face, google style', 'rocket'], { maxLength: 6 })

function trainedLooking(seed: number): DiffusionModel {
  const model = DiffusionModel.create(arch, { kind: 'cosine', T: 1000 }, tokenizer, seed)
  // move the zero-initialised adaLN weights so samples depend on every tensor
  let k = 0
  for (const v of Object.values(model.params)) {
    const start = k
    tf.tidy(() => v.assign(tf.add(v, tf.mul(tf.sin(tf.reshape(tf.range(start, start + v.size), v.shape)), 0.05))))
    k += v.size
  }
  return model
}

describe('DiffusionModel save/load', () => {
  let dir = ''
  before(async () => {
    await initTf()
    dir = await mkdtemp(join(tmpdir(), 'diffusion-model-'))
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('round-trips bit-exactly: weights, config, tokenizer and generated samples', async () => {
    const model = trainedLooking(1)
    await model.save(join(dir, 'm'))
    const loaded = await DiffusionModel.load(join(dir, 'm'))
    assert.deepEqual(loaded.config, model.config)
    for (const [name, v] of Object.entries(model.params)) assert.deepEqual(loaded.params[name]!.dataSync(), v.dataSync(), name)
    assert.deepEqual(loaded.tokenizer.encode('red rocket').ids, tokenizer.encode('red rocket').ids)
    const opts = { steps: 3, sampler: 'dpmpp-2m' as const, guidance: 2.5, seeds: [4, 5] }
    const a = model.generate(['red apple', ''], opts)
    const b = loaded.generate(['red apple', ''], opts)
    assert.deepEqual(a.dataSync(), b.dataSync())
    const again = model.generate(['red apple', ''], opts)
    assert.deepEqual(again.dataSync(), a.dataSync()) // seeded: same seeds, same samples
    tf.dispose([a, b, again])
    model.dispose()
    loaded.dispose()
  })

  it('cloneParams gives independent variables with the same values', () => {
    const model = trainedLooking(2)
    const clone = model.cloneParams(true)
    assert.deepEqual(clone['final.w']!.dataSync(), model.params['final.w']!.dataSync())
    assert.equal(clone['final.w']!.trainable, true)
    tf.tidy(() => clone['final.w']!.assign(tf.zerosLike(clone['final.w']!)))
    assert.notDeepEqual(clone['final.w']!.dataSync(), model.params['final.w']!.dataSync())
    for (const v of Object.values(clone)) v.dispose()
    model.dispose()
  })

  it('refuses weights whose shapes do not match the architecture in config.json, and edited configs', async () => {
    const model = trainedLooking(3)
    // a self-consistent pair (checksums fine) whose config claims a wider network than the weights
    const wrong = join(dir, 'wrong-shapes')
    await saveCheckpoint(wrong, { config: { ...model.config, dit: { ...model.dit, width: 32 } }, tensors: await paramsToNamedTensors(model.params) })
    await assert.rejects(DiffusionModel.load(wrong), (err: unknown) => err instanceof CheckpointError && /shape/i.test(err.message))
    // a config edited after saving no longer belongs to its weights
    const edited = join(dir, 'edited')
    await model.save(edited)
    model.dispose()
    const config = JSON.parse(await readFile(join(edited, 'config.json'), 'utf8'))
    config.dit.depth = 2
    await writeFile(join(edited, 'config.json'), JSON.stringify(config))
    await assert.rejects(DiffusionModel.load(edited), (err: unknown) => err instanceof CheckpointError && /does not belong/.test(err.message))
  })

  it('refuses corrupt weights and a missing directory with CheckpointError', async () => {
    const model = trainedLooking(4)
    const path = join(dir, 'corrupt')
    await model.save(path)
    model.dispose()
    const bytes = await readFile(join(path, 'model.safetensors'))
    bytes[bytes.length - 10] ^= 0x40
    await writeFile(join(path, 'model.safetensors'), bytes)
    await assert.rejects(DiffusionModel.load(path), (err: unknown) => err instanceof CheckpointError && /corrupt/.test(err.message))
    await assert.rejects(DiffusionModel.load(join(dir, 'nowhere')), CheckpointError)
  })

  it('refuses a model whose DiT and tokenizer sizes disagree', () => {
    const model = trainedLooking(5)
    const other = Tokenizer.build(['just two'], { maxLength: 6 })
    assert.throws(() => new DiffusionModel(model.dit, model.schedule.config, other, model.params), /tokenizer has/)
    model.dispose()
  })
})
