// A few crash-safety trials from `npm run reliability -- crash` (src-main/reliability/crash-trials.ts), so
// the harness cannot rot: the train CLI killed after a random step and half-way through a checkpoint's
// model file and through the pruning of an old checkpoint, the JobManager's worker thread terminated, and
// the whole process hosting it killed. Each time every file on disk must load and verify, the resume must
// start from the newest complete checkpoint, and the finished run must equal the uninterrupted one bit for bit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs'
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatCrashTable, runCrashTrials } from '../../src-main/reliability/crash-trials.ts'
import { pruneCheckpoints, removeStaleTempFiles } from '../../src-main/core/runs/run-files.ts'

test('SIGKILL of the train child (random step, inside writes), of the job worker and of the whole process: resumes bit-identical', async (t) => {
  await tf.setBackend('cpu')
  const workDir = await mkdtemp(join(tmpdir(), 'reliability-crash-'))
  t.after(() => rm(workDir, { recursive: true, force: true }))
  const campaign = await runCrashTrials({
    trials: 5, seed: 7, backend: 'cpu', workDir,
    modes: ['train-child', 'train-in-write', 'job-worker', 'whole-process', 'train-in-write'],
    phases: ['checkpoint-model', 'checkpoint-prune'],
  })
  for (const line of formatCrashTable(campaign).split('\n')) t.diagnostic(line)
  assert.equal(campaign.results.length, 5)
  for (const r of campaign.results) {
    assert.deepEqual(r.problems, [], `trial ${r.trial} (${r.mode}, ${r.target})`)
    assert.ok(r.weightsIdentical, `trial ${r.trial}: weights differ from the uninterrupted run`)
    assert.ok(r.metricsComplete, `trial ${r.trial}: metrics.jsonl does not hold each step once`)
    assert.deepEqual(r.leftoversAfterResume, [], `trial ${r.trial}: half-done writes left after the resume`)
    assert.ok(r.passed)
  }
  // the two in-write trials really died inside their write
  assert.deepEqual(campaign.results.filter((r) => r.mode === 'train-in-write').map((r) => r.landedIn), ['checkpoint write', 'checkpoint pruning'])
  // a kill after a checkpoint was complete resumes from it, not from step 0
  assert.ok(campaign.results.some((r) => r.resumedFrom > 0))
})

test('what kills leave behind is cleaned: temp files of dead writers, half-deleted checkpoints', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'reliability-leftovers-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const dead = spawnSync(process.execPath, ['-e', '']).pid!
  await mkdir(join(dir, 'samples'), { recursive: true })
  const stale = [`.status.json.${dead}.0a1b2c3d.tmp`, join('samples', `.step-4.png.${dead}.deadbeef.tmp`)]
  const live = `.status.json.${process.pid}.12345678.tmp` // a writer that is still running keeps its file
  for (const f of [...stale, live]) await writeFile(join(dir, f), 'x')
  assert.deepEqual((await removeStaleTempFiles(dir)).sort(), stale.map((f) => f.split('/').pop()!).sort())
  assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.tmp')), [live])
  assert.deepEqual(await readdir(join(dir, 'samples')), [])

  // pruning: old folders go through "<name>.deleting", and a leftover one from a kill is removed
  for (const step of [2, 4, 6, 8]) await mkdir(join(dir, 'checkpoints', `step-${step}`), { recursive: true })
  await mkdir(join(dir, 'checkpoints', 'step-0.deleting'))
  await pruneCheckpoints(dir, 2, 8)
  assert.deepEqual((await readdir(join(dir, 'checkpoints'))).sort(), ['step-6', 'step-8'])
})
