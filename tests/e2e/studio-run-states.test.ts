// Runs end in the state they are in (issue 23), as the Train view shows them: a run whose status.json
// still says "running" because its process was killed is listed as interrupted (with Resume, and where
// Resume continues from), never as running; a diverged run's failure and a completed run's skipped steps
// show beside their state. The run folders are written as a killed or finished studio leaves them.
// Needs `npm run build` first (npm test does it).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { chromiumInstalled, openStudio, shouldSkip } from './e2e-fixtures.ts'
import type { Studio } from './e2e-fixtures.ts'

async function writeRun(workspace: string, runId: string, status: Record<string, unknown>): Promise<void> {
  const dir = join(workspace, 'runs', runId)
  await mkdir(join(dir, 'checkpoints'), { recursive: true })
  await writeFile(join(dir, 'config.json'), JSON.stringify({ name: runId, steps: 300, batchSize: 16 }))
  await writeFile(join(dir, 'status.json'), JSON.stringify({ runId, totalSteps: 300, updatedAt: new Date().toISOString(), ...status }))
}

describe('run states in Chromium over the web host', { timeout: 120_000 }, () => {
  const skip = shouldSkip() || !chromiumInstalled
  let studio: Studio
  let page: Page

  before(async () => {
    if (skip) return
    studio = await openStudio({
      workspacePrefix: 'di-studio-run-states-',
      prepare: async (workspace) => {
        const gone = spawnSync(process.execPath, ['-e', '']).pid // the pid of a process that has exited
        // killed during its first step, with nothing saved; and one killed later, after its step-50 checkpoint
        await writeRun(workspace, 'killed-first-step', { state: 'running', step: 0, pid: gone })
        await writeRun(workspace, 'killed-later', { state: 'running', step: 57, checkpointStep: 50, pid: gone })
        await writeRun(workspace, 'diverged', {
          state: 'failed', step: 300, checkpointStep: 300, skippedSteps: 3, pid: gone,
          message: 'diverged: the last 3 of 300 steps were skipped (non-finite values: generator update: generator loss is NaN); lower the learning rate and start again',
        })
        await writeRun(workspace, 'some-skips', { state: 'completed', step: 300, checkpointStep: 300, skippedSteps: 1, pid: gone, message: '1 of 300 steps were skipped (non-finite values); the others trained' })
        await writeRun(workspace, 'stopped-saved', { state: 'stopped', step: 120, checkpointStep: 120, pid: gone })
      },
      hash: '#/train',
      consoleErrors: false, // page errors only
    })
    page = studio.page
  })

  after(() => studio?.close())

  const row = (runId: string) => page.locator(`[data-testid="run-row"][data-run-id="${runId}"]`)

  it('lists a run whose process died as interrupted, with Resume and where it resumes from', { skip }, async () => {
    await row('killed-first-step').waitFor()
    for (const [runId, from] of [['killed-first-step', 'step 0'], ['killed-later', 'the checkpoint at step 50']] as const) {
      assert.equal(await row(runId).getAttribute('data-state'), 'interrupted')
      const state = (await row(runId).getByTestId('run-row-state').textContent()) ?? ''
      assert.match(state, /^interrupted/) // not "running", nor "training"
      assert.ok(state.includes(`Resume continues from ${from}`), state)
      assert.equal(await row(runId).getByTestId('run-resume-past').count(), 1)
    }
    await row('killed-later').getByTestId('run-open').click()
    await page.locator('[data-testid="run-live"][data-run-id="killed-later"]').waitFor()
    assert.match((await page.getByTestId('run-summary').textContent()) ?? '', /^Interrupted at 57 of 300 steps: /)
  })

  it('shows a diverged run as failed with why, a run with skipped steps as completed saying so, and where a stop saved', { skip }, async () => {
    assert.match((await row('diverged').getByTestId('run-row-state').textContent()) ?? '', /^failed.*diverged: the last 3 of 300 steps were skipped/)
    assert.match((await row('some-skips').getByTestId('run-row-state').textContent()) ?? '', /^completed.*1 of 300 steps were skipped/)
    assert.match((await row('stopped-saved').getByTestId('run-row-state').textContent()) ?? '', /^stopped, saved at step 120/)
    assert.equal(await row('some-skips').getByTestId('run-resume-past').count(), 0)
  })

  it('logged no page errors', { skip }, () => {
    assert.deepEqual(studio.problems, [])
  })
})
