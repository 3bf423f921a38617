// A new user's walk through every view, for a session to look at the product (not a test: tests/run.ts
// runs only *.test.ts files). It builds nothing: it starts the built web host (out/main/start.js --web)
// on a fresh temporary workspace and config folder with the SHIPPED models (resources/models), opens
// Debian's Chromium through playwright-core, and walks:
//   landing view with its first-run hint; Train (a DI* run of 6 steps at batch 4, samples every 2, to
//   the end, then a sample opened large); Gallery (4 images for two prompts, one zoomed, one deleted
//   after the confirmation, Export and "Export these"); Compare (a small comparison with its scores);
//   Prefer (a few choices); Data (a folder of 24 shapes with .txt captions, drawn here into a temporary
//   folder with one caption left empty, imported, its preview, statistics and report seen, then deleted
//   after the confirmation); Settings.
// A full-page screenshot after each step goes into <outdir>; every page error, console error and
// failed request (or HTTP status >= 400) is recorded, printed at the end, and makes the exit code 1.
// A step that does not finish in its time is recorded too, and the walk goes on.
//
//   npm run build && npx tsx tests/helpers/walk-views.ts <outdir>
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import { CHROMIUM_ARGS, chromiumPath, launcher, repoRoot, textOf } from '../e2e/e2e-fixtures.ts'
import { drawShape, encodeShape, writeShapesDataset } from './shapes-dataset.ts'

const MINUTE = 60_000

const outArg = process.argv[2]
if (!outArg) {
  console.error('usage: npx tsx tests/helpers/walk-views.ts <outdir>   (after npm run build)')
  process.exit(2)
}
const outdir = resolve(outArg)
if (!existsSync(launcher)) {
  console.error(`${launcher} is missing: run npm run build first`)
  process.exit(2)
}
if (!existsSync(chromiumPath)) {
  console.error(`Chromium is not at ${chromiumPath} (install it with apt-get install chromium, or set CHROMIUM_PATH)`)
  process.exit(2)
}

const problems: string[] = []
const screenshots: string[] = []
const started = Date.now()
const say = (line: string) => console.log(`[walk ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`)

