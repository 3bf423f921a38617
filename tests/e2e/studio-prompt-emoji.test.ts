// The prompt helper in Chromium over the web host, with the shipped models: "Browse emoji" beside the
// Gallery, Train and Compare prompt boxes lists the emoji the chosen model was trained on; a filtered
// name goes into the prompt box as a line by click, or by keyboard (Enter on a focused name, arrow keys,
// Escape closes); an ONNX package says it has no list. Saves a screenshot of the open list in each view.
// Needs `npm run build` first (npm test does it).
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { artifacts, chromiumInstalled, openStudio, shouldSkip } from './e2e-fixtures.ts'
import type { Studio } from './e2e-fixtures.ts'

interface PageElement { getAttribute(name: string): string | null; textContent: string | null }
declare const document: { activeElement: PageElement | null }

/** data-testid and text of the focused element. */
async function focused(page: Page): Promise<{ testId: string | null; text: string }> {
  return page.evaluate(() => ({ testId: document.activeElement?.getAttribute('data-testid') ?? null, text: (document.activeElement?.textContent ?? '').trim() }))
}

describe('the prompt helper (Browse emoji) in Chromium', { timeout: 180_000 }, () => {
  const skip = shouldSkip() || !chromiumInstalled
  let studio: Studio
  let page: Page

  before(async () => {
    if (skip) return
    studio = await openStudio({
      workspacePrefix: 'di-studio-emoji-',
      // an imported ONNX generator: the studio has no record of what it was trained on
      prepare: async (workspace) => {
        await mkdir(join(workspace, 'models', 'imported'), { recursive: true })
        await writeFile(join(workspace, 'models', 'imported', 'manifest.json'), JSON.stringify({ name: 'imported', source: { checkpoint: 'imports/x.onnx', imported: true } }))
        await writeFile(join(workspace, 'models', 'imported', 'model.onnx'), '')
      },
    })
    page = studio.page
  })

  after(() => studio?.close())

  it('Gallery: filters for "apple", clicks "red apple" and finds it as a new prompt line', { skip }, async (t) => {
    await page.getByTestId('nav-gallery').click()
    const select = page.getByTestId('gallery-model')
    await select.locator('option[value="one-step-init"]').waitFor({ state: 'attached' })
    if (((await select.locator('option[value="one-step-init"]').textContent()) ?? '').includes('(missing)')) {
      t.skip('the shipped models are not installed on this machine')
      return
    }
    await select.selectOption('one-step-init')
    await page.getByTestId('gallery-prompts').fill('a black cat')
    const toggle = page.getByTestId('gallery-prompts-browse')
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false')
    await toggle.click()
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true')
    const list = page.getByTestId('gallery-prompts-emoji')
    const filter = page.getByTestId('gallery-prompts-emoji-filter')
    await filter.waitFor({ timeout: 60_000 })
    assert.deepEqual(await focused(page), { testId: 'gallery-prompts-emoji-filter', text: '' }, 'the filter box takes the focus')
    assert.match(await list.textContent() ?? '', /The 1,\d{3} emoji the shipped reference was trained on \(training split of the twitter and google styles\)/)
    // grouped by category, Smileys & Emotion first
    const headings = await list.locator('h3').allTextContents()
    assert.match(headings[0] ?? '', /^Smileys & Emotion \d+$/)
    for (const category of ['Animals & Nature', 'Food & Drink']) assert.ok(headings.some((h) => h.startsWith(category)), category)
    await page.screenshot({ path: join(artifacts, 'emoji-gallery-open.png') })

    await filter.fill('apple')
    const items = list.getByTestId('emoji-item')
    await page.locator('[data-testid="gallery-prompts-emoji-count"]', { hasText: /^\d of 1,\d{3}$/ }).waitFor()
    const names = await items.allTextContents()
    assert.ok(names.includes('red apple') && names.includes('green apple'), names.join(', '))
    assert.ok(names.every((n) => n.includes('apple')), names.join(', '))
    await list.getByTestId('emoji-item').filter({ hasText: /^red apple$/ }).click()
    assert.equal(await page.getByTestId('gallery-prompts').inputValue(), 'a black cat\nred apple')
    assert.equal(await page.getByTestId('gallery-prompts-emoji-status').textContent(), 'Added "red apple".')
    // a second click does not add it twice
    await list.getByTestId('emoji-item').filter({ hasText: /^red apple$/ }).click()
    assert.equal(await page.getByTestId('gallery-prompts').inputValue(), 'a black cat\nred apple')
    assert.equal(await page.getByTestId('gallery-prompts-emoji-status').textContent(), '"red apple" is there already.')
    await page.screenshot({ path: join(artifacts, 'emoji-gallery-apple.png') })
    // Escape closes and gives the focus back to the toggle
    await page.keyboard.press('Escape')
    await list.waitFor({ state: 'detached' })
    assert.equal((await focused(page)).testId, 'gallery-prompts-browse')
    // opened again (its list already loaded), the filter box has the focus at once
    await page.keyboard.press('Enter')
    await filter.waitFor()
    assert.equal((await focused(page)).testId, 'gallery-prompts-emoji-filter')
    await page.keyboard.press('Escape')
    await list.waitFor({ state: 'detached' })
  })

  it('Gallery: an imported ONNX generator says it has no list', { skip }, async () => {
    await page.getByTestId('gallery-model').selectOption('models/imported')
    await page.getByTestId('gallery-prompts-browse').click()
    const unknown = page.getByTestId('gallery-prompts-emoji-unknown')
    await unknown.waitFor({ timeout: 30_000 })
    assert.match(await unknown.textContent() ?? '', /models\/imported is an ONNX package, which does not record what it was trained on/)
    assert.equal(await page.getByTestId('emoji-item').count(), 0)
    await page.getByTestId('gallery-prompts-emoji-close').click()
    await page.getByTestId('gallery-prompts-emoji').waitFor({ state: 'detached' })
  })

  it('Train: keyboard only, from the toggle to a training prompt, without starting a run', { skip }, async (t) => {
    await page.getByTestId('nav-train').click()
    const base = page.getByTestId('base-model')
    await base.locator('option[value="reference"]').waitFor({ state: 'attached' })
    if (((await base.locator('option[value="reference"]').textContent()) ?? '').includes('(missing)')) {
      t.skip('the shipped reference is not installed on this machine')
      return
    }
    await page.getByTestId('train-prompts').fill('')
    await page.getByTestId('train-prompts-browse').focus()
    await page.keyboard.press('Enter')
    await page.getByTestId('train-prompts-emoji-filter').waitFor({ timeout: 60_000 })
    await page.keyboard.type('apple')
    await page.keyboard.press('ArrowDown') // to the first name shown
    const first = await focused(page)
    assert.equal(first.testId, 'emoji-item')
    await page.keyboard.press('ArrowRight')
    const second = await focused(page)
    assert.equal(second.testId, 'emoji-item')
    assert.notEqual(second.text, first.text)
    await page.screenshot({ path: join(artifacts, 'emoji-train-keyboard.png') })
    await page.keyboard.press('Enter')
    assert.equal(await page.getByTestId('train-prompts').inputValue(), second.text)
    // Enter in the filter adds the first name shown, and does not submit the form (no run starts)
    await page.getByTestId('train-prompts-emoji-filter').fill('black cat')
    await page.getByTestId('train-prompts-emoji-filter').press('Enter')
    assert.equal(await page.getByTestId('train-prompts').inputValue(), `${second.text}\nblack cat`)
    assert.equal(await page.getByTestId('run-live').count(), 0, 'no run was started')
    await page.keyboard.press('Escape')
    await page.getByTestId('train-prompts-emoji').waitFor({ state: 'detached' })
    assert.equal((await focused(page)).testId, 'train-prompts-browse')
  })

  it('Compare: a name with a style, as that style\'s caption', { skip }, async (t) => {
    await page.getByTestId('nav-compare').click()
    const generator = page.getByTestId('compare-generator')
    await generator.locator('option[value="one-step-init"]').waitFor({ state: 'attached' })
    if (((await generator.locator('option[value="one-step-init"]').textContent()) ?? '').includes('(missing)')) {
      t.skip('the shipped models are not installed on this machine')
      return
    }
    await generator.selectOption('one-step-init')
    await page.getByTestId('compare-prompts').fill('')
    await page.getByTestId('compare-prompts-browse').click()
    await page.getByTestId('compare-prompts-emoji-filter').fill('red apple')
    await page.getByTestId('compare-prompts-emoji-style').selectOption('twitter')
    await page.getByTestId('compare-prompts-emoji').getByTestId('emoji-item').filter({ hasText: /^red apple$/ }).click()
    assert.equal(await page.getByTestId('compare-prompts').inputValue(), 'red apple, twitter style')
    await page.screenshot({ path: join(artifacts, 'emoji-compare.png') })
  })

  it('logged no page errors and no CSP violations', { skip }, () => {
    assert.deepEqual(studio.problems, [])
  })
})
