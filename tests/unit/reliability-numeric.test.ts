// Numerical faults (issue 8): a NaN or Inf put into the generator (its output, or its weights), the
// reward, or the data batch (the generator's input noise) pauses the run with a message that names the
// non-finite values, and the last checkpoint written before the fault stays loadable with unchanged bytes.
// Injection uses the trainer's test-only hooks (faultInjectionForTests) or writes into the live weights.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { DiStarRun } from '../../src-main/core/runs/run-engine.ts'
import { checkpointPath, listCheckpointSteps, readStatus, type RunStatus } from '../../src-main/core/runs/run-files.ts'
import type { DiStarFaultInjection } from '../../src-main/ml/distar/trainer.ts'
import { saveTinyReference, tempWorkspace, tinyRunConfig } from './runs-fixtures.ts'

// Checkpoints at steps 4 and 8; the fault starts at step FAULT_STEP (right after the step-4 checkpoint)
// and stays, so PAUSE_AFTER skipped steps later the NaN guard pauses the run before step 8.
const FAULT_STEP = 4
const PAUSE_AFTER = 3
let reference = ''

before(async () => {
  await tf.setBackend('cpu')
  reference = await saveTinyReference()
})

function filesHash(dir: string): string {
  const hash = createHash('sha256')
  for (const name of readdirSync(dir).sort()) hash.update(name).update(readFileSync(join(dir, name)))
  return hash.digest('hex')
}

const poison = (value: number) => <T extends tf.Tensor>(t: T, step: number): T =>
  step >= FAULT_STEP ? (tf.add(t, tf.fill(t.shape, value)) as T) : t

interface FaultOutcome {
  paused: RunStatus
  final: RunStatus
  checkpointHashAtWrite: string
  checkpointHashAfter: string
  checkpointsAfter: number[]
  run: DiStarRun
}

/** Runs until the NaN guard pauses (or `afterCheckpoint` poisons the weights), then stops the run. */
async function runWithFault(faults: DiStarFaultInjection, afterCheckpoint?: (run: DiStarRun) => void, pauseAfter = PAUSE_AFTER): Promise<FaultOutcome> {
  const root = await tempWorkspace()
  const config = tinyRunConfig(reference, { steps: 12, samples: { every: 0, prompts: ['red apple'] }, checkpoints: { every: 4, keep: 3 }, pauseAfterNonFinite: pauseAfter })
  const run = await DiStarRun.start(root, config, { runId: 'faulty', faultInjectionForTests: faults })
  let checkpointHashAtWrite = ''
  let paused: RunStatus | undefined
  const finished = run.run({
    onCheckpoint: (e) => {
      if (e.step !== FAULT_STEP) return
      checkpointHashAtWrite = filesHash(e.path)
      afterCheckpoint?.(run)
    },
    onStatus: (s) => {
      if (s.state === 'paused' && !paused) {
        paused = s
        setImmediate(() => run.stop())
      }
    },
  })
  const final = await finished
  assert.ok(paused, `the run paused (it ended ${final.state} at step ${final.step})`)
  const onDisk = await readStatus(run.dir)
  assert.equal(onDisk?.state, 'stopped')
  const checkpointHashAfter = filesHash(checkpointPath(run.dir, FAULT_STEP))
  return { paused: paused!, final, checkpointHashAtWrite, checkpointHashAfter, checkpointsAfter: await listCheckpointSteps(run.dir), run }
}

async function assertLastCheckpointIntact(o: FaultOutcome): Promise<void> {
  assert.equal(o.checkpointHashAfter, o.checkpointHashAtWrite, 'the step-4 checkpoint bytes did not change')
  // loadable through the run's own loader (checksums, shapes, counters)
  const info = await o.run.session.loadCheckpoint(checkpointPath(o.run.dir, FAULT_STEP))
  assert.equal(info.step, FAULT_STEP)
  o.run.dispose()
}

describe('numerical faults pause the run and keep the last checkpoint', () => {
  it('NaN in the generator output', async () => {
    const o = await runWithFault({ generatorOutput: poison(NaN) })
    assert.equal(o.paused.step, FAULT_STEP + PAUSE_AFTER)
    assert.match(o.paused.message ?? '', /paused: 3 steps in a row were skipped .*generator loss is NaN/)
    await assertLastCheckpointIntact(o)
  })

  it('Inf in the reward', async () => {
    const o = await runWithFault({ rewardScores: (scores, _reward, step) => poison(Infinity)(scores, step) })
    assert.equal(o.paused.step, FAULT_STEP + PAUSE_AFTER)
    assert.match(o.paused.message ?? '', /generator loss is -Infinity/)
    await assertLastCheckpointIntact(o)
  })

  it('NaN in the data batch (the generator input noise)', async () => {
    const o = await runWithFault({ latents: poison(NaN) })
    assert.equal(o.paused.step, FAULT_STEP + PAUSE_AFTER)
    assert.match(o.paused.message ?? '', /fake-score update 1\/1: loss is NaN.*generator loss is NaN/)
    await assertLastCheckpointIntact(o)
  })

  const poisonWeights = (run: DiStarRun) => {
    const v = Object.values(run.session.generator)[0]!
    v.assign(tf.fill(v.shape, Infinity))
  }

  it('Inf written into the generator weights: the NaN guard pauses, the stop saves no checkpoint', async () => {
    const o = await runWithFault({}, poisonWeights)
    assert.match(o.paused.message ?? '', /generator loss is NaN/)
    assert.match(o.final.message ?? '', /not saving a checkpoint at step 7: \d+ tensor\(s\) hold NaN or Infinity \(generator\/.*the last good checkpoint \(step 4\) is kept/)
    await assertLastCheckpointIntact(o)
    // the stop after the pause must not have saved the poisoned weights as a newer checkpoint
    assert.deepEqual(o.checkpointsAfter, [FAULT_STEP])
  })

  it('Inf written into the generator weights: a checkpoint due before the guard pauses is refused and the run pauses', async () => {
    const o = await runWithFault({}, poisonWeights, 10)
    assert.equal(o.paused.step, 8)
    assert.match(o.paused.message ?? '', /not saving a checkpoint at step 8: .*hold NaN or Infinity.*the last good checkpoint \(step 4\) is kept/)
    await assertLastCheckpointIntact(o)
    assert.deepEqual(o.checkpointsAfter, [FAULT_STEP])
  })
})
