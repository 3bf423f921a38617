// The judge (emoji classifier): shapes, the class list, augmentation, learning coloured shapes the
// test draws itself well above chance, save/load round trip and clear errors for bad checkpoints.
// Tiny sizes (16x16 images, two narrow stages) so the file runs in well under a minute on one core.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { CheckpointError, saveCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { JudgeModel, judgeParamShapes, type JudgeArchitecture, type JudgeClass } from '../../src-main/ml/judge/classifier.ts'
import {
  augmentImage, DEFAULT_AUGMENT, EpochSampler, judgeClasses, JudgeTrainer, labelledImages, makeBatch, NO_AUGMENT, type JudgeData, type LabelledSplit,
} from '../../src-main/ml/judge/training.ts'
import { scoreImages, summarizeJudge } from '../../src-main/ml/judge/score.ts'

const S = 16
const TINY: Partial<JudgeArchitecture> = { imageSize: S, stemStride: 1, widths: [12, 24], blocksPerStage: 1 }

/** Six shape/colour classes: colour alone does not separate them (two red, two blue). */
const SHAPES = [
  { key: 'red-disc', colour: [1, -1, -1], shape: 'disc' },
  { key: 'red-square', colour: [1, -1, -1], shape: 'square' },
  { key: 'blue-disc', colour: [-1, -1, 1], shape: 'disc' },
  { key: 'blue-bar', colour: [-1, -1, 1], shape: 'bar' },
  { key: 'green-square', colour: [-1, 0.6, -1], shape: 'square' },
  { key: 'yellow-bar', colour: [1, 1, -1], shape: 'bar' },
] as const

const CLASSES: JudgeClass[] = SHAPES.map((s, i) => ({ key: s.key, name: s.key.replace('-', ' '), category: i < 2 ? 'Red' : 'Other', split: i === 5 ? 'validation' : 'train' }))

/** One shape on white at a random place and size, with a little colour noise. */
function drawShape(out: Float32Array, offset: number, k: number, rng: Rng): void {
  const { colour, shape } = SHAPES[k]!
  const r = 3 + rng.uniform() * 2.5
  const cx = S / 2 + (rng.uniform() * 2 - 1) * 2.5
  const cy = S / 2 + (rng.uniform() * 2 - 1) * 2.5
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const dx = x + 0.5 - cx
      const dy = y + 0.5 - cy
      const inside = shape === 'disc' ? dx * dx + dy * dy <= r * r : shape === 'square' ? Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85 : Math.abs(dx) <= r && Math.abs(dy) <= r * 0.35
      for (let c = 0; c < 3; c++) out[offset + (y * S + x) * 3 + c] = inside ? Math.max(-1, Math.min(1, colour[c]! + 0.15 * (rng.uniform() - 0.5))) : 1
    }
  }
}

function drawSet(perClass: number, seed: number): JudgeData & { keys: string[] } {
  const rng = new Rng(seed)
  const count = perClass * SHAPES.length
  const images = new Float32Array(count * S * S * 3)
  const labels = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    labels[i] = i % SHAPES.length
    drawShape(images, i * S * S * 3, labels[i]!, rng)
  }
  return { imageSize: S, images, labels, count, keys: Array.from(labels, (l) => SHAPES[l]!.key) }
}

