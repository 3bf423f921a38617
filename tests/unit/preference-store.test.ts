// Stored choices and retraining in a workspace: choices append to preferences/choices.jsonl, malformed
// lines are reported and skipped, bad choices are refused; retraining on the shipped alignment model's
// image features learns a 'user' who prefers brighter images (held-out accuracy well above chance), and
// the saved model works as the reward kind 'preference' from the registry.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { appendFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { encodeImageGrid } from '../../src-main/ml/diffusion/image-grid.ts'
import { addChoice, ChoiceError, readChoices, CHOICES_FILE } from '../../src-main/core/preferences/choice-store.ts'
import { readPreferenceStatus, trainPreferenceModel } from '../../src-main/core/preferences/preference-training.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { createReward } from '../../src-main/ml/rewards/registry.ts'
import { hasShippedAlignmentModel } from '../../src-main/ml/rewards/alignment-reward.ts'
import { atomicWriteFile } from '../../src-main/util/atomic-write.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { tempWorkspace } from './runs-fixtures.ts'

before(async () => {
  await tf.setBackend('cpu')
})

test('choices are appended, malformed lines reported and skipped, bad choices refused', async () => {
  const root = await tempWorkspace()
  const a = await addChoice(root, { prompt: 'red apple', imageA: 'gallery/a.png', imageB: 'gallery/b.png', winner: 'A' })
  await appendFile(join(root, CHOICES_FILE), '{"torn": tr') // a crash mid-line
  const b = await addChoice(root, { prompt: 'cat', imageA: 'gallery/c.png', imageB: 'gallery/d.png', winner: 'B' })
  await appendFile(join(root, CHOICES_FILE), JSON.stringify({ id: 'x', time: 't', prompt: 'p', imageA: 'a', imageB: 'b', winner: 'C' }) + '\n')
  const { choices, problems } = await readChoices(root)
  assert.deepEqual(choices.map((c) => c.id), [a.id, b.id])
  assert.equal(problems.length, 2)
  assert.match(problems[0]!, /^line 2: not JSON/)
  assert.match(problems[1]!, /^line 4: not a choice \(winner/)
  await assert.rejects(addChoice(root, { prompt: 'p', imageA: 'x.png', imageB: 'x.png', winner: 'A' }), (e: Error) => e instanceof ChoiceError && /different images/.test(e.message))
  await assert.rejects(addChoice(root, { prompt: 'p', imageA: 'x.png', imageB: 'y.png', winner: 'left' }), /winner/)
  assert.deepEqual(await readChoices(await tempWorkspace()), { choices: [], problems: [] })
  assert.deepEqual(await readPreferenceStatus(await Workspace.open({ root: await tempWorkspace(), source: 'flag' })), { choices: 0, problems: [], model: null })
  assert.equal((await readFile(join(root, CHOICES_FILE), 'utf8')).split('\n').filter(Boolean).length, 4)
})

test('retraining on the alignment features learns a brightness preference; the result is a registry reward', { skip: !hasShippedAlignmentModel() && 'no shipped alignment model' }, async (t) => {
  const root = await tempWorkspace()
  const workspace = await Workspace.open({ root, source: 'flag' })
  const rng = new Rng(11)
  const brightness: number[] = []
  const N = 90
  for (let i = 0; i < 2 * N; i++) {
    // a flat colour field with a random tint and brightness, plus a blob, as a 32x32 PNG
    const b = rng.uniform() * 1.6 - 0.8
    const tint = [0, 1, 2].map(() => (rng.uniform() - 0.5) * 0.5)
    const px = new Float32Array(32 * 32 * 3)
    for (let p = 0; p < 32 * 32; p++) {
      const inBlob = Math.hypot((p % 32) - 16, Math.floor(p / 32) - 16) < 8
      for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.max(-1, Math.min(1, b + tint[c]! + (inBlob ? 0.2 : 0)))
    }
    brightness.push(px.reduce((s, v) => s + v, 0) / px.length)
    await atomicWriteFile(join(root, 'gallery', `img-${i}.png`), encodeImageGrid(px, 1, 32, { columns: 1, scale: 1, gap: 0 }))
  }
  for (let i = 0; i < N; i++) {
    const [x, y] = [2 * i, 2 * i + 1]
    await addChoice(root, { prompt: 'anything', imageA: `gallery/img-${x}.png`, imageB: `gallery/img-${y}.png`, winner: brightness[x]! > brightness[y]! ? 'A' : 'B' })
  }
  await addChoice(root, { prompt: 'gone', imageA: 'gallery/missing-1.png', imageB: 'gallery/missing-2.png', winner: 'A' })
  await addChoice(root, { prompt: 'escape', imageA: '../../etc/passwd', imageB: 'gallery/img-0.png', winner: 'A' })

  const report = await trainPreferenceModel(workspace, { seed: 3 })
  t.diagnostic(`held-out accuracy ${report.heldOutAccuracy} on ${report.heldOutPairs} pairs (train ${report.trainAccuracy} on ${report.trainPairs})`)
  assert.equal(report.choices, N)
  assert.equal(report.problems.length, 2, report.problems.join('\n'))
  assert.ok(report.problems.some((p) => /outside the workspace/.test(p)))
  assert.ok(report.heldOutAccuracy! >= 0.75, `held-out accuracy ${report.heldOutAccuracy} on ${report.heldOutPairs} pairs`)
  assert.equal(report.modelDir, 'preferences/model')
  const status = await readPreferenceStatus(workspace)
  assert.equal(status.choices, N + 2)
  assert.equal(status.model?.heldOutAccuracy, report.heldOutAccuracy)

  const reward = await createReward({ kind: 'preference', modelDir: workspace.resolve(report.modelDir) })
  assert.equal(reward.name, 'preference')
  const scores = tf.tidy(() => reward.score(tf.concat([tf.fill([1, 32, 32, 3], -0.6), tf.fill([1, 32, 32, 3], 0.6)]) as tf.Tensor4D, ['a', 'a']).arraySync() as number[])
  assert.ok(scores[1]! > scores[0]!, `brighter ${scores[1]} should score above darker ${scores[0]}`)
  const gradNorm = tf.tidy(() => tf.norm(tf.grad((x: tf.Tensor) => tf.sum(reward.score(x as tf.Tensor4D, ['a'])))(tf.zeros([1, 32, 32, 3]))).arraySync() as number)
  assert.ok(gradNorm > 0, 'differentiable w.r.t. the images')
  await assert.rejects(createReward({ kind: 'preference', modelDir: join(root, 'nowhere') }), /Could not build reward/)
})
