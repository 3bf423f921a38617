// Settings end to end in Chromium over the web host: the backend and thread settings are saved, survive a
// reload and reach the next jobs (a gallery job reports 1 onnxruntime thread, a DI* run trains on the chosen
// backend); the runs list shows a new run while it trains and moves its step count from the job's events;
// the workspace switch is blocked while a job runs, refuses bad folders with the reason, moves the gallery
// and runs to the new folder and back; a restart opens the saved folder, and a corrupt settings file
// starts on the defaults with a visible warning. Needs `npm run build` first (npm test does it).
import assert from 'node:assert/strict'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { artifacts, chromiumInstalled, fillTinyRunForm, openStudio, saveTinyModel, shouldSkip, startLauncher, stopLauncher, textOf, TINY_PROMPTS } from './e2e-fixtures.ts'
import type { Studio } from './e2e-fixtures.ts'

interface PageElement { getAttribute(name: string): string | null; textContent: string | null }
declare const document: { querySelector(selector: string): PageElement | null }

describe('settings in Chromium over the web host', { timeout: 300_000 }, () => {
  const skip = shouldSkip() || !chromiumInstalled
  let studio: Studio
  let home: string
  let workspaceA: string
  let workspaceB: string
  let configDir: string
  let page: Page

  async function openSettings(): Promise<void> {
    await page.getByTestId('nav-settings').click()
    await page.getByTestId('settings-tf-backend').waitFor()
  }

  async function switchWorkspace(folder: string): Promise<void> {
    await page.getByTestId('settings-workspace-input').fill(folder)
    await page.getByTestId('settings-workspace-apply').click()
  }

  before(async () => {
    if (skip) return
    studio = await openStudio({
      workspacePrefix: 'di-studio-settings-', // the studio's HOME, holding ws-a, ws-b and the settings folder
      workspaceIn: 'ws-a',
      prepare: async (ws) => {
        await mkdir(ws)
        await saveTinyModel(ws)
      },
      launcherOptions: (root) => ({ configDir: join(root, 'config'), home: root }),
      ignoreConsole: /WebSocket connection to .* failed/, // the studio restarts in one test
    })
    home = studio.root
    workspaceA = studio.workspace
    workspaceB = join(home, 'ws-b')
    configDir = join(home, 'config')
    page = studio.page
  })

  after(() => studio?.close())

  it('saves the backend and thread settings, keeps them over a reload, and the next gallery job uses them', { skip }, async () => {
    await openSettings()
    assert.match(await textOf(page, 'settings-file'), /defaults; your first change is saved to/)
    const backends = await page.getByTestId('settings-tf-backend').locator('option').evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value))
    assert.ok(backends.includes('cpu'), `cpu is offered: ${backends.join(', ')}`)
    await page.getByTestId('settings-tf-backend').selectOption('cpu')
    await page.locator('[data-testid="settings-notice"]', { hasText: 'Saved.' }).waitFor()
    await page.getByTestId('settings-onnx-threads').selectOption('1')
    await page.waitForFunction(() => !document.querySelector('[data-testid="settings-saving"]'))
    await page.getByTestId('settings-training-threads').selectOption('2')
    await page.waitForFunction(() => !document.querySelector('[data-testid="settings-saving"]'))
    assert.equal(await textOf(page, 'settings-notice'), 'Saved.')

    await page.reload()
    await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor()
    await openSettings()
    await page.waitForFunction(() => (document.querySelector('[data-testid="settings-tf-backend"]') as unknown as { value: string } | null)?.value === 'cpu')
    assert.equal(await page.getByTestId('settings-onnx-threads').inputValue(), '1')
    assert.equal(await page.getByTestId('settings-training-threads').inputValue(), '2')
    assert.match(await textOf(page, 'settings-file'), /saved in/)
    const saved = JSON.parse(await readFile(join(configDir, 'settings.json'), 'utf8'))
    assert.equal(saved.tfBackend, 'cpu')
    assert.equal(saved.onnxThreads, 1)
    assert.equal(saved.trainingThreads, 2)

    await page.getByTestId('nav-gallery').click()
    await page.getByTestId('gallery-model').selectOption('models/tiny')
    await page.getByTestId('gallery-prompts').fill(TINY_PROMPTS.slice(0, 2).join('\n'))
    await page.getByTestId('gallery-seeds').fill('0-1')
    await page.getByTestId('gallery-generate-start').click()
    await page.locator('[data-testid="gallery-job"][data-status="succeeded"]').waitFor({ timeout: 120_000 })
    assert.match(await textOf(page, 'gallery-job-runtime'), /onnxruntime cpu, 1 thread/)
    await page.locator('[data-testid="gallery-total"]', { hasText: /^4$/ }).waitFor({ timeout: 30_000 })
  })

  it('lists a new run while it trains, moves its step count live, and trains on the chosen backend', { skip }, async () => {
    await fillTinyRunForm(page, { steps: 2000, samplesEvery: 50 })
    await page.getByTestId('train-start').click()
    await page.locator('[data-testid="run-status"]', { hasText: 'running' }).waitFor({ timeout: 120_000 })
    const runId = await page.getByTestId('run-live').getAttribute('data-run-id')
    assert.ok(runId)
    // no Refresh click: the row arrives and its step count moves from the core's events
    const steps = page.locator(`[data-testid="run-row"][data-run-id="${runId}"] [data-testid="run-row-steps"]`)
    await steps.waitFor({ timeout: 60_000 })
    const first = Number(await steps.getAttribute('data-step'))
    await page.waitForFunction(
      ([id, step]) => Number(document.querySelector(`[data-testid="run-row"][data-run-id="${id}"] [data-testid="run-row-steps"]`)?.getAttribute('data-step')) > Number(step) + 2,
      [runId, first] as const,
      { timeout: 120_000 },
    )
    assert.equal(await textOf(page, 'run-backend'), 'cpu')
    // the Settings choice of the first test: each step's gradients on 2 threads (data-parallel workers)
    assert.equal(await textOf(page, 'run-threads'), '2')
    assert.match(await page.locator(`[data-testid="run-row"][data-run-id="${runId}"] [data-testid="run-row-state"]`).textContent() ?? '', /^running/)

    // the workspace cannot move while the run trains
    await openSettings()
    await page.getByTestId('settings-workspace-busy').waitFor()
    assert.match(await textOf(page, 'settings-workspace-busy'), /1 job is queued or running: stop it/)
    assert.ok(await page.getByTestId('settings-workspace-apply').isDisabled())

    await page.getByTestId('nav-train').click()
    await page.getByTestId('run-stop').click()
    await page.locator('[data-testid="run-status"]', { hasText: /^stopped, saved at step \d+$/ }).waitFor({ timeout: 60_000 })
    await page.locator(`[data-testid="run-row"][data-run-id="${runId}"][data-state="stopped"]`).waitFor({ timeout: 30_000 })
  })

  it('switches the workspace: refuses bad folders with the reason, then shows the new folder\'s gallery and runs, and back', { skip }, async () => {
    await openSettings()
    await switchWorkspace('relative/folder')
    assert.match(await textOf(page, 'settings-error'), /must be an absolute path/)
    await switchWorkspace(home) // holds ws-a and config: not a workspace, not empty
    await page.locator('[data-testid="settings-error"]', { hasText: 'is not empty and is not a DI Studio workspace' }).waitFor()
    assert.equal(await textOf(page, 'workspace-root'), workspaceA)

    await switchWorkspace(workspaceB)
    await page.locator('[data-testid="settings-notice"]', { hasText: `Now using the workspace ${workspaceB}` }).waitFor()
    assert.equal(await textOf(page, 'workspace-root'), workspaceB)
    assert.equal(await page.getByTestId('settings-error').count(), 0)
    await page.screenshot({ path: join(artifacts, 'view-settings-edit.png'), fullPage: true })

    await page.getByTestId('nav-gallery').click()
    await page.locator('[data-testid="gallery-total"]', { hasText: /^0$/ }).waitFor()
    await page.getByTestId('nav-train').click()
    await page.getByText('No runs in this workspace yet.').waitFor()
    await page.getByText('No jobs yet.').waitFor()

    await openSettings()
    await page.getByTestId('settings-workspace-reset').click()
    await page.locator('[data-testid="workspace-root"]', { hasText: workspaceA }).waitFor()
    await page.getByTestId('nav-gallery').click()
    await page.locator('[data-testid="gallery-total"]', { hasText: /^4$/ }).waitFor()
    await page.getByTestId('nav-train').click()
    await page.getByTestId('run-row').first().waitFor()

    await openSettings()
    await switchWorkspace(workspaceB)
    await page.locator('[data-testid="workspace-root"]', { hasText: workspaceB }).waitFor()
  })

  it('opens the saved workspace with the saved settings after a restart, and warns about a corrupt settings file', { skip }, async () => {
    await stopLauncher(studio.server)
    studio.server = await startLauncher(null, 0, { configDir, home }) // no --workspace: the saved folder applies
    await studio.open()
    await openSettings()
    await page.locator('[data-testid="workspace-root"]', { hasText: workspaceB }).waitFor()
    assert.equal(await page.getByTestId('settings-tf-backend').inputValue(), 'cpu')
    assert.equal(await page.getByTestId('settings-warning').count(), 0)

    await stopLauncher(studio.server)
    await writeFile(join(configDir, 'settings.json'), '{ "workspace": "/half-writ')
    studio.server = await startLauncher(null, 0, { configDir, home })
    await studio.open()
    await openSettings()
    await page.getByTestId('settings-warning').waitFor()
    assert.match(await textOf(page, 'settings-warning'), /is not valid JSON; using the defaults/)
    assert.equal(await textOf(page, 'workspace-root'), join(home, '.di-studio'))
    assert.equal(await page.getByTestId('settings-tf-backend').inputValue(), 'auto')
  })

  it('logged no page errors and no CSP violations', { skip }, () => {
    assert.deepEqual(studio.problems, [])
  })
})