let dir: string
before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'judge-classifier-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('judge classifier', () => {
  it('maps a batch of images to one logit per class and lists every parameter', () => {
    const judge = JudgeModel.create(CLASSES, 1, TINY)
    try {
      const x = tf.zeros([3, S, S, 3]) as tf.Tensor4D
      const logits = judge.logits(x)
      assert.deepEqual(logits.shape, [3, CLASSES.length])
      assert.ok([...logits.dataSync()].every(Number.isFinite))
      tf.dispose([x, logits])
      assert.deepEqual(Object.keys(judge.params).sort(), Object.keys(judgeParamShapes(judge.architecture)).sort())
      assert.equal(judge.classIndex.get('blue-bar'), 3)
      assert.throws(() => judge.logits(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D), /expected images \[B, 16, 16, 3\]/)
      assert.throws(() => JudgeModel.create([...CLASSES, CLASSES[0]!], 1, TINY), /listed twice/)
    } finally {
      judge.dispose()
    }
  })

  it('takes its classes from the training styles of both splits, and its images from those styles only', () => {
    const item = (key: string, style: string) => ({ key, name: key, style, category: 'C' }) as LabelledSplit['items'][number]
    const px = (n: number) => Float32Array.from({ length: n * 2 * 2 * 3 }, (_, i) => i)
    const train: LabelledSplit = { imageSize: 2, images: px(4), items: [item('a', 'twitter'), item('a', 'held'), item('b', 'google'), item('x', 'held')] }
    const validation: LabelledSplit = { imageSize: 2, images: px(2), items: [item('v', 'google'), item('w', 'held')] }
    const classes = judgeClasses({ train, validation }, ['twitter', 'google'])
    assert.deepEqual(classes.map((c) => [c.key, c.split]), [['a', 'train'], ['b', 'train'], ['v', 'validation']])
    const index = new Map(classes.map((c, i) => [c.key, i]))
    const trainData = labelledImages([train, validation], index, ['twitter', 'google'])
    assert.deepEqual([...trainData.labels], [0, 1, 2])
    assert.deepEqual(trainData.items.map((it) => it.style), ['twitter', 'google', 'google'])
    assert.deepEqual([...trainData.images.subarray(12, 24)], [...train.images.subarray(24, 36)], 'the pixels follow their item')
    const heldOut = labelledImages([train, validation], index, ['held'])
    assert.deepEqual([...heldOut.labels], [0])
    assert.equal(heldOut.skipped, 2, "emoji the judge has no class for ('x', 'w') are counted, not scored")
  })

  it('augments by shifting (white border), scaling and brightness/contrast, within [-1, 1], reproducibly', () => {
    const src = new Float32Array(S * S * 3).fill(1)
    drawShape(src, 0, 0, new Rng(3))
    const same = new Float32Array(src.length)
    augmentImage(src, 0, same, 0, S, new Rng(1), NO_AUGMENT)
    for (let i = 0; i < src.length; i++) assert.ok(Math.abs(same[i]! - src[i]!) < 1e-6, 'no augmentation is the identity')
    // a pure shift of whole pixels moves the picture and fills the border with white
    const shifted = new Float32Array(src.length)
    augmentImage(src, 0, shifted, 0, S, { uniform: () => 1 } as unknown as Rng, { maxShift: 2, scaleJitter: 0, brightness: 0, contrast: 0 })
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let c = 0; c < 3; c++) {
          const want = x < 2 || y < 2 ? 1 : src[((y - 2) * S + (x - 2)) * 3 + c]!
          assert.ok(Math.abs(shifted[(y * S + x) * 3 + c]! - want) < 1e-5, `shift by (2, 2) at ${x},${y}`)
        }
      }
    }
    const a = new Float32Array(src.length)
    const b = new Float32Array(src.length)
    augmentImage(src, 0, a, 0, S, new Rng(9), DEFAULT_AUGMENT)
    augmentImage(src, 0, b, 0, S, new Rng(9), DEFAULT_AUGMENT)
    assert.deepEqual(a, b)
    assert.ok(a.every((v) => v >= -1 && v <= 1))
    assert.ok(a.some((v, i) => Math.abs(v - src[i]!) > 0.05), 'the default augmentation changes the image')
    // no hue change: a red pixel stays red (its green and blue stay equal, below red)
    let reds = 0
    for (let p = 0; p < S * S; p++) if (a[p * 3]! > 0.3 && a[p * 3 + 1]! < -0.3) reds++
    assert.ok(reds > 10)
  })

  it('visits every image once per epoch', () => {
    const sampler = new EpochSampler(10, new Rng(4))
    const first = sampler.take(10)
    assert.deepEqual([...first].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.equal(sampler.epoch, 1)
    sampler.take(3)
    assert.equal(sampler.epoch, 2)
  })

  it('learns coloured shapes it has never seen exactly, well above chance', async () => {
    const train = drawSet(40, 11)
    const test = drawSet(10, 99)
    const judge = JudgeModel.create(CLASSES, 2, TINY)
    const steps = 120
    const trainer = new JudgeTrainer(judge, { learningRate: 3e-3, warmupSteps: 10, totalSteps: steps, labelSmoothing: 0.05 })
    const rng = new Rng(5)
    const sampler = new EpochSampler(train.count, rng)
    const losses: number[] = []
    for (let s = 0; s < steps; s++) losses.push(trainer.trainStep(makeBatch(train, sampler.take(24), rng, { ...DEFAULT_AUGMENT, maxShift: 1 })))
    trainer.dispose()
    const scores = await scoreImages(judge, { pixels: test.images, count: test.count, size: S }, test.keys)
    const summary = summarizeJudge(scores)
    judge.dispose()
    const head = losses.slice(0, 10).reduce((x, y) => x + y) / 10
    const tail = losses.slice(-10).reduce((x, y) => x + y) / 10
    assert.ok(tail < head * 0.5, `loss fell: ${head.toFixed(3)} -> ${tail.toFixed(3)}`)
    // chance is 1/6 = 17%
    assert.ok(summary.top1 >= 0.8, `top-1 on fresh drawings ${(summary.top1 * 100).toFixed(0)}% (chance 17%)`)
    assert.ok(tf.memory().numTensors < 200, `no tensor leak (${tf.memory().numTensors} live)`)
  })

  it('saves and loads the same judge: classes, architecture, training summary and logits', async () => {
    const judge = JudgeModel.create(CLASSES, 7, TINY)
    const ck = join(dir, 'judge')
    const training = { steps: 3, batchSize: 2, wallTimeSeconds: 1.5, finalLoss: 1.2, backend: 'wasm', seed: 7, trainingStyles: ['twitter'], heldOutStyle: 'google', metrics: { heldOutTop1: 0.5 } }
    await judge.save(ck, training)
    const loaded = await JudgeModel.load(ck)
    try {
      assert.deepEqual(loaded.architecture, judge.architecture)
      assert.deepEqual(loaded.classes, CLASSES)
      assert.deepEqual(loaded.training, training)
      assert.equal(loaded.fingerprint, judge.fingerprint)
      const set = drawSet(1, 3)
      const x = tf.tensor4d(set.images, [set.count, S, S, 3])
      assert.deepEqual(loaded.logits(x).dataSync(), judge.logits(x).dataSync())
      x.dispose()
      assert.ok(Object.values(loaded.params).every((v) => !v.trainable), 'loaded frozen by default')
    } finally {
      judge.dispose()
      loaded.dispose()
    }
  })

  it('refuses a corrupt, missing or foreign checkpoint with a clear error', async () => {
    const judge = JudgeModel.create(CLASSES, 7, TINY)
    const ck = join(dir, 'corrupt')
    await judge.save(ck)
    judge.dispose()
    const model = join(ck, 'model.safetensors')
    const bytes = await readFile(model)
    bytes[bytes.length - 10] ^= 0xff
    await writeFile(model, bytes)
    await assert.rejects(JudgeModel.load(ck), (err: Error) => err instanceof CheckpointError && /corrupt/.test(err.message))

    await assert.rejects(JudgeModel.load(join(dir, 'nothing-here')), (err: Error) => err instanceof CheckpointError && /No checkpoint/.test(err.message))

    const foreign = join(dir, 'foreign')
    await saveCheckpoint(foreign, { config: { kind: 'di-studio-alignment', version: 2 }, tensors: { w: { dtype: 'float32', shape: [1], data: Float32Array.of(1) } } })
    await assert.rejects(JudgeModel.load(foreign), /not a judge checkpoint/)

    // a config that promises another architecture than the tensors hold
    const other = JudgeModel.create(CLASSES, 7, TINY)
    const tensors = Object.fromEntries(Object.entries(other.params).map(([n, v]) => [n, { dtype: 'float32' as const, shape: [...v.shape], data: v.dataSync() as Float32Array }]))
    other.dispose()
    const mismatched = join(dir, 'mismatched')
    await saveCheckpoint(mismatched, { config: { kind: 'di-studio-judge', version: 1, architecture: { ...other.architecture, widths: [12, 32] }, classes: CLASSES }, tensors })
    await assert.rejects(JudgeModel.load(mismatched), (err: Error) => err instanceof CheckpointError && /does not match the model/.test(err.message))
  })
})
