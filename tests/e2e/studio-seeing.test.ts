// Seeing and managing (issue 23) in Chromium over the web host, on the tiny 32x32 model: a first-run
// hint and help texts, forms that survive switching views, one small chart per group of metrics, live
// sliders that keep the value set (pending until a step applies it), a click on any image (Train grid
// cell, Gallery tile, Compare) shows it large with its prompt, finished jobs fold away, a run can be
// deleted after a confirmation, gallery Delete asks, Export downloads in the browser, and the Gallery's
// default model passes over a run stopped after a few steps. Saves screenshots in tests/artifacts/e2e.
// Needs `npm run build` first.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { artifacts, chromiumInstalled, fillTinyRunForm, moveSlider, openStudio, saveTinyModel, shouldSkip, textOf, TINY_PROMPTS } from './e2e-fixtures.ts'
import type { Launcher, Studio } from './e2e-fixtures.ts'

interface PageElement { getAttribute(name: string): string | null; value?: string }
declare const document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageElement> }

describe('seeing and managing in Chromium over the web host', { timeout: 600_000 }, () => {
  const skip = shouldSkip() || !chromiumInstalled
  let studio: Studio
  let workspace: string
  let server: Launcher
  let page: Page
  let runId = ''

  before(async () => {
    if (skip) return
    studio = await openStudio({
      workspacePrefix: 'di-studio-seeing-',
      prepare: async (ws) => {
        await saveTinyModel(ws)
        await saveTinyModel(ws, 'tiny2') // a second model for the Prefer view's pairs
      },
      acceptDownloads: true,
    })
    ;({ workspace, server, page } = studio)
  })

  after(() => studio?.close())

  it('greets a first run with what to do first, and explains the training controls', { skip }, async () => {
    const hint = page.getByTestId('first-run-hint')
    await hint.waitFor({ timeout: 30_000 })
    assert.match(((await hint.textContent()) ?? '').replace(/\s+/g, ' '), /Press Start/)
    for (const [id, words] of [
      ['help-t-init', /noise level .* one step/],
      ['help-ema-decay', /moving average/],
      ['help-fake-lr', /fake score .* keep up/],
      ['help-cfg-placement', /inside the divergence .* implicit reward/],
      ['help-huber-c', /quadratic to linear/],
    ] as const) {
      assert.match(await textOf(page, id), words, id)
    }
    await page.screenshot({ path: join(artifacts, 'seeing-first-run.png'), fullPage: true })
  })

  it('keeps what the forms hold when the user switches views', { skip }, async () => {
    await fillTinyRunForm(page, { steps: 400, samplesEvery: 2 })
    await page.getByLabel('Run name').fill('kept while away')
    await page.getByTestId('nav-gallery').click()
    await page.getByTestId('gallery-prompts').fill('black cat')
    await page.getByTestId('gallery-seeds').fill('0-1')
    await page.getByTestId('nav-compare').click()
    await page.getByTestId('compare-seeds').fill('0')
    await page.getByTestId('nav-train').click()
    assert.equal(await page.getByLabel('Run name').inputValue(), 'kept while away')
    assert.equal(await page.getByTestId('train-steps').inputValue(), '400')
    assert.equal(await page.getByTestId('base-model').inputValue(), 'models/tiny')
    assert.equal(await page.getByTestId('reward-brightness').isChecked(), true)
    assert.equal(await page.getByTestId('train-prompts').inputValue(), TINY_PROMPTS.join('\n'))
    await page.getByTestId('nav-gallery').click()
    assert.equal(await page.getByTestId('gallery-prompts').inputValue(), 'black cat')
    assert.equal(await page.getByTestId('gallery-seeds').inputValue(), '0-1')
    await page.getByTestId('nav-compare').click()
    assert.equal(await page.getByTestId('compare-seeds').inputValue(), '0')
    await page.getByTestId('nav-train').click()
  })

  it('plots one small chart per group of metrics, and a live slider keeps the value set until a step applies it', { skip }, async () => {
    await page.getByTestId('train-start').click()
    const live = page.getByTestId('run-live')
    await live.waitFor()
    runId = (await live.getAttribute('data-run-id')) ?? ''
    await page.getByTestId('run-pause').waitFor({ timeout: 120_000 })
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="metric-chart"]')?.getAttribute('data-points')) > 3, null, { timeout: 120_000 })
    const panels: [string | null, string | null][] = await page.getByTestId('metric-chart').evaluateAll((els) =>
      els.map((el) => [(el as unknown as PageElement).getAttribute('data-panel'), (el as unknown as PageElement).getAttribute('data-metrics')]))
    assert.deepEqual(panels.map(([p]) => p), ['losses', 'divergence', 'rewards', 'gradients'])
    const group: Record<string, RegExp> = { losses: /^loss\/(generatorTotal|rewardTerm|fakeScore)$/, divergence: /^loss\/(regulariser|divergence|scoreGap|cfgOut)$/, rewards: /^reward\//, gradients: /^grad\// }
    for (const [panel, metrics] of panels) {
      const names = (metrics ?? '').split(' ')
      assert.ok(names.length > 0 && names.every((n) => group[panel!]!.test(n)), `${panel}: ${metrics}`)
    }
    // each chart its own canvas
    assert.equal(await page.locator('[data-testid="metric-chart"] canvas').count(), 4)

    // the reward weight's default 0.1 sits mid-slider on a log scale
    const slider = page.getByTestId('slider-rewardWeight')
    assert.equal(await slider.getAttribute('data-scale'), 'log')
    assert.equal(await textOf(page, 'control-value-rewardWeight'), '0.1')
    // paused, no step applies a change: the slider must stay where it was left, the value shown as pending
    await page.getByTestId('run-pause').click()
    await page.getByTestId('run-resume').waitFor({ timeout: 60_000 })
    await moveSlider(page, 'slider-rewardWeight', 0.3)
    await page.getByTestId('control-pending-rewardWeight').waitFor()
    assert.match(await textOf(page, 'control-pending-rewardWeight'), /→ 2 \(pending\)/)
    assert.equal(await textOf(page, 'control-value-rewardWeight'), '0.1', 'the run still uses 0.1')
    assert.equal(Number(await slider.inputValue()), 0.3, 'the slider stays where the user left it')
    await page.screenshot({ path: join(artifacts, 'seeing-train-pending.png'), fullPage: true })
    await page.getByTestId('run-resume').click()
    await page.getByTestId('control-pending-rewardWeight').waitFor({ state: 'detached', timeout: 120_000 })
    assert.equal(await textOf(page, 'control-value-rewardWeight'), '2')
    assert.equal(Number(await slider.inputValue()), 0.3)
  })

  it('lists a sample grid\'s prompts, and a click on a cell shows that sample large with its prompt', { skip }, async () => {
    await page.getByTestId('sample-image').waitFor({ timeout: 120_000 })
    // the run is still training and a new grid replaces the newest every 2 steps: hold the first one
    await moveSlider(page, 'sample-slider', 0)
    await page.locator('[data-testid="sample-step"]', { hasText: /^0$/ }).waitFor()
    const prompts = page.getByTestId('sample-image-prompts').locator('li')
    await prompts.first().waitFor({ timeout: 30_000 })
    assert.deepEqual((await prompts.allTextContents()).map((t) => t.trim()), TINY_PROMPTS)
    // the second cell of the first row: 32 px samples drawn at 2x with 2 px gaps
    const image = page.getByTestId('sample-image')
    const box = (await image.boundingBox())!
    const natural = await image.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth)
    const scale = box.width / natural
    await image.click({ position: { x: (2 + 64 + 2 + 20) * scale, y: 20 * scale } })
    await page.getByTestId('zoom').waitFor()
    assert.equal(await textOf(page, 'zoom-prompt'), TINY_PROMPTS[1])
    assert.match(await textOf(page, 'zoom-detail'), /^seed 1 · step \d+ · sample 2 of 4$/)
    await page.getByTestId('zoom-canvas').waitFor()
    await page.screenshot({ path: join(artifacts, 'seeing-zoom-grid.png') })
    await page.keyboard.press('Escape')
    await page.getByTestId('zoom').waitFor({ state: 'detached' })
  })

  it('passes over failed runs and runs stopped after a few steps for the Gallery\'s default model', { skip }, async () => {
    await page.getByTestId('run-stop').click()
    await page.getByTestId('run-stop').waitFor({ state: 'detached', timeout: 120_000 })
    await page.locator(`[data-testid="run-row"][data-run-id="${runId}"]`).waitFor()
    // two newer runs with a checkpoint, as their records say: one stopped at step 5, one failed at step 100
    const later = new Date(Date.now() + 60_000).toISOString()
    for (const [id, state, step] of [['short-run', 'stopped', 5], ['failed-run', 'failed', 100]] as const) {
      const dir = join(workspace, 'runs', id)
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, 'config.json'), '{}')
      await writeFile(join(dir, 'status.json'), JSON.stringify({ runId: id, state, step, totalSteps: 300, checkpointStep: step, updatedAt: later }))
    }
    await page.goto(`${server.url}#/gallery`)
    const select = page.getByTestId('gallery-model')
    await select.locator('option[value="runs/short-run"]').waitFor({ state: 'attached', timeout: 30_000 })
    await select.locator('option[value="runs/failed-run"]').waitFor({ state: 'attached' })
    await page.waitForFunction(() => (document.querySelector('[data-testid="gallery-model"]')?.value ?? '') !== '')
    const chosen = await select.inputValue()
    assert.ok(!['runs/short-run', 'runs/failed-run'].includes(chosen), `the default is ${chosen}`)
  })

  it('zooms Gallery images, asks before deleting one, and downloads an export in the browser', { skip }, async () => {
    await page.getByTestId('gallery-model').selectOption('models/tiny')
    await page.getByTestId('gallery-prompts').fill(TINY_PROMPTS.slice(0, 2).join('\n'))
    await page.getByTestId('gallery-seeds').fill('0-1')
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-total"]', { hasText: /^4$/ }).waitFor({ timeout: 120_000 })
    const cell = page.getByTestId('gallery-cell').first()
    await cell.click()
    const prompt = await textOf(page, 'meta-prompt')
    await cell.click() // the selected tile again: large
    await page.getByTestId('zoom').waitFor()
    assert.equal(await textOf(page, 'zoom-prompt'), prompt)
    await page.getByTestId('zoom-image').waitFor()
    await page.screenshot({ path: join(artifacts, 'seeing-zoom-gallery.png') })
    await page.getByTestId('zoom-close').click()
    await page.getByTestId('meta-zoom').click()
    assert.equal(await textOf(page, 'zoom-prompt'), prompt)
    await page.keyboard.press('Escape')
    await page.getByTestId('zoom').waitFor({ state: 'detached' })

    const download = page.waitForEvent('download', { timeout: 30_000 })
    await page.getByTestId('meta-export').click()
    assert.match((await download).suggestedFilename(), /\.png$/)

    await page.getByTestId('meta-delete').click()
    await page.getByTestId('meta-delete-confirm').waitFor()
    await page.screenshot({ path: join(artifacts, 'seeing-gallery-delete.png'), fullPage: true })
    await page.getByTestId('meta-delete-no').click()
    assert.equal(await textOf(page, 'gallery-total'), '4', 'Keep deletes nothing')
    await page.getByTestId('meta-delete').click()
    await page.getByTestId('meta-delete-yes').click()
    await page.locator('[data-testid="gallery-total"]', { hasText: /^3$/ }).waitFor({ timeout: 30_000 })
  })

  it('zooms a Compare image with its prompt', { skip }, async () => {
    await page.getByTestId('nav-compare').click()
    await page.getByTestId('compare-generator').selectOption('models/tiny')
    await page.getByTestId('compare-reference').selectOption('models/tiny')
    await page.getByTestId('compare-steps').fill('2')
    await page.getByTestId('compare-prompts').fill(TINY_PROMPTS[2]!)
    await page.getByTestId('compare-seeds').fill('0')
    await page.getByTestId('compare-start').click()
    await page.getByTestId('compare-image').nth(1).waitFor({ timeout: 120_000 })
    await page.getByTestId('compare-image').nth(1).click()
    assert.equal(await textOf(page, 'zoom-prompt'), TINY_PROMPTS[2])
    assert.match(await textOf(page, 'zoom-detail'), /^multi-step · seed 0/)
    await page.keyboard.press('Escape')
    await page.getByTestId('zoom').waitFor({ state: 'detached' })
  })

  it('folds finished jobs away, and deletes a run only after a confirmation', { skip }, async () => {
    await page.getByTestId('nav-train').click()
    const finished = page.getByTestId('jobs-finished')
    await finished.waitFor()
    assert.match(((await finished.locator('summary').textContent()) ?? ''), /^Finished jobs \(\d+\)$/)
    assert.equal(await finished.getAttribute('open'), null, 'folded')
    // what is still in view is only what still runs (the comparison's scoring, perhaps)
    const shown = await page.locator('[data-testid="job-card"]:visible').evaluateAll((els) => els.map((el) => el.getAttribute('data-status')))
    assert.ok(shown.every((status) => ['queued', 'running', 'paused', 'cancelling'].includes(status ?? '')), `in view: ${shown.join(', ')}`)

    const row = page.locator(`[data-testid="run-row"][data-run-id="${runId}"]`)
    await row.getByTestId('run-delete').click()
    await row.getByTestId('run-delete-confirm').waitFor()
    await page.screenshot({ path: join(artifacts, 'seeing-run-delete.png'), fullPage: true })
    await row.getByTestId('run-delete-no').click()
    assert.ok(existsSync(join(workspace, 'runs', runId)), 'Keep deletes nothing')
    await row.getByTestId('run-delete').click()
    await row.getByTestId('run-delete-yes').click()
    await row.waitFor({ state: 'detached', timeout: 30_000 })
    assert.equal(existsSync(join(workspace, 'runs', runId)), false)
    await page.screenshot({ path: join(artifacts, 'seeing-train-after.png'), fullPage: true })
  })

  it('Prefer: pairs two models, skips, ties and undoes, states its minimum and gives the accuracy with its interval', { skip }, async () => {
    // the same prompts from a second model
    await page.getByTestId('nav-gallery').click()
    await page.getByTestId('gallery-model').selectOption('models/tiny2')
    await page.getByTestId('gallery-prompts').fill(TINY_PROMPTS.slice(0, 2).join('\n'))
    await page.getByTestId('gallery-seeds').fill('0-1')
    const before = Number(await textOf(page, 'gallery-total'))
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-total"]', { hasText: new RegExp(`^${before + 4}$`) }).waitFor({ timeout: 120_000 })

    await page.getByTestId('nav-prefer').click()
    await page.getByTestId('prefer-a').waitFor()
    assert.equal(await page.getByTestId('prefer-source').getAttribute('data-cross-model'), 'true', 'two models, not two seeds of one')
    assert.match(await textOf(page, 'prefer-minimum'), /at least 4 choices .* 4 more to go/s)
    const shown = async () => [await page.locator('[data-testid="prefer-a"] img').getAttribute('src'), await page.locator('[data-testid="prefer-b"] img').getAttribute('src')].join(' ')
    const first = await shown()
    await page.keyboard.press('s')
    await page.waitForFunction((was) => [...(document.querySelectorAll('[data-testid="prefer-pair"] img') as unknown as { getAttribute(n: string): string | null }[])].map((i) => i.getAttribute('src')).join(' ') !== was, first)
    assert.equal(await textOf(page, 'prefer-count'), '0', 'a skip stores nothing')

    await page.getByTestId('prefer-a').click()
    await page.locator('[data-testid="prefer-count"]', { hasText: /^1$/ }).waitFor()
    await page.getByTestId('prefer-tie').click()
    await page.locator('[data-testid="prefer-count"]', { hasText: /^2$/ }).waitFor()
    assert.match(await textOf(page, 'prefer-ties'), /1 tie, not trained on/)
    assert.match(await textOf(page, 'prefer-minimum'), /3 more to go/, 'a tie does not count towards the minimum')
    await page.getByTestId('prefer-undo').click()
    await page.locator('[data-testid="prefer-count"]', { hasText: /^1$/ }).waitFor()
    assert.equal(await page.getByTestId('prefer-ties').count(), 0)
    assert.ok(await page.getByTestId('prefer-train').isDisabled(), 'not trainable below the minimum')

    // enough decisive choices to hold some out
    for (let n = 2; n <= 6; n++) {
      if (await page.getByTestId('prefer-a').count() === 0) break
      await page.keyboard.press(n % 2 ? '1' : '2')
      await page.locator('[data-testid="prefer-count"]', { hasText: new RegExp(`^${n}$`) }).waitFor()
    }
    await page.getByTestId('prefer-train').click()
    await page.getByTestId('prefer-accuracy').waitFor({ timeout: 180_000 })
    assert.match(await textOf(page, 'prefer-accuracy'), /Held-out accuracy: \d+% on \d+ pairs?, 95% interval \d+-\d+%/)
    await page.screenshot({ path: join(artifacts, 'seeing-prefer.png'), fullPage: true })
  })

  it('logged no page errors and no CSP violations', { skip }, () => {
    assert.deepEqual(studio.problems, [])
  })
})
