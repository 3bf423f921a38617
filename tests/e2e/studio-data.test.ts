// The Data view in Chromium over the web host: a folder of drawn shapes (with a truncated PNG and an
// empty caption among them) is typed in and imported; the view shows the preview grid with captions,
// the counts and split, the caption statistics and the import report; a bad path is refused beside the
// form; the dataset is deleted after a confirmation. Saves a screenshot. Needs `npm run build` first.
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { drawShape, encodeShape, writeShapesDataset } from '../helpers/shapes-dataset.ts'
import { artifacts, chromiumInstalled, openStudio, shouldSkip } from './e2e-fixtures.ts'
import type { Studio } from './e2e-fixtures.ts'

/** The page's own function (the tests compile without the DOM library). */
declare const getComputedStyle: (element: unknown) => { backgroundImage: string; backgroundPosition: string }

describe('the Data view in Chromium', { timeout: 300_000 }, () => {
  const skip = shouldSkip() || !chromiumInstalled
  let studio: Studio
  let base: string
  let pictures: string
  let page: Page

  before(async () => {
    if (skip) return
    studio = await openStudio({
      workspacePrefix: 'di-studio-data-',
      workspaceIn: 'workspace', // the launcher makes it; the pictures lie beside it
      prepare: async (_workspace, root) => {
        base = root
        pictures = join(base, 'my pictures')
        await writeShapesDataset(pictures, 40, 'kohya')
        await writeFile(join(pictures, 'cut-off.png'), (await encodeShape(drawShape('circle', 'red', 'left', 11), 'png')).subarray(0, 150))
        await writeFile(join(pictures, 'cut-off.txt'), 'a red circle on the left')
        await writeFile(join(pictures, 'blank.png'), await encodeShape(drawShape('square', 'blue', 'right', 10), 'png'))
        await writeFile(join(pictures, 'blank.txt'), '\n')
      },
      viewport: { width: 1280, height: 1000 },
    })
    page = studio.page
  })

  after(() => studio?.close())

  it('lists the built-in emoji data and refuses a relative or missing folder beside the form', { skip }, async () => {
    await page.getByTestId('nav-data').click()
    await page.getByTestId('view-data').waitFor()
    await page.locator('[data-testid="data-item"][data-id="builtin-emoji"]').waitFor()
    await page.getByTestId('data-folder').fill('my pictures')
    await page.getByTestId('data-import-start').click()
    assert.match((await page.getByTestId('data-form-error').textContent()) ?? '', /absolute path/)
    await page.getByTestId('data-folder').fill(join(base, 'no such folder'))
    await page.getByTestId('data-import-start').click()
    await page.getByTestId('data-form-error').filter({ hasText: 'There is no folder' }).waitFor()
  })

  it('imports a typed folder and shows the preview, the statistics, the split and the report', { skip }, async () => {
    await page.getByTestId('data-folder').fill(pictures)
    await page.getByTestId('data-name').fill('Drawn shapes')
    await page.getByTestId('data-size').selectOption('64')
    await page.getByTestId('data-import-start').click()
    await page.getByTestId('data-title').filter({ hasText: 'Drawn shapes' }).waitFor({ timeout: 240_000 })
    assert.equal(await page.getByTestId('data-form-error').count(), 0)
    assert.equal((await page.getByTestId('data-count-items').textContent())?.trim(), '40')
    assert.match((await page.getByTestId('data-count-split').textContent()) ?? '', /36 train · 4 validation/)
    assert.equal((await page.getByTestId('data-count-skipped').textContent())?.trim(), '2 files')
    // the preview: one cell per image with its caption, the picture cut from a sheet the page loads
    assert.equal(await page.getByTestId('data-cell').count(), 40)
    assert.equal((await page.getByTestId('data-caption').first().textContent())?.trim(), 'a red circle on the left')
    const thumb = page.getByTestId('data-thumb').nth(5)
    const style = await thumb.evaluate((el) => {
      const s = getComputedStyle(el)
      return { image: s.backgroundImage, position: s.backgroundPosition }
    })
    assert.match(style.image, /\/files\/datasets\/drawn-shapes-[0-9a-f]{6}\/sheets\/0\.png/)
    assert.equal(style.position, '-320px 0px')
    const sheetUrl = /url\("?([^")]+)"?\)/.exec(style.image)![1]!
    const sheet = await page.evaluate(async (url) => {
      const r = await fetch(url)
      return { status: r.status, type: r.headers.get('content-type'), bytes: (await r.arrayBuffer()).byteLength }
    }, sheetUrl)
    assert.equal(sheet.status, 200)
    assert.equal(sheet.type, 'image/png')
    assert.ok(sheet.bytes > 500)
    // statistics: "a red circle" has 3 words, "a red circle on the left" 6
    const words = (await page.getByTestId('data-stats-words').locator('td').allTextContents()).map((t) => t.trim())
    assert.equal(words[0], '3', `min of ${words.join(', ')}`)
    assert.equal(words[3], '6', `max of ${words.join(', ')}`)
    assert.match((await page.getByTestId('data-vocabulary').textContent()) ?? '', /40 captions, 12 different words/)
    // the split filter
    await page.getByTestId('data-split').selectOption('validation')
    await page.getByTestId('data-page').filter({ hasText: 'of 4' }).waitFor()
    assert.equal(await page.locator('[data-testid="data-cell"][data-split="validation"]').count(), 4)
    await page.getByTestId('data-split').selectOption('all')
    await page.getByTestId('data-page').filter({ hasText: 'of 40' }).waitFor()
    // the report
    assert.match((await page.getByTestId('data-report-count').textContent()) ?? '', /2 files were skipped/)
    const rows = await page.getByTestId('data-report-row').allTextContents()
    assert.equal(rows.length, 2)
    assert.ok(rows.some((r) => /blank\.png\s*empty caption \(blank\.txt\)/.test(r)), rows.join(' | '))
    assert.ok(rows.some((r) => /cut-off\.png\s*corrupt or truncated image/.test(r)), rows.join(' | '))
    await page.screenshot({ path: join(artifacts, 'data-view.png'), fullPage: true })
  })

  it('deletes the dataset after asking', { skip }, async () => {
    const count = () => page.locator('[data-testid="data-item"]').count()
    const before = await count()
    await page.getByTestId('data-delete').click()
    await page.getByTestId('data-delete-confirm').waitFor()
    assert.equal(await count(), before, 'the first click only asks')
    await page.getByTestId('data-delete').click()
    await page.locator('[data-testid="data-item"][data-id^="drawn-shapes-"]').waitFor({ state: 'detached' })
    assert.equal(await count(), before - 1)
    assert.deepEqual(studio.problems, [])
  })
})
