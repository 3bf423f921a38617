// The DI* job runner against a fake JobContext: step metrics, progress, samples and status become the
// context's metrics, progress and logs; `set` controls reach the run from the next step (bad ones are
// logged, not fatal); cancel stops with a checkpoint and ends as JobCancelledError; params are validated.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { createDistarTrainJob, DistarTrainJobParams, stepMetrics } from '../../src-main/core/jobs/kinds/distar-train.ts'
import { JobCancelledError, type JobContext, type SetControl } from '../../src-main/core/jobs/job-context.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { readMetrics } from '../../src-main/core/runs/run-files.ts'
import { controlsFromSetValues } from '../../src-main/core/runs/live-controls.ts'
import { DEFAULT_CONTROLS } from '../../src-main/ml/distar/controls.ts'
import { saveTinyReference, tempWorkspace, tinyRunConfig } from './runs-fixtures.ts'

// the reference lives inside each test's workspace: job configs arrive over IPC, so paths are workspace paths
const REFERENCE = 'models/tiny'
const job = createDistarTrainJob({ initBackend: async () => ({ name: 'cpu', package: '@tensorflow/tfjs-backend-cpu' }) })

before(async () => {
  await tf.setBackend('cpu')
})

interface FakeContext extends JobContext {
  metricsSeen: { step: number; values: Record<string, number> }[]
  progressSeen: { done: number; total: number; message?: string }[]
  logs: { message: string; level: string }[]
  artifacts: { kind: string; path: string; details?: { step?: number; caption?: string } }[]
  sendControl(values: SetControl['values']): void
  abort(): void
  gateCalls: number
}

async function fakeContext(root: string, opts: { cancelAtGate?: number } = {}): Promise<FakeContext> {
  if (!existsSync(join(root, REFERENCE))) await saveTinyReference(join(root, 'models'), 'tiny')
  const workspace = await Workspace.open({ root, source: 'flag' })
  const controller = new AbortController()
  const handlers: ((c: SetControl) => void)[] = []
  const ctx: FakeContext = {
    jobId: 'job-1', signal: controller.signal, workspace,
    metricsSeen: [], progressSeen: [], logs: [], artifacts: [], gateCalls: 0,
    progress(done, total, message) { ctx.progressSeen.push({ done, total, message }) },
    metrics(step, values) { ctx.metricsSeen.push({ step, values }) },
    log(message, level = 'info') { ctx.logs.push({ message, level }) },
    artifact(kind, path, details) { workspace.resolve(path); ctx.artifacts.push({ kind, path, details }) },
    onControl(h) { handlers.push(h); return () => handlers.splice(handlers.indexOf(h), 1) },
    async checkpoint() {
      ctx.gateCalls++
      if (opts.cancelAtGate !== undefined && ctx.gateCalls >= opts.cancelAtGate) throw new JobCancelledError()
    },
    sendControl(values) { for (const h of handlers) h({ type: 'set', values }) },
    abort() { controller.abort() },
  }
  return ctx
}

test('events map onto the JobContext and set controls apply from the next step', async () => {
  const root = await tempWorkspace()
  const ctx = await fakeContext(root)
  const original = ctx.metrics.bind(ctx)
  ctx.metrics = (step, values) => {
    original(step, values)
    if (step === 1) {
      ctx.sendControl({ rewardWeight: 7, tMax: 900, 'rewardMix.brightness': 0.5 })
      ctx.sendControl({ cfgScale: 'lots' }) // refused, logged
      ctx.sendControl({ warpDrive: 1 }) // unknown, logged
    }
  }
  const result = await job.run(ctx, { config: tinyRunConfig(REFERENCE), runId: 'job-run' })
  assert.deepEqual(result, { runId: 'job-run', dir: join('runs', 'job-run'), state: 'completed', step: 6, totalSteps: 6, checkpointStep: 6 })
  assert.deepEqual(ctx.metricsSeen.map((m) => m.step), [0, 1, 2, 3, 4, 5])
  const m0 = ctx.metricsSeen[0]!.values
  for (const key of ['loss/generatorTotal', 'loss/regulariser', 'loss/fakeScore', 'reward/brightness', 'grad/reward', 'grad/regulariser', 'grad/ratio', 'time/totalMs', 'time/etaMs', 'control/rewardWeight', 'control/tMax']) {
    assert.equal(typeof m0[key], 'number', key)
  }
  assert.equal(ctx.metricsSeen[1]!.values['control/rewardWeight'], 1)
  assert.equal(ctx.metricsSeen[2]!.values['control/rewardWeight'], 7)
  assert.equal(ctx.metricsSeen[2]!.values['control/tMax'], 900)
  assert.equal(ctx.metricsSeen[2]!.values['control/rewardMix.brightness'], 0.5)
  assert.deepEqual(ctx.progressSeen.at(-1)?.done, 6)
  assert.deepEqual(ctx.artifacts.map((a) => [a.kind, a.path, a.details?.step]), [0, 2, 4, 6].map((s) => ['sample-grid', `runs/job-run/samples/step-${s}.png`, s]))
  assert.match(ctx.progressSeen[0]!.message ?? '', /step 1\/6, ETA/)
  const logs = ctx.logs.map((l) => `${l.level}: ${l.message}`)
  assert.ok(logs.some((l) => /^info: samples at step 0: runs\/job-run\/samples\/step-0.png$/.test(l)), logs.join('\n'))
  assert.ok(logs.some((l) => /^info: controls from step 2: .*"rewardWeight":7/.test(l)))
  assert.ok(logs.some((l) => /^warn: control refused: .*cfgScale/.test(l)))
  assert.ok(logs.some((l) => /^warn: control refused: unknown DI\* control 'warpDrive'/.test(l)))
  assert.ok(logs.some((l) => /^info: run completed at step 6\/6$/.test(l)))
  const controlLines = (await readMetrics(join(root, 'runs', 'job-run'))).filter((l) => l.type === 'controls')
  assert.equal(controlLines.length, 1)
  assert.equal(controlLines[0]!.step, 2)
})

