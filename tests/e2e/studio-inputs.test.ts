// What people type, in Chromium over the web host, on the tiny model (models/tiny, which knows the
// words of "red apple", "black cat", "yellow star", "blue heart"): the Train form refuses out-of-range
// values beside the field, with the same limits as the live sliders; a run's prompt warning stays in
// view; emoji are read as their names and prompts with no known word are flagged; a prompt over the
// limit is flagged and refused in the same words; the seed filter reads ranges and refuses the rest;
// the page without the access token says the token is kept, and it is. Needs `npm run build` first.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { PROMPT_TOO_LONG } from '../../src-main/contract/index.ts'
import { artifacts, chromiumInstalled, fillTinyRunForm, flatTextOf as textOf, openStudio, saveTinyModel, shouldSkip, startLauncher, stopLauncher, TINY_PROMPTS } from './e2e-fixtures.ts'
import type { Studio } from './e2e-fixtures.ts'

describe('inputs in Chromium over the web host', { timeout: 300_000 }, () => {
  const skip = shouldSkip() || !chromiumInstalled
  let studio: Studio
  let page: Page

  before(async () => {
    if (skip) return
    // the page is opened by the second test, after the launcher's restart
    studio = await openStudio({ workspacePrefix: 'di-studio-inputs-', prepare: (ws) => saveTinyModel(ws), viewport: { width: 1280, height: 1000 }, navigate: false })
    page = studio.page
  })

  after(() => studio?.close())

  it('the page without the access token says the token is kept across launches, and the next launch has the same one', { skip }, async () => {
    const bare = await studio.browser.newPage()
    const response = await bare.goto(new URL(studio.server.url).origin)
    assert.equal(response?.status(), 401)
    const body = ((await bare.locator('body').textContent()) ?? '').replace(/\s+/g, ' ')
    assert.match(body, /needs its access token/)
    assert.match(body, /stays the same from one launch to the next/)
    assert.doesNotMatch(body, /changes with every launch/)
    await bare.close()
    const token = new URL(studio.server.url).searchParams.get('token')
    await stopLauncher(studio.server)
    studio.server = await startLauncher(studio.workspace) // the same settings folder (the workspace's .studio-config)
    assert.equal(new URL(studio.server.url).searchParams.get('token'), token, 'the restarted studio keeps the token')
  })

  it('opens the studio', { skip }, async () => {
    await studio.open()
  })

  it('the Train form refuses CFG -50, reward weight 1e9, learning rate 1e6 and a negative reward weight beside each field', { skip }, async () => {
    await fillTinyRunForm(page, { steps: 5, samplesEvery: 5 })
    await page.getByTestId('train-cfg').fill('-50')
    await page.getByTestId('train-reward-weight').fill('1e9')
    await page.getByTestId('train-lr').fill('1e6')
    await page.getByTestId('reward-weight-brightness').fill('-1')
    await page.getByTestId('train-start').click()
    await page.getByTestId('error-cfgScale').waitFor()
    assert.equal(await textOf(page, 'error-cfgScale'), 'CFG scale must be between 0 and 10.')
    assert.equal(await textOf(page, 'error-rewardWeight'), 'Reward weight must be between 0 and 10.')
    assert.equal(await textOf(page, 'error-learningRate'), 'Generator learning rate must be between 0 and 0.01.')
    assert.equal(await textOf(page, 'error-reward-brightness'), 'The Brightness weight must be between 0 and 10.')
    assert.equal(await textOf(page, 'train-start-error'), 'Not started: fix the fields marked above.')
    assert.equal(await page.getByTestId('run-live').count(), 0, 'no run started')
    assert.equal(await page.getByTestId('train-error').count(), 0, 'nothing at the top of the page')
    await page.screenshot({ path: join(artifacts, 'inputs-train-refused.png'), fullPage: true })
    // a corrected field loses its message at once
    await page.getByTestId('train-cfg').fill('4.5')
    await page.getByTestId('error-cfgScale').waitFor({ state: 'detached' })
    assert.equal(await page.getByTestId('error-rewardWeight').count(), 1)
    // 0 grids-every says what it means
    await page.getByTestId('train-samples-every').fill('0')
    assert.equal(await textOf(page, 'note-samplesEvery'), '0: a grid only at the start and at the end')
  })

  it('the Train prompts box has the live word check: an emoji without a known name is flagged', { skip }, async () => {
    await page.getByTestId('train-prompts').fill('🍌')
    await page.getByTestId('train-prompt-check-no-known-words').waitFor({ timeout: 30_000 })
    assert.match(await textOf(page, 'train-prompt-check-no-known-words'), /^No word this model knows in "🍌": it cannot follow that prompt\.$/)
  })

  it('a run keeps its prompt warning in view after later log lines', { skip }, async () => {
    await fillTinyRunForm(page, { steps: 6, samplesEvery: 3, learningRate: '0.001' })
    // the values the test before left wrong
    await page.getByTestId('train-reward-weight').fill('0.1')
    await page.getByTestId('reward-weight-brightness').fill('1')
    await page.getByTestId('train-prompts').fill([...TINY_PROMPTS, 'purple cat'].join('\n'))
    await page.getByTestId('train-start').click()
    await page.getByTestId('run-live').waitFor()
    await page.getByTestId('run-warnings').waitFor({ timeout: 120_000 })
    // the run trains to its end and stops being active: step logs, grids and the save all came after the warning
    await page.locator('[data-testid="run-percent"]', { hasText: '100%' }).waitFor({ timeout: 240_000 })
    await page.getByTestId('run-stop').waitFor({ state: 'detached', timeout: 120_000 })
    assert.match(await textOf(page, 'run-warnings'), /training prompts: not in the model's vocabulary, so read as unknown tokens: purple/)
    await page.screenshot({ path: join(artifacts, 'inputs-run-warning.png'), fullPage: true })
  })

  it('Gallery: emoji are read as their names, prompts with no known word are flagged, and the job says so too', { skip }, async () => {
    await page.getByTestId('nav-gallery').click()
    await page.getByTestId('gallery-model').selectOption('models/tiny')
    await page.getByTestId('gallery-prompts').fill('🍎\n🍎🍌\n!!!')
    await page.getByTestId('gallery-prompt-check-emoji').waitFor({ timeout: 30_000 })
    assert.equal(await textOf(page, 'gallery-prompt-check-emoji'), 'Emoji are read as their names: 🍎 "red apple", 🍌 "banana".')
    assert.equal(await textOf(page, 'gallery-prompt-check-no-known-words'), 'No word this model knows in "!!!": it cannot follow that prompt.')
    await page.getByTestId('gallery-prompts').fill('red apple\n🍎\n!!!')
    await page.getByTestId('gallery-seeds').fill('0-3')
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-job"][data-status="succeeded"]').waitFor({ timeout: 120_000 })
    assert.match(await textOf(page, 'gallery-prompt-notice'), /no word the model knows in "!!!"/)
    await page.locator('[data-testid="gallery-total"]', { hasText: /^12$/ }).waitFor({ timeout: 30_000 })
  })

  it('a prompt over the limit: the hint and the refusal beside Generate say the same, with no schema text', { skip }, async () => {
    const long = `red apple ${'x'.repeat(300)}`
    await page.getByTestId('gallery-prompts').fill(long)
    await page.getByTestId('gallery-prompt-check-too-long').waitFor({ timeout: 30_000 })
    assert.match(await textOf(page, 'gallery-prompt-check-too-long'), new RegExp(`^A prompt is too long \\(".{37}\\.\\.\\."\\): ${PROMPT_TOO_LONG}\\.$`))
    assert.doesNotMatch(await textOf(page, 'gallery-prompt-check'), /the rest is ignored/)
    await page.getByTestId('gallery-generate-start').click()
    await page.getByTestId('gallery-error-prompts').waitFor()
    assert.equal(await textOf(page, 'gallery-error-prompts'), `Prompt 1: ${PROMPT_TOO_LONG}.`)
    assert.equal(await textOf(page, 'gallery-form-error'), 'Not started: fix the fields marked above.')
    const body = (await page.locator('body').textContent()) ?? ''
    assert.doesNotMatch(body, /Invalid params|Too big|expected string/)
    await page.screenshot({ path: join(artifacts, 'inputs-gallery-too-long.png'), fullPage: true })
  })

  it('the seed filter reads ranges as the generate form does and refuses the rest with a message', { skip }, async () => {
    const seed = page.getByTestId('gallery-filter-seed')
    await seed.fill('0-1')
    await page.locator('[data-testid="gallery-total"]', { hasText: /^6$/ }).waitFor({ timeout: 30_000 })
    await seed.fill('abc')
    await page.getByTestId('gallery-filter-seed-error').waitFor()
    assert.equal(await textOf(page, 'gallery-filter-seed-error'), '"abc" is not a seed or a range like 0-15')
    await seed.fill('-5')
    await page.locator('[data-testid="gallery-filter-seed-error"]', { hasText: '"-5" is not a seed: seeds are whole numbers from 0' }).waitFor()
    await seed.fill('2, 3')
    await page.getByTestId('gallery-filter-seed-error').waitFor({ state: 'detached' })
    await page.locator('[data-testid="gallery-total"]', { hasText: /^6$/ }).waitFor({ timeout: 30_000 })
    await seed.fill('')
    await page.locator('[data-testid="gallery-total"]', { hasText: /^12$/ }).waitFor({ timeout: 30_000 })
  })

  it('logged no page errors', { skip }, () => {
    assert.deepEqual(studio.problems, [])
  })
})
