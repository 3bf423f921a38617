// What an action does and why it did not, in Chromium over the web host, on the tiny 32x32 model:
// "Export these" downloads one zip of the exported PNGs byte for byte; Compare's Start and the runs
// list's Resume and Delete say in plain words, beside the button, why nothing happened; a job card
// says "Stop" for a job that saves when stopped (DI* training) and "Cancel" for one that just ends.
// Saves screenshots in tests/artifacts/e2e. Needs `npm run build` first.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { unzipSync } from 'fflate'
import type { Page } from 'playwright-core'
import { artifacts, chromiumInstalled, fillTinyRunForm, openStudio, saveTinyModel, shouldSkip, textOf, TINY_PROMPTS } from './e2e-fixtures.ts'
import type { Studio } from './e2e-fixtures.ts'

describe('action feedback in Chromium over the web host', { timeout: 600_000 }, () => {
  const skip = shouldSkip() || !chromiumInstalled
  let studio: Studio
  let workspace: string
  let page: Page

  before(async () => {
    if (skip) return
    studio = await openStudio({
      workspacePrefix: 'di-studio-feedback-',
      prepare: async (ws) => {
        await saveTinyModel(ws)
        await saveTinyModel(ws, 'doomed') // removed behind the page's back, for a refusal from the studio
      },
      acceptDownloads: true,
    })
    ;({ workspace, page } = studio)
  })

  after(() => studio?.close())

  it('"Export these" copies into exports/ and downloads one zip holding those PNGs byte for byte', { skip }, async () => {
    await page.getByTestId('nav-gallery').click()
    await page.getByTestId('gallery-model').locator('option[value="models/tiny"]').waitFor({ state: 'attached', timeout: 30_000 })
    await page.getByTestId('gallery-model').selectOption('models/tiny')
    await page.getByTestId('gallery-prompts').fill(TINY_PROMPTS.slice(0, 2).join('\n'))
    await page.getByTestId('gallery-seeds').fill('0-1')
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-total"]', { hasText: /^4$/ }).waitFor({ timeout: 120_000 })

    const downloaded = page.waitForEvent('download', { timeout: 60_000 })
    await page.getByTestId('gallery-export-all').click()
    const download = await downloaded
    const name = download.suggestedFilename()
    assert.match(name, /^gallery-[\w-]+\.zip$/)
    await page.getByTestId('gallery-notice').waitFor()
    assert.match(await textOf(page, 'gallery-notice'), new RegExp(`^Exported 4 images \\(with their metadata\\) to exports/${name.replace(/\.zip$/, '')}$`))

    const zipped = unzipSync(new Uint8Array(await readFile((await download.path())!)))
    const folder = join(workspace, 'exports', name.replace(/\.zip$/, ''))
    const exported = (await readdir(folder)).sort()
    assert.equal(exported.length, 4)
    assert.deepEqual(Object.keys(zipped).sort(), exported)
    for (const file of exported) {
      const onDisk = await readFile(join(folder, file))
      assert.ok(Buffer.from(zipped[file]!).equals(onDisk), `${file} differs from the exported copy`)
      // the PNG's text chunks (prompt, seed, model) came along unchanged
      assert.ok(onDisk.includes(Buffer.from('tEXt')) || onDisk.includes(Buffer.from('iTXt')), `${file} has no text chunk`)
    }
    assert.equal(await page.getByTestId('gallery-export-error').count(), 0)
  })

  it('says beside Compare why a comparison did not start, in plain words', { skip }, async () => {
    await page.getByTestId('nav-compare').click()
    await page.getByTestId('compare-generator').selectOption('models/tiny')
    await page.getByTestId('compare-reference').selectOption('models/tiny')
    await page.getByTestId('compare-prompts').fill(TINY_PROMPTS[0]!)
    await page.getByTestId('compare-seeds').fill('0')
    // beside the button: inside the row of actions that holds it
    const beside = page.locator('.actions:has([data-testid="compare-start"]) [data-testid="compare-start-error"]')

    await page.getByTestId('compare-steps').fill('0')
    await page.getByTestId('compare-start').click()
    await beside.waitFor()
    assert.equal(await textOf(page, 'compare-start-error'), 'Not started: Steps must be a whole number from 1 to 1,000.')

    await page.getByTestId('compare-steps').fill('2')
    await page.getByTestId('compare-seeds').fill('abc')
    await page.getByTestId('compare-start').click()
    await page.locator('[data-testid="compare-start-error"]', { hasText: '"abc" is not a seed' }).waitFor()
    assert.equal(await textOf(page, 'compare-start-error'), 'Not started: "abc" is not a seed or a range like 0-15')

    // the studio's own refusal: the model was removed after the page listed it
    await page.getByTestId('compare-seeds').fill('0')
    await rm(join(workspace, 'models', 'doomed'), { recursive: true, force: true })
    await page.getByTestId('compare-generator').selectOption('models/doomed')
    await page.getByTestId('compare-start').click()
    await page.locator('[data-testid="compare-start-error"]', { hasText: 'does not exist' }).waitFor({ timeout: 30_000 })
    assert.equal(await textOf(page, 'compare-start-error'), 'Not started: Model models/doomed does not exist in the workspace')
    assert.equal(await beside.count(), 1)
    const body = (await page.locator('body').textContent()) ?? ''
    assert.doesNotMatch(body, /Invalid params|Too small|expected number/)
    await page.screenshot({ path: join(artifacts, 'feedback-compare-error.png'), fullPage: true })

    // a comparison that starts clears the message
    await page.getByTestId('compare-generator').selectOption('models/tiny')
    await page.getByTestId('compare-start').click()
    await page.getByTestId('compare-start-error').waitFor({ state: 'detached', timeout: 30_000 })
    await page.getByTestId('compare-image').nth(1).waitFor({ timeout: 120_000 })
  })

  it('says in a run\'s row why its Resume or Delete did nothing', { skip }, async () => {
    // a run another live process trains (this test process stands in for `npm run train`), and a run
    // whose folder goes away after the page listed it
    const runs = join(workspace, 'runs')
    for (const [runId, status] of [
      ['elsewhere', { state: 'running', pid: process.pid }],
      ['vanishing', { state: 'stopped' }],
    ] as const) {
      await mkdir(join(runs, runId), { recursive: true })
      await writeFile(join(runs, runId, 'config.json'), '{}')
      await writeFile(join(runs, runId, 'status.json'), JSON.stringify({ runId, step: 3, totalSteps: 10, checkpointStep: 2, updatedAt: new Date().toISOString(), ...status }))
    }
    await page.getByTestId('nav-train').click()
    await page.getByRole('button', { name: 'Refresh' }).click()
    const elsewhere = page.locator('[data-testid="run-row"][data-run-id="elsewhere"]')
    const vanishing = page.locator('[data-testid="run-row"][data-run-id="vanishing"]')
    await elsewhere.waitFor({ timeout: 30_000 })
    await vanishing.waitFor()

    await elsewhere.getByTestId('run-resume-past').click()
    await elsewhere.getByTestId('run-action-error').waitFor({ timeout: 30_000 })
    assert.match(await elsewhere.getByTestId('run-action-error').innerText(), /^Not resumed: Run elsewhere is being trained by another process \(pid \d+\): stop it before resuming it$/)

    await elsewhere.getByTestId('run-delete').click()
    await elsewhere.getByTestId('run-delete-yes').click()
    await elsewhere.locator('[data-testid="run-action-error"]', { hasText: 'Not deleted' }).waitFor({ timeout: 30_000 })
    assert.match(await elsewhere.getByTestId('run-action-error').innerText(), /^Not deleted: Run elsewhere is being trained by another process \(pid \d+\): stop it before deleting it$/)
    assert.ok(existsSync(join(runs, 'elsewhere')), 'the refused run is still there')
    await page.screenshot({ path: join(artifacts, 'feedback-run-row-error.png'), fullPage: true })

    await rm(join(runs, 'vanishing'), { recursive: true, force: true })
    await vanishing.getByTestId('run-resume-past').click()
    await vanishing.getByTestId('run-action-error').waitFor({ timeout: 30_000 })
    assert.equal(await vanishing.getByTestId('run-action-error').innerText(), 'Not resumed: No run named vanishing in this workspace')
    // one message at a time, in the row of the run it is about
    assert.equal(await page.getByTestId('run-action-error').count(), 1)
    assert.equal(await page.getByTestId('train-error').count(), 0, 'nothing at the top of the page')
  })

  it('labels the stop button "Stop" for a DI* run, which saves, and "Cancel" for a job that just ends', { skip }, async () => {
    await fillTinyRunForm(page, { steps: 4000, samplesEvery: 1000 })
    await page.getByLabel('Run name').fill('stop label')
    await page.getByTestId('train-start').click()
    const training = page.locator('[data-testid="job-card"][data-status="running"]', { hasText: 'distar-train' })
    await training.waitFor({ timeout: 120_000 })
    assert.equal((await training.getByTestId('job-cancel').innerText()).trim(), 'Stop')

    await page.getByTestId('nav-settings').click()
    await page.getByLabel('Demo samples').fill('2000000000')
    await page.getByLabel('Demo chunks').fill('10000')
    await page.getByTestId('demo-start').click()
    // queued behind the training (one job runs at a time on this machine) or running: either way it just ends
    const demo = page.locator('[data-testid="job-card"]:is([data-status="queued"], [data-status="running"])', { hasText: 'demo' }).first()
    await demo.waitFor({ timeout: 60_000 })
    assert.equal((await demo.getByTestId('job-cancel').innerText()).trim(), 'Cancel')
    const demoId = await demo.getAttribute('data-job-id')
    await demo.getByTestId('job-cancel').click()
    await page.locator(`[data-testid="job-card"][data-job-id="${demoId}"][data-status="cancelled"]`).waitFor({ timeout: 60_000 })

    await page.getByTestId('nav-train').click()
    const card = page.locator('[data-testid="job-card"]', { hasText: 'distar-train' }).first()
    await page.screenshot({ path: join(artifacts, 'feedback-stop-label.png'), fullPage: true })
    const jobId = await card.getAttribute('data-job-id')
    await card.getByTestId('job-cancel').click()
    await page.locator(`[data-testid="job-card"][data-job-id="${jobId}"][data-status="cancelled"]`).waitFor({ state: 'attached', timeout: 120_000 })
  })

  it('logged no page errors and no CSP violations', { skip }, () => {
    assert.deepEqual(studio.problems, [])
  })
})
