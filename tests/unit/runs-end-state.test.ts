// Runs end in the state they are in (issue 23): a run whose last steps the NaN guard skipped diverged and
// fails, rather than "completing"; one that completes with skipped steps says so; the NaN guard's pause
// shows as a paused job until the user resumes; a stop keeps where it saved as the job's result; a run
// whose status.json says "running" while nothing trains it shows as interrupted. The DI* job runner on a
// fake JobContext and the tiny model (cpu backend), with the test-only fault hooks poisoning chosen steps.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { createDistarTrainJob, type DistarTrainJobDeps } from '../../src-main/core/jobs/kinds/distar-train.ts'
import { JobCancelledError, type JobContext } from '../../src-main/core/jobs/job-context.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { readStatus } from '../../src-main/core/runs/run-files.ts'
import { StudioData } from '../../src-main/core/studio-data.ts'
import { runStateText } from '../../src-main/contract/index.ts'
import { saveTinyReference, tempWorkspace, tinyRunConfig } from './runs-fixtures.ts'

const REFERENCE = 'models/tiny'

before(async () => {
  await tf.setBackend('cpu')
})

/** NaN in the generator's output from the steps listed: every update of those steps is skipped. */
function poisonSteps(steps: (step: number) => boolean): DistarTrainJobDeps {
  return {
    initBackend: async () => ({ name: 'cpu', package: '@tensorflow/tfjs-backend-cpu' }),
    faultInjectionForTests: { generatorOutput: (x0, step) => (steps(step) ? (tf.mul(x0, NaN) as tf.Tensor4D) : x0) },
  }
}

interface FakeContext extends JobContext {
  logs: string[]
  selfPauses: number
  abort(): void
}

async function fakeContext(root: string, opts: { onSelfPause?: (resume: () => void, ctx: FakeContext) => void; cancelAtGate?: number } = {}): Promise<FakeContext> {
  if (!existsSync(join(root, REFERENCE))) await saveTinyReference(join(root, 'models'), 'tiny')
  const workspace = await Workspace.open({ root, source: 'flag' })
  const controller = new AbortController()
  let gates = 0
  const ctx: FakeContext = {
    jobId: 'job-1', signal: controller.signal, workspace, logs: [], selfPauses: 0, settings: { trainingThreads: 1 },
    progress() {},
    metrics() {},
    log(message, level = 'info') { ctx.logs.push(`${level}: ${message}`) },
    artifact() {},
    onControl() { return () => {} },
    async checkpoint() {
      if (opts.cancelAtGate !== undefined && ++gates >= opts.cancelAtGate) throw new JobCancelledError()
    },
    pausedByJob(onResume) {
      ctx.selfPauses++
      opts.onSelfPause?.(onResume, ctx)
    },
    abort() { controller.abort() },
  }
  return ctx
}