test('cancel stops the run with a checkpoint and ends as a cancelled job; resume picks it up', async () => {
  const root = await tempWorkspace()
  const ctx = await fakeContext(root, { cancelAtGate: 4 })
  await assert.rejects(job.run(ctx, { config: tinyRunConfig(REFERENCE), runId: 'cancelled' }), JobCancelledError)
  assert.ok(existsSync(join(root, 'runs', 'cancelled', 'checkpoints', 'step-3', 'model.safetensors')))
  const again = await fakeContext(root)
  const result = await job.run(again, { resume: 'cancelled' })
  assert.equal(result.state, 'completed')
  assert.deepEqual(again.metricsSeen.map((m) => m.step), [3, 4, 5])
})

test('params are validated and workspace paths cannot escape', async () => {
  const root = await tempWorkspace()
  const ctx = await fakeContext(root)
  assert.throws(() => DistarTrainJobParams.parse({ config: {}, resume: 'x' }))
  assert.throws(() => DistarTrainJobParams.parse({ resume: '../x' }))
  await assert.rejects(job.run(ctx, { config: { baseModelDir: '../../etc' } }), /outside the workspace/)
  await assert.rejects(job.run(ctx, { config: { batchSize: -1 } }))
})

test('a job starts the embedded default run from the shipped distilled generator (generatorInit \'embedded\')', { timeout: 300_000 }, async () => {
  // 'embedded' is a keyword, not a workspace path: the job must not resolve it inside the workspace
  const root = await tempWorkspace()
  const ctx = await fakeContext(root)
  const result = await job.run(ctx, {
    config: { generatorInit: 'embedded', reward: { kind: 'brightness' }, batchSize: 1, steps: 1, prompts: ['red apple'], samples: { every: 0, prompts: ['red apple'] } },
    runId: 'embedded-init',
  })
  assert.equal(result.state, 'completed')
  const saved = JSON.parse(readFileSync(join(root, 'runs', 'embedded-init', 'config.json'), 'utf8')) as { generatorInit?: string }
  assert.equal(saved.generatorInit, 'embedded')
})

test('flat set values map onto DI* controls', () => {
  assert.deepEqual(controlsFromSetValues({ tMin: 50, generatorLr: 1e-4 }, DEFAULT_CONTROLS), { tRange: [50, 980], generatorLr: 1e-4 })
  assert.deepEqual(controlsFromSetValues({ 'rewardMix.alignment': 2 }, DEFAULT_CONTROLS), { rewardMix: { alignment: 2 } })
  assert.throws(() => controlsFromSetValues({ nope: 1 }, DEFAULT_CONTROLS), /unknown DI\* control 'nope'/)
})

test('a metrics.jsonl line of a skipped step flattens without its non-finite values', () => {
  const line = JSON.parse(JSON.stringify({
    type: 'step', step: 4, status: 'skipped', losses: { generatorTotal: 'NaN', fakeScore: 0.2, rewards: { alignment: 'NaN' } },
    gradNorms: { reward: 1, ratio: 'Infinity' }, timings: { totalMs: 12 }, controls: { ...DEFAULT_CONTROLS, rewardMix: { alignment: 2 } }, wallMs: 13, etaMs: 100,
  }))
  assert.deepEqual(stepMetrics(line), {
    'loss/fakeScore': 0.2, 'grad/reward': 1, 'time/totalMs': 12, 'time/wallMs': 13, 'time/etaMs': 100, skipped: 1,
    ...Object.fromEntries(Object.entries(DEFAULT_CONTROLS).filter(([, v]) => typeof v === 'number').map(([k, v]) => [`control/${k}`, v])),
    'control/tMin': 20, 'control/tMax': 980, 'control/rewardMix.alignment': 2,
  })
})
