// Stop always saves: a DI* job that is stopped while a step runs finishes that step and writes its
// checkpoint, however long the step takes. The job manager used to terminate any job's thread a few
// seconds after cancel (here: 1 ms, shorter than any step), which left status.json "running" and no
// checkpoint. Real worker thread, from source through tsx, on the tiny model.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import type { EventPayload, StudioEvent } from '../../src-main/contract/index.ts'
import { JobManager } from '../../src-main/core/jobs/job-manager.ts'
import { readStatus } from '../../src-main/core/runs/run-files.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { recordingLogger, tempDir } from '../helpers/studio-fixtures.ts'
import { saveTinyReference, tinyRunConfig } from './runs-fixtures.ts'

let dir: Awaited<ReturnType<typeof tempDir>>
let manager: JobManager
const events: StudioEvent[] = []

before(async () => {
  dir = await tempDir()
  await tf.setBackend('cpu') // to save the tiny model here; the job's thread picks its own backend
  await saveTinyReference(join(dir.path, 'models'), 'tiny')
  const workspace = await Workspace.open({ root: dir.path, source: 'flag' })
  manager = new JobManager({
    workspace: workspace.info, logger: recordingLogger().logger, cancelGraceMs: 1, jobSettings: () => ({ trainingThreads: 1 }),
  })
  manager.onEvent((e) => events.push(e))
})

after(async () => {
  await manager?.shutdown()
  await dir?.remove()
})

function next(channel: StudioEvent['channel'], jobId: string): Promise<StudioEvent> {
  return new Promise((resolve) => {
    const seen = events.find((e) => e.channel === channel && e.payload.jobId === jobId)
    if (seen) return resolve(seen)
    const off = manager.onEvent((e) => {
      if (e.channel === channel && e.payload.jobId === jobId) {
        off()
        resolve(e)
      }
    })
  })
}

it('a stopped DI* job finishes its step and saves, whatever the cancel grace; the job says where it saved', { timeout: 300_000 }, async () => {
  const config = tinyRunConfig('models/tiny', { steps: 1000, checkpoints: { every: 500, keep: 2 }, samples: { every: 0, prompts: ['red apple', 'black cat'], columns: 2 } })
  const { jobId } = manager.start({ kind: 'distar-train', params: { config: config as never, runId: 'stopped-mid-step' } })
  await next('job.metrics', jobId) // a step is done: the run is training
  manager.cancel(jobId)
  const done = (await next('job.done', jobId)).payload as EventPayload<'job.done'>
  assert.equal(done.status, 'cancelled')
  const result = done.result as { state: string; step: number; checkpointStep?: number }
  assert.equal(result.state, 'stopped')
  assert.equal(result.checkpointStep, result.step, 'the stop saved the last complete step')
  const runDir = join(dir.path, 'runs', 'stopped-mid-step')
  const status = await readStatus(runDir)
  assert.equal(status?.state, 'stopped')
  assert.equal(status?.checkpointStep, result.step)
  assert.ok(existsSync(join(runDir, 'checkpoints', `step-${result.step}`, 'model.safetensors')))
  const logs = events.filter((e) => e.channel === 'job.log' && e.payload.jobId === jobId).map((e) => (e.payload as EventPayload<'job.log'>).message)
  assert.ok(logs.some((m) => /^Stopping: the current step finishes/.test(m)), logs.join('\n'))
})
