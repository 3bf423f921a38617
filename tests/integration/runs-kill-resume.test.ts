// The headless CLI as a child process (cpu backend, tiny model): SIGKILL in the middle of a run, then
// --resume, reaches bit-identical generator, fake-score and optimiser tensors to an uninterrupted run with
// the same seed; SIGTERM stops cleanly with a checkpoint at the current step.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { loadCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { listCheckpointSteps } from '../../src-main/core/runs/run-files.ts'
import { saveTinyReference, tempWorkspace, tinyRunConfig } from '../unit/runs-fixtures.ts'

const STEPS = 30
let configPath = ''

before(async () => {
  await tf.setBackend('cpu')
  const root = await tempWorkspace()
  const reference = await saveTinyReference(root)
  configPath = join(root, 'run.json')
  writeFileSync(configPath, JSON.stringify(tinyRunConfig(reference, { steps: STEPS, samples: { every: 0, prompts: ['red apple'] }, checkpoints: { every: 3, keep: 2 } })))
})

function train(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src-main/cli/train.ts', '--backend', 'cpu', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => { stderr += String(d) })
  child.stdout!.resume()
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })))
  return { child, done }
}

async function waitFor(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const start = Date.now()
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function finalTensors(ws: string, runId: string) {
  const ck = await loadCheckpoint(join(ws, 'runs', runId, 'checkpoints', `step-${STEPS}`))
  return ck.tensors
}

test('SIGKILL mid-run, then --resume, reaches the uninterrupted weights bit for bit', async () => {
  const wsFull = await tempWorkspace()
  const full = await train(['--config', configPath, '--workspace', wsFull, '--run-id', 'full']).done
  assert.equal(full.code, 0, full.stderr)

  const ws = await tempWorkspace()
  const runDir = join(ws, 'runs', 'killed')
  const first = train(['--config', configPath, '--workspace', ws, '--run-id', 'killed'])
  await waitFor(async () => (await listCheckpointSteps(runDir)).some((s) => s >= 6), 'a checkpoint at step 6')
  first.child.kill('SIGKILL')
  const killed = await first.done
  assert.equal(killed.signal, 'SIGKILL')
  const left = await listCheckpointSteps(runDir)
  assert.ok(Math.max(...left) < STEPS, `the kill came before the end (checkpoints ${left.join(', ')})`)

  const resumed = await train(['--resume', 'killed', '--workspace', ws]).done
  assert.equal(resumed.code, 0, resumed.stderr)
  assert.match(resumed.stderr, /Resumed from the checkpoint at step \d+/)

  const [a, b] = await Promise.all([finalTensors(wsFull, 'full'), finalTensors(ws, 'killed')])
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort())
  for (const name of Object.keys(a)) {
    assert.ok(Buffer.from(a[name]!.data.buffer).equals(Buffer.from(b[name]!.data.buffer)), `tensor ${name} differs after kill + resume`)
  }
  const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number })
  assert.deepEqual(lines.filter((l) => l.type === 'step').map((l) => l.step), Array.from({ length: STEPS }, (_, i) => i), 'one metrics line per step, no duplicates')
})

test('SIGTERM stops cleanly with a checkpoint at the current step', async () => {
  const ws = await tempWorkspace()
  const runDir = join(ws, 'runs', 'term')
  const t = train(['--config', configPath, '--workspace', ws, '--run-id', 'term'])
  await waitFor(() => existsSync(join(runDir, 'checkpoints', 'step-3')), 'the first checkpoint')
  t.child.kill('SIGTERM')
  const r = await t.done
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /SIGTERM: stopping after this step/)
  const status = JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8')) as { state: string; step: number; checkpointStep: number }
  assert.equal(status.state, 'stopped')
  assert.equal(status.checkpointStep, status.step)
  assert.ok(existsSync(join(runDir, 'checkpoints', `step-${status.step}`, 'model.safetensors')))
})
