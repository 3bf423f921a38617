// The soak of `npm run reliability -- soak` (src-main/reliability/soak.ts), short: 50 DI* steps through the
// real run engine (with checkpoints and sample grids inside the judged window). After the warm-up the
// TensorFlow.js tensor count and tensor bytes must be exactly constant: any leak of even one tensor per
// step, or per checkpoint or grid, fails. (Heap and RSS are judged by the 1,000-step command, not here.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatSoak, runSoak } from '../../src-main/reliability/soak.ts'

test('50 DI* steps: tensor count and bytes exactly flat after warm-up', async (t) => {
  await tf.setBackend('cpu')
  const workDir = await mkdtemp(join(tmpdir(), 'reliability-soak-'))
  t.after(() => rm(workDir, { recursive: true, force: true }))
  const r = await runSoak({ steps: 50, every: 5, warmupSteps: 10, workDir })
  for (const line of formatSoak(r).split('\n')) t.diagnostic(line)
  const judged = r.samples.filter((s) => s.step >= 10)
  assert.equal(judged.length, 9)
  assert.deepEqual(new Set(judged.map((s) => s.numTensors)).size, 1, `tensor counts after warm-up: ${judged.map((s) => s.numTensors).join(', ')}`)
  assert.equal(new Set(judged.map((s) => s.numBytes)).size, 1)
  assert.ok(r.verdict.numTensors.flat && r.verdict.numTensors.slopePerStep === 0)
  assert.ok(r.verdict.numBytes.flat)
})