test('a run whose last steps were skipped diverged: it fails with the reason, it does not complete', async () => {
  const root = await tempWorkspace()
  const ctx = await fakeContext(root)
  const job = createDistarTrainJob(poisonSteps((step) => step >= 4))
  await assert.rejects(job.run(ctx, { config: tinyRunConfig(REFERENCE), runId: 'diverged' }), (e: Error) => /^Run failed at step 6\/6: diverged: the last 2 of 6 steps were skipped \(non-finite values: .*NaN/.test(e.message))
  const status = await readStatus(join(root, 'runs', 'diverged'))
  assert.equal(status?.state, 'failed')
  assert.equal(status?.skippedSteps, 2)
  assert.ok(ctx.logs.some((l) => /^warn: step 4 skipped: /.test(l)), ctx.logs.join('\n'))
})

test('a run that completes with skipped steps says how many', async () => {
  const root = await tempWorkspace()
  const ctx = await fakeContext(root)
  const job = createDistarTrainJob(poisonSteps((step) => step === 2))
  const result = await job.run(ctx, { config: tinyRunConfig(REFERENCE), runId: 'one-skip' })
  assert.equal(result.state, 'completed')
  assert.equal(result.skippedSteps, 1)
  assert.equal(result.message, '1 of 6 steps were skipped (non-finite values); the others trained')
  assert.equal((await readStatus(join(root, 'runs', 'one-skip')))?.message, result.message)
})

test('the NaN guard\'s pause pauses the job until the user resumes it', async () => {
  const root = await tempWorkspace()
  // steps 1 and 2 poisoned, pause after 2 in a row: the run pauses after step 2 and waits
  let resumed = false
  const ctx = await fakeContext(root, {
    onSelfPause: (resume) => setImmediate(() => {
      resumed = true
      resume()
    }),
  })
  const job = createDistarTrainJob(poisonSteps((step) => step === 1 || step === 2))
  // without a self-pause nothing would resume the run: stop it then, so the test ends and fails below
  const logged = ctx.log.bind(ctx)
  ctx.log = (message, level) => {
    logged(message, level)
    if (/^run paused at step/.test(message)) setImmediate(() => { if (ctx.selfPauses === 0) ctx.abort() })
  }
  const result = await job.run(ctx, { config: tinyRunConfig(REFERENCE, { pauseAfterNonFinite: 2 }), runId: 'nan-pause' })
  assert.equal(ctx.selfPauses, 1)
  assert.ok(resumed)
  assert.equal(result.state, 'completed')
  assert.match(result.message ?? '', /^2 of 6 steps were skipped/)
  assert.ok(ctx.logs.some((l) => /^warn: run paused at step 3\/6: paused: 2 steps in a row were skipped/.test(l)), ctx.logs.join('\n'))
})

test('a stopped job keeps where its run saved, shown as "stopped, saved at step N"', async () => {
  const root = await tempWorkspace()
  const ctx = await fakeContext(root, { cancelAtGate: 4 })
  const job = createDistarTrainJob({ initBackend: async () => ({ name: 'cpu', package: '@tensorflow/tfjs-backend-cpu' }) })
  const error = await job.run(ctx, { config: tinyRunConfig(REFERENCE), runId: 'stopped' }).then(() => null, (e: unknown) => e)
  assert.ok(error instanceof JobCancelledError)
  assert.deepEqual(error.result, { runId: 'stopped', dir: join('runs', 'stopped'), state: 'stopped', step: 3, totalSteps: 6, checkpointStep: 3 })
  const status = await readStatus(join(root, 'runs', 'stopped'))
  assert.equal(status?.pid, process.pid)
  assert.equal(runStateText({ state: 'stopped', step: 3, checkpointStep: 3 }), 'stopped, saved at step 3')
  assert.equal(runStateText({ state: 'stopped', step: 4, checkpointStep: 3 }), 'stopped', 'a stop that could not save says no step')
})

test('a run that says "running" while nothing trains it is listed as interrupted', async () => {
  const root = await tempWorkspace()
  const workspace = await Workspace.open({ root, source: 'flag' })
  const gone = spawnSync(process.execPath, ['-e', '']).pid // a process that has exited
  const write = async (runId: string, status: Record<string, unknown>) => {
    await mkdir(join(root, 'runs', runId), { recursive: true })
    await writeFile(join(root, 'runs', runId, 'status.json'), JSON.stringify({ runId, step: 7, totalSteps: 300, checkpointStep: 5, updatedAt: new Date().toISOString(), ...status }))
  }
  await write('killed', { state: 'running', pid: gone })
  await write('ours-terminated', { state: 'paused', pid: process.pid })
  await write('before-pids', { state: 'running' })
  await write('cli-elsewhere', { state: 'running', pid: process.ppid })
  await write('training-here', { state: 'running', pid: process.pid })
  await write('done', { state: 'completed', step: 300, pid: gone })
  const data = new StudioData(workspace, () => {})
  const runs = await data.listRuns(new Map([['training-here', 'job-7']]))
  const state = Object.fromEntries(runs.map((r) => [r.runId, r.state]))
  assert.deepEqual(state, {
    killed: 'interrupted', 'ours-terminated': 'interrupted', 'before-pids': 'interrupted', 'cli-elsewhere': 'running', 'training-here': 'running', done: 'completed',
  })
  assert.match(runs.find((r) => r.runId === 'killed')!.message ?? '', /Resume continues from the checkpoint at step 5/)
})
