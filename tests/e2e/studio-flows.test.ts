// The studio's main flows in Chromium over the web host, on a tiny 32x32 model saved in the test
// workspace (the real reference would take seconds per step): a short DI* run steered with the reward
// slider (change marker, new samples, pause/resume/stop, resume from the runs list), a small gallery
// generated, searched and filtered, a comparison, preference choices by click and keyboard and a
// trained preference model. Saves a screenshot of each view and reports the worst frame time while
// the run streamed metrics (reported, not asserted). Needs `npm run build` first (npm test does it).
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import {
  artifacts, chromiumInstalled, fillTinyRunForm, FRAME_MONITOR, moveSlider, openStudio, saveTinyModel, shouldSkip, summariseFrames, textOf, TINY_PROMPTS,
} from './e2e-fixtures.ts'
import type { FrameSamples, Launcher, Studio } from './e2e-fixtures.ts'

// Bodies of page.evaluate / waitForFunction run in the page; these give them types without the DOM lib.
interface PageElement { getAttribute(name: string): string | null; textContent: string | null; disabled?: boolean; scrollTop: number; scrollHeight: number }
declare const window: { __frames: FrameSamples }
declare const document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageElement> }

describe('studio flows in Chromium over the web host', { timeout: 300_000 }, () => {
  const skip = shouldSkip() || !chromiumInstalled
  let studio: Studio
  let workspace: string
  let server: Launcher
  let page: Page
  /** the DI* run the train flow made; its generator is compared later */
  let trainedRunId = ''

  before(async () => {
    if (skip) return
    studio = await openStudio({ workspacePrefix: 'di-studio-flows-', prepare: (ws) => saveTinyModel(ws), initScript: FRAME_MONITOR })
    ;({ workspace, server, page } = studio)
  })

  after(() => studio?.close())

  it('says clearly when the shipped reference model is missing', { skip }, async () => {
    await page.getByTestId('nav-gallery').click()
    const select = page.getByTestId('gallery-model')
    await select.locator('option', { hasText: 'Reference' }).waitFor({ state: 'attached' })
    const referenceMissing = ((await select.locator('option', { hasText: 'Reference' }).textContent()) ?? '').includes('(missing)')
    if (!referenceMissing) return // the reference is installed on this machine: nothing to show
    await select.selectOption('reference')
    assert.match(await textOf(page, 'gallery-model-missing'), /reference model is not installed/i)
    assert.ok(await page.getByTestId('gallery-generate-start').isEnabled())
    await page.getByTestId('gallery-generate-start').click()
    assert.match(await textOf(page, 'gallery-form-error'), /reference model is not installed/i)
  })

  it('the Train form starts from the distilled generator on the embedded reference, from the base model otherwise', { skip }, async () => {
    // a fresh page opened on Train: the form exists before the models list arrives, and keeps its default
    await page.goto(`${server.url}#/train`)
    const start = page.getByTestId('train-generator-start')
    const base = page.getByTestId('base-model')
    await base.locator('option[value="reference"]').waitFor({ state: 'attached' })
    assert.equal(await base.inputValue(), 'reference')
    assert.equal(await start.inputValue(), 'embedded', 'a fresh page keeps the distilled generator as the start')
    await base.selectOption('reference')
    assert.equal(await start.inputValue(), 'embedded', 'the default run starts from the shipped distilled generator')
    await base.selectOption('models/tiny')
    await page.waitForFunction(() => (document.querySelector('[data-testid="train-generator-start"]') as { value?: string } | null)?.value === 'reference')
    assert.equal(await start.locator('option[value="embedded"]').isDisabled(), true, 'not offered for another base model')
  })

  it('starts a short DI* run, steers it with the reward slider and sees the change marker and new samples', { skip }, async () => {
    await fillTinyRunForm(page, { steps: 400, samplesEvery: 5, learningRate: '0.001' })
    // a training prompt with a word the base model never learnt is flagged while it is typed
    await page.getByTestId('train-prompts').fill([...TINY_PROMPTS, 'purple cat'].join('\n'))
    await page.getByTestId('train-prompt-check').waitFor({ timeout: 30_000 })
    assert.match(await textOf(page, 'train-prompt-check'), /read as unknown tokens:\s+purple\./)
    await page.getByTestId('train-prompts').fill(TINY_PROMPTS.join('\n'))
    await page.getByTestId('train-prompt-check').waitFor({ state: 'detached', timeout: 30_000 })
    // the form's reward weight is the run's, and the live slider starts from it
    assert.equal(await page.getByTestId('train-reward-weight').inputValue(), '0.1', 'the default run\'s reward weight')
    await page.getByTestId('train-reward-weight').fill('0.3')
    await page.evaluate(() => Object.assign(window.__frames, { gaps: [], longTasks: [] }))
    const loadBefore = loadavg()[0]!
    await page.getByTestId('train-start').click()

    const live = page.getByTestId('run-live')
    await live.waitFor()
    await page.locator('[data-testid="run-status"]', { hasText: 'running' }).waitFor({ timeout: 120_000 })
    await page.getByTestId('sample-image').waitFor({ timeout: 120_000 })
    assert.equal(await textOf(page, 'sample-step'), '0')
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="metric-chart"]')?.getAttribute('data-points')) > 5, null, { timeout: 120_000 })
    // one small chart per group of metrics of like scale, never rewards (tens) and losses (units) on one
    assert.deepEqual(await page.getByTestId('metric-chart').evaluateAll((els) => els.map((el) => el.getAttribute('data-panel'))), ['losses', 'divergence', 'rewards', 'gradients'])
    assert.match(await textOf(page, 'run-backend'), /^(tensorflow-gpu|tensorflow|wasm|cpu)$/)
    assert.equal(await page.getByTestId('change-marker').count(), 0)
    assert.equal(await textOf(page, 'control-value-rewardWeight'), '0.3')

    await moveSlider(page, 'slider-rewardWeight', Math.log10(5)) // a log slider
    const marker = page.getByTestId('change-marker').first()
    await marker.waitFor({ timeout: 60_000 })
    const markerStep = Number(await marker.textContent())
    assert.equal(await textOf(page, 'control-value-rewardWeight'), '5')
    // a sample grid from after the change
    await page.waitForFunction((step) => Number(document.querySelector('[data-testid="sample-step"]')?.textContent) > step, markerStep, { timeout: 120_000 })
    await page.getByTestId('log-scale').check()
    await page.screenshot({ path: join(artifacts, 'flow-train-live.png'), fullPage: true })

    // the history slider goes back to step 0, and two steps side by side
    await moveSlider(page, 'sample-slider', 0)
    assert.equal(await textOf(page, 'sample-step'), '0')
    await page.getByTestId('sample-compare').check()
    await page.getByTestId('sample-image-other').waitFor()

    // frame times from the start of the run to here: metrics streaming, slider moves, new sample grids
    const frames = summariseFrames(await page.evaluate(() => window.__frames))
    const report = {
      measured: 'renderer frame times (requestAnimationFrame deltas) and long tasks while a DI* run streamed metrics and sample grids',
      ...frames,
      machineLoad1m: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadavg()[0]! * 100) / 100, cpus: availableParallelism() },
    }
    process.stdout.write(`# UI responsiveness while the run streamed: ${JSON.stringify({ ...report, longTasksMs: undefined })}\n`)
    await writeFile(join(artifacts, 'frame-times.json'), JSON.stringify(report, null, 2))
    assert.ok(frames.frames > 0, 'frames were rendered while the run streamed')

    // pause, resume, stop (which saves a checkpoint), then resume the run from the runs list
    await page.getByTestId('run-pause').click()
    await page.locator('[data-testid="run-status"]', { hasText: 'paused' }).waitFor({ timeout: 60_000 })
    await page.getByTestId('run-resume').click()
    await page.locator('[data-testid="run-status"]', { hasText: 'running' }).waitFor({ timeout: 60_000 })
    await page.getByTestId('run-stop').click()
    // one set of status words, and where the stop saved: the run's badge, its job card and its row agree
    const stopped = page.locator('[data-testid="run-status"]', { hasText: /^stopped, saved at step \d+$/ })
    await stopped.waitFor({ timeout: 60_000 })
    const savedText = await stopped.textContent()
    const runId = await live.getAttribute('data-run-id')
    trainedRunId = runId ?? ''
    const row = page.locator(`[data-testid="run-row"][data-run-id="${runId}"]`)
    await row.waitFor()
    await row.getByTestId('run-row-state').filter({ hasText: savedText ?? '' }).waitFor({ timeout: 30_000 })
    assert.equal(await row.getAttribute('data-state'), 'stopped')
    assert.equal(await page.locator('[data-testid="job-card"][data-status="cancelled"] [data-testid="job-status"]').first().textContent(), savedText)
    await row.getByTestId('run-resume-past').click()
    await page.locator('[data-testid="run-status"]', { hasText: 'running' }).waitFor({ timeout: 120_000 })
    await page.getByTestId('run-stop').click()
    await page.locator('[data-testid="run-status"]', { hasText: /^stopped, saved at step \d+$/ }).waitFor({ timeout: 60_000 })
    // reopening shows the history from the files, marker included
    await row.getByTestId('run-open').click()
    await page.getByTestId('change-marker').first().waitFor()
    // what the run is, from its record: stopped part-way, with the way on
    const rowSteps = await row.getByTestId('run-row-steps').textContent()
    assert.match(await textOf(page, 'run-summary'), new RegExp(`^Not training now: ${(rowSteps ?? '').replace(' / ', ' of ')} steps; Resume it from the runs list below\\.$`))
    assert.equal(Number(await page.getByTestId('change-marker').first().textContent()), markerStep)
    await page.getByTestId('run-config').click()
    assert.match(await textOf(page, 'run-config'), /"batchSize": 2/)
    await page.screenshot({ path: join(artifacts, 'view-train.png'), fullPage: true })
  })

  it('generates a small gallery, searches and filters it, shows metadata and exports', { skip }, async () => {
    await page.getByTestId('nav-gallery').click()
    await page.getByTestId('gallery-model').selectOption('models/tiny')
    // one word the tiny model never saw: the images are made, and the user is told
    await page.getByTestId('gallery-prompts').fill(`${TINY_PROMPTS[0]}\n${TINY_PROMPTS[1]} kangaroo`)
    // flagged while typing, before anything is generated
    await page.getByTestId('gallery-prompt-check').waitFor({ timeout: 30_000 })
    assert.match(await textOf(page, 'gallery-prompt-check'), /Not among this model's \d+ words, so read as unknown tokens:\s+kangaroo/)
    await page.getByTestId('gallery-seeds').fill('0-3')
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-job"][data-status="succeeded"]').waitFor({ timeout: 120_000 })
    await page.locator('[data-testid="gallery-total"]', { hasText: /^8$/ }).waitFor({ timeout: 30_000 })
    assert.match(await textOf(page, 'gallery-prompt-notice'), /not in the model's vocabulary, so read as unknown tokens: kangaroo/)

    await page.getByTestId('gallery-search').fill('apple')
    await page.locator('[data-testid="gallery-total"]', { hasText: /^4$/ }).waitFor()
    await page.getByTestId('gallery-filter-seed').fill('2')
    await page.locator('[data-testid="gallery-total"]', { hasText: /^1$/ }).waitFor()
    await page.getByTestId('gallery-cell').first().click()
    assert.equal(await textOf(page, 'meta-prompt'), 'red apple')
    assert.equal(await textOf(page, 'meta-seed'), '2')
    await page.getByTestId('gallery-export-all').click()
    assert.match(await textOf(page, 'gallery-notice'), /Exported 1 image/)
    await page.screenshot({ path: join(artifacts, 'view-gallery.png'), fullPage: true })
    // re-generating from the image's metadata adds a twin with the same prompt and seed
    await page.getByTestId('meta-regenerate').click()
    await page.locator('[data-testid="gallery-total"]', { hasText: /^2$/ }).waitFor({ timeout: 60_000 })
    await page.getByTestId('gallery-filter-seed').fill('')
    await page.getByTestId('gallery-search').fill('')
    await page.locator('[data-testid="gallery-total"]', { hasText: /^9$/ }).waitFor()
  })

  it('refuses an ONNX import of a file that is not in the workspace, with the reason', { skip }, async () => {
    await page.getByText('Import an ONNX generator').click()
    await page.getByLabel('File (in the workspace)').fill('imports/none.onnx')
    await page.getByLabel('Name', { exact: true }).fill('mine')
    await page.getByRole('button', { name: 'Import' }).click()
    await page.getByText(/ONNX file imports\/none\.onnx does not exist in the workspace/).waitFor()
  })

  it('cancels a long generation', { skip }, async () => {
    await page.getByTestId('gallery-prompts').fill(TINY_PROMPTS.join('\n'))
    await page.getByTestId('gallery-seeds').fill('1000-1999')
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-job"][data-status="running"]').waitFor({ timeout: 60_000 })
    await page.getByTestId('gallery-cancel').click()
    await page.locator('[data-testid="gallery-job"][data-status="cancelled"]').waitFor({ timeout: 60_000 })
  })

  it('renders only the visible rows of a large gallery', { skip }, async () => {
    await page.getByTestId('gallery-prompts').fill(TINY_PROMPTS.join('\n'))
    await page.getByTestId('gallery-seeds').fill('100-349')
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-job"][data-status="succeeded"]').waitFor({ timeout: 180_000 })
    assert.equal(await page.getByTestId('gallery-prompt-notice').count(), 0, 'no notice when the model knows every word')
    await page.getByTestId('gallery-search').fill('')
    // 9 from before, whatever the cancelled job saved, and these 1,000
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="gallery-total"]')?.textContent) >= 1009, null, { timeout: 30_000 })
    const total = Number(await textOf(page, 'gallery-total'))
    const grid = page.getByTestId('gallery-grid')
    const rendered = Number(await grid.getAttribute('data-rendered'))
    assert.ok(rendered > 0 && rendered < 200, `rendered ${rendered} of ${total} cells`)
    // the spacer's height comes from a Svelte style directive (CSSOM, allowed by the CSP): one row per 112 px
    const columns = Math.floor((await grid.evaluate((el) => (el as unknown as { clientWidth: number }).clientWidth)) / 112)
    const spacer = await grid.locator('.canvas').boundingBox()
    assert.equal(spacer?.height, Math.ceil(total / columns) * 112)
    await grid.evaluate((el) => {
      const box = el as unknown as PageElement
      box.scrollTop = box.scrollHeight
    })
    await page.waitForFunction((last) => {
      const cells = document.querySelectorAll('[data-testid="gallery-cell"]')
      return cells.length > 0 && Number(cells[cells.length - 1]!.getAttribute('data-index')) === last
    }, total - 1)
    // exporting every match goes in batches under the WebSocket's message limit
    await page.getByTestId('gallery-export-all').click()
    await page.locator('[data-testid="gallery-notice"]', { hasText: `Exported ${total} images` }).waitFor({ timeout: 60_000 })
  })

  it('compares the DI*-trained generator with the multi-step sampler side by side', { skip }, async () => {
    await page.getByTestId('nav-compare').click()
    assert.ok(trainedRunId, 'the train flow ran first')
    // t_init is asked only of a diffusion model read as a one-step generator
    await page.getByTestId('compare-generator').selectOption('models/tiny')
    await page.getByTestId('compare-t-init').waitFor()
    await page.getByTestId('compare-generator').selectOption(`runs/${trainedRunId}`)
    await page.getByTestId('compare-t-init').waitFor({ state: 'detached' })
    await page.getByTestId('compare-reference').selectOption('models/tiny')
    await page.getByTestId('compare-steps').fill('4')
    // the run's generator reads prompts with its base model's tokenizer (4 words): a longer one is flagged
    await page.getByTestId('compare-prompts').fill('red apple black cat yellow star')
    // (the hint may already show for the box's previous prompts: wait for the check of these)
    await page.getByTestId('compare-prompt-check').filter({ hasText: 'longer than 4 words' }).waitFor({ timeout: 30_000 })
    assert.match(await textOf(page, 'compare-prompt-check'), /1 prompt is longer than 4 words: the rest is ignored/)
    await page.getByTestId('compare-prompts').fill(TINY_PROMPTS.slice(0, 2).join('\n'))
    await page.getByTestId('compare-prompt-check').waitFor({ state: 'detached', timeout: 30_000 })
    await page.getByTestId('compare-seeds').fill('0-1')
    await page.getByTestId('compare-start').click()
    await page.getByTestId('compare-results').waitFor({ timeout: 120_000 })
    assert.equal(await page.getByTestId('compare-row').count(), 4)
    assert.equal(await page.locator('[data-testid="compare-row"] img').count(), 8)
    assert.match(await textOf(page, 'compare-gen-ms'), /ms \/ image/)
    assert.match(await textOf(page, 'compare-ratio'), /%/)
    // every image gets its alignment and image-reward scores, and each side its means
    await page.getByTestId('compare-means').waitFor({ timeout: 120_000 })
    assert.equal(await page.getByTestId('compare-score').count(), 8)
    assert.match(await textOf(page, 'compare-score'), /^align -?\d+\.\d{3} · colour/)
    await page.screenshot({ path: join(artifacts, 'view-compare.png'), fullPage: true })
  })

  it('records preference choices by click and keyboard, trains the model and offers it as a reward', { skip }, async () => {
    await page.getByTestId('nav-prefer').click()
    await page.getByTestId('prefer-a').waitFor()
    const keys = ['1', '2', 'ArrowLeft', 'ArrowRight', '1', '1', '2', 'ArrowLeft', '2', '1', 'ArrowRight', '1']
    let expected = 0
    await page.getByTestId('prefer-b').click()
    expected++
    await page.locator('[data-testid="prefer-count"]', { hasText: new RegExp(`^${expected}$`) }).waitFor()
    for (const key of keys) {
      await page.keyboard.press(key)
      expected++
      await page.locator('[data-testid="prefer-count"]', { hasText: new RegExp(`^${expected}$`) }).waitFor()
    }
    await page.getByTestId('prefer-train').click()
    await page.getByTestId('prefer-accuracy').waitFor({ timeout: 120_000 })
    assert.match(await textOf(page, 'prefer-accuracy'), /Held-out accuracy/)
    await page.screenshot({ path: join(artifacts, 'view-prefer.png'), fullPage: true })

    await page.getByTestId('nav-train').click()
    await page.getByTestId('reward-preference').waitFor()
    await page.waitForFunction(() => !document.querySelector('[data-testid="reward-preference"]')?.disabled)
  })

  it('shows the workspace and backends in Settings', { skip }, async () => {
    await page.getByTestId('nav-settings').click()
    assert.equal(await textOf(page, 'workspace-root'), workspace)
    await page.screenshot({ path: join(artifacts, 'view-settings.png'), fullPage: true })
  })

  it('generates with the shipped one-step generator (the Gallery\'s default in a workspace without runs)', { skip }, async (t) => {
    await page.goto(`${server.url}#/gallery`)
    const select = page.getByTestId('gallery-model')
    await select.locator('option[value="one-step-init"]').waitFor({ state: 'attached' })
    if (((await select.locator('option[value="one-step-init"]').textContent()) ?? '').includes('(missing)')) {
      t.skip('the shipped one-step generator is not installed on this machine')
      return
    }
    await select.selectOption('one-step-init')
    await page.getByTestId('gallery-prompts').fill('red apple')
    await page.getByTestId('gallery-seeds').fill('0-1')
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-job"][data-status="succeeded"]').waitFor({ timeout: 120_000 })
    await page.getByTestId('gallery-filter-model').selectOption('one-step-init')
    await page.locator('[data-testid="gallery-total"]', { hasText: /^2$/ }).waitFor({ timeout: 30_000 })
  })

  it('logged no page errors and no CSP violations', { skip }, () => {
    assert.deepEqual(studio.problems, [])
  })
})