/** Starts `start.js --web --port 0` and waits for the line with its address (token included). */
async function startHost(workspace: string, configDir: string): Promise<{ child: ChildProcess; url: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.DI_STUDIO_HOME
  delete env.DI_STUDIO_CONFIG_DIR
  const child = spawn(process.execPath, [launcher, '--web', '--port', '0', '--workspace', workspace, '--config-dir', configDir], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[host] ${chunk.toString()}`))
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('the web host printed no address within 60 s')), MINUTE)
    let buffer = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      // "DI Studio web host: <url> (...)" with --web ("serving DI Studio at <url>" when it stands in for Electron)
      const match = /(?:DI Studio web host:|serving DI Studio at) (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(buffer)
      if (match) {
        clearTimeout(timer)
        resolveUrl(match[1]!)
      }
    })
    child.once('exit', (code) => reject(new Error(`the web host exited with ${code}: ${buffer}`)))
  }).catch((err: Error) => {
    child.kill('SIGTERM') // a host that never said where it listens is not left running
    throw err
  })
  return { child, url }
}

let shot = 0
async function screenshot(page: Page, name: string): Promise<void> {
  const path = join(outdir, `${String(++shot).padStart(2, '0')}-${name}.png`)
  await page.screenshot({ path, fullPage: true })
  screenshots.push(path)
  say(`screenshot ${path}`)
}

/** One step of the walk: its failure is recorded (with a screenshot of where it stood) and the walk goes on. */
async function step(page: Page, name: string, action: () => Promise<void>): Promise<void> {
  say(`${name}…`)
  try {
    await action()
  } catch (err) {
    problems.push(`step "${name}" did not finish: ${(err as Error).message.split('\n')[0]}`)
    say(`step "${name}" did not finish`)
  }
  await screenshot(page, name).catch((err: Error) => problems.push(`screenshot after "${name}": ${err.message}`))
}

async function main(): Promise<void> {
  await mkdir(outdir, { recursive: true })
  const workspace = await mkdtemp(join(tmpdir(), 'di-studio-walk-'))
  const configDir = await mkdtemp(join(tmpdir(), 'di-studio-walk-config-'))
  const host = await startHost(workspace, configDir).catch(async (err: Error) => {
    await rm(workspace, { recursive: true, force: true })
    await rm(configDir, { recursive: true, force: true })
    throw err
  })
  say(`web host at ${host.url.replace(/token=.*/, 'token=…')}, workspace ${workspace}`)
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS })
  let pictures = '' // the folder the Data view imports, drawn by the walk
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
    const page = await context.newPage()
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`)
    })
    page.on('requestfailed', (req) => problems.push(`failed request: ${req.method()} ${req.url().replace(/token=[\w-]+/, 'token=…')} (${req.failure()?.errorText ?? 'no reason'})`))
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`failed request: ${res.request().method()} ${res.url().replace(/token=[\w-]+/, 'token=…')} answered ${res.status()}`)
    })

    await step(page, 'landing-first-run-hint', async () => {
      await page.goto(host.url)
      await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor({ timeout: MINUTE })
      await page.getByTestId('first-run-hint').waitFor({ timeout: MINUTE })
    })

    let runId = ''
    await step(page, 'train-form-filled', async () => {
      await page.getByTestId('nav-train').click()
      await page.getByLabel('Run name').fill('first walk')
      await page.getByTestId('train-steps').fill('6')
      await page.getByTestId('train-batch').fill('4')
      await page.getByTestId('train-samples-every').fill('2')
    })
    await step(page, 'train-running', async () => {
      await page.getByTestId('train-start').click()
      const live = page.getByTestId('run-live')
      await live.waitFor({ timeout: MINUTE })
      runId = (await live.getAttribute('data-run-id')) ?? ''
      await page.getByTestId('sample-image').waitFor({ timeout: 10 * MINUTE })
    })
    await step(page, 'train-finished', async () => {
      await page.locator(`[data-testid="run-row"][data-run-id="${runId}"][data-state="completed"]`).waitFor({ timeout: 30 * MINUTE })
      await page.locator('[data-testid="sample-step"]', { hasText: /^6$/ }).waitFor({ timeout: MINUTE })
    })
    await step(page, 'train-sample-zoomed', async () => {
      const image = page.getByTestId('sample-image')
      await image.click({ position: { x: 10, y: 10 } }) // the first cell of the grid
      await page.getByTestId('zoom').waitFor({ timeout: MINUTE })
      say(`zoomed: "${await textOf(page, 'zoom-prompt')}" (${await textOf(page, 'zoom-detail')})`)
    })
    await page.keyboard.press('Escape')

    await step(page, 'gallery-generated', async () => {
      await page.getByTestId('nav-gallery').click()
      await page.getByTestId('gallery-prompts').fill('a red apple\na black cat')
      await page.getByTestId('gallery-seeds').fill('0-1')
      say(`Gallery model: ${await page.getByTestId('gallery-model').inputValue()}`)
      await page.getByTestId('gallery-generate-start').click()
      await page.locator('[data-testid="gallery-total"]', { hasText: /^4$/ }).waitFor({ timeout: 15 * MINUTE })
      await page.getByTestId('gallery-cell').first().click()
    })
    await step(page, 'gallery-zoomed', async () => {
      await page.getByTestId('meta-zoom').click()
      await page.getByTestId('zoom-image').waitFor({ timeout: MINUTE })
    })
    await page.keyboard.press('Escape')
    await step(page, 'gallery-delete-asks', async () => {
      await page.getByTestId('meta-delete').click()
      await page.getByTestId('meta-delete-confirm').waitFor({ timeout: MINUTE })
    })
    await step(page, 'gallery-deleted', async () => {
      await page.getByTestId('meta-delete-yes').click()
      await page.locator('[data-testid="gallery-total"]', { hasText: /^3$/ }).waitFor({ timeout: MINUTE })
    })
    await step(page, 'gallery-exported', async () => {
      await page.getByTestId('gallery-cell').first().click()
      const one = page.waitForEvent('download', { timeout: MINUTE })
      await page.getByTestId('meta-export').click()
      say(`Export downloaded ${(await one).suggestedFilename()}`)
      const all = page.waitForEvent('download', { timeout: 5 * MINUTE })
      await page.getByTestId('gallery-export-all').click()
      say(`Export these downloaded ${(await all).suggestedFilename()}`)
      await page.getByTestId('gallery-notice').waitFor({ timeout: MINUTE })
      say(`notice: ${await textOf(page, 'gallery-notice')}`)
    })

    await step(page, 'compare-results', async () => {
      await page.getByTestId('nav-compare').click()
      say(`Compare: ${await page.getByTestId('compare-generator').inputValue()} against ${await page.getByTestId('compare-reference').inputValue()}`)
      await page.getByTestId('compare-prompts').fill('a red apple\na black cat')
      await page.getByTestId('compare-seeds').fill('0')
      await page.getByTestId('compare-steps').fill('4')
      await page.getByTestId('compare-start').click()
      await page.getByTestId('compare-image').nth(3).waitFor({ timeout: 15 * MINUTE })
      await page.getByTestId('compare-score').first().waitFor({ timeout: 15 * MINUTE })
    })

    await step(page, 'prefer-choices', async () => {
      await page.getByTestId('nav-prefer').click()
      await page.getByTestId('prefer-a').waitFor({ timeout: MINUTE })
      say(`Prefer: ${await textOf(page, 'prefer-source')}`)
      for (let n = 1; n <= 4; n++) {
        if ((await page.getByTestId('prefer-a').count()) === 0) break
        await page.keyboard.press(n % 2 ? '1' : '2')
        await page.locator('[data-testid="prefer-count"]', { hasText: new RegExp(`^${n}$`) }).waitFor({ timeout: MINUTE })
      }
      say(`choices stored: ${await textOf(page, 'prefer-count')}`)
    })

    await step(page, 'data-imported', async () => {
      pictures = await mkdtemp(join(tmpdir(), 'di-studio-walk-pictures-'))
      await writeShapesDataset(pictures, 24, 'kohya')
      // one picture whose caption is empty: the import skips it and its report says why
      await writeFile(join(pictures, 'uncaptioned.png'), await encodeShape(drawShape('square', 'blue', 'right', 10), 'png'))
      await writeFile(join(pictures, 'uncaptioned.txt'), '\n')
      await page.getByTestId('nav-data').click()
      await page.getByTestId('view-data').waitFor({ timeout: MINUTE })
      await page.getByTestId('data-folder').fill(pictures)
      await page.getByTestId('data-name').fill('Drawn shapes')
      await page.getByTestId('data-import-start').click()
      await page.getByTestId('data-title').filter({ hasText: 'Drawn shapes' }).waitFor({ timeout: 10 * MINUTE })
      await page.getByTestId('data-cell').first().waitFor({ timeout: MINUTE })
      say(`Data: ${await textOf(page, 'data-count-items')} images (${(await textOf(page, 'data-count-split')).replace(/\s+/g, ' ')}), ${await page.getByTestId('data-cell').count()} in the preview, skipped ${await textOf(page, 'data-count-skipped')}`)
      const rows = await page.getByTestId('data-report-row').evaluateAll((trs) => trs.map((tr) => (tr as unknown as { cells: ArrayLike<{ textContent: string | null }> }).cells).map((cells) => Array.from(cells, (td) => td.textContent ?? '').join(': ')))
      say(`report: ${(await textOf(page, 'data-report-count')).replace(/\s+/g, ' ')} ${rows.join(' | ')}`)
    })
    await step(page, 'data-delete-asks', async () => {
      await page.getByTestId('data-delete').click()
      await page.getByTestId('data-delete-confirm').waitFor({ timeout: MINUTE })
    })
    await step(page, 'data-deleted', async () => {
      await page.getByTestId('data-delete').click()
      await page.locator('[data-testid="data-item"][data-id^="drawn-shapes-"]').waitFor({ state: 'detached', timeout: MINUTE })
    })

    await step(page, 'settings', async () => {
      await page.getByTestId('nav-settings').click()
      await page.getByTestId('view-settings').waitFor({ timeout: MINUTE })
    })
  } finally {
    await browser.close()
    await new Promise<void>((done) => {
      if (host.child.exitCode !== null || host.child.signalCode !== null) return done()
      host.child.once('exit', () => done())
      host.child.kill('SIGTERM')
    })
    await rm(workspace, { recursive: true, force: true })
    await rm(configDir, { recursive: true, force: true })
    if (pictures) await rm(pictures, { recursive: true, force: true })
  }
}

main()
  .catch((err: Error) => problems.push(`the walk stopped: ${err.message}`))
  .finally(() => {
    console.log(`\nScreenshots (${screenshots.length}) in ${outdir}:`)
    for (const path of screenshots) console.log(`  ${path}`)
    if (problems.length === 0) {
      console.log('\nNo page errors, console errors or failed requests.')
      process.exit(0)
    }
    console.log(`\n${problems.length} problem(s):`)
    for (const p of problems) console.log(`  - ${p}`)
    process.exit(1)
  })
