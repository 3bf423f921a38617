// Renderer responsiveness in Chromium while a DI* run streams metrics and sample grids: the studio core
// and web host run in this process on a temporary workspace with a tiny model, Chromium (playwright-core,
// like the browser tests) starts a run from the Train view, and the page records its frame times
// (requestAnimationFrame deltas) and long tasks. Needs `npm run build` (the served renderer) and Chromium
// at /usr/bin/chromium or CHROMIUM_PATH. Heavy modules load inside run(), so listing benches stays cheap.
import { existsSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import type { BenchEntry } from './harness/registry.ts'

export const benches: BenchEntry[] = [
  {
    name: 'UI frame times while a DI* run streams (Chromium)',
    async run(ctx) {
      const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
      if (!existsSync(chromiumPath)) throw new Error(`Chromium not found at ${chromiumPath} (install it or set CHROMIUM_PATH)`)
      const { defaultRendererDir, startWebHost, StudioCore, createLogger, FRAME_MONITOR, fillTinyRunForm, saveTinyDit, summariseFrames } = await loadParts()
      const staticDir = defaultRendererDir()
      if (!existsSync(join(staticDir, 'index.html'))) throw new Error(`the renderer is not built (${staticDir}): run npm run build`)
      const { chromium } = await import('playwright-core')
      const { mkdtemp, rm } = await import('node:fs/promises')
      const { tmpdir } = await import('node:os')

      const seconds = ctx.quick ? 8 : 30
      const root = await mkdtemp(join(tmpdir(), 'di-studio-ui-bench-'))
      const quiet = createLogger('ui-bench', () => {})
      const core = await StudioCore.create({ workspace: { root, source: 'flag' }, host: 'web', logger: quiet })
      const host = await startWebHost(core, { port: 0, staticDir, logger: quiet })
      const browser = await chromium.launch({
        executablePath: chromiumPath,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      })
      try {
        await saveTinyDit(root)
        const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
        await page.addInitScript(FRAME_MONITOR)
        await page.goto(host.launchUrl)
        await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor()
        await fillTinyRunForm(page, { steps: 100000, samplesEvery: 5 })
        await page.getByTestId('train-start').click()
        const chart = page.getByTestId('metric-chart')
        await page.waitForFunction(() => Number(document.querySelector('[data-testid="metric-chart"]')?.getAttribute('data-points')) > 3, null, { timeout: 120_000 })
        ctx.log(`run streaming; measuring frames for ${seconds} s`)
        const stepsBefore = Number(await chart.getAttribute('data-points'))
        const load = loadavg()[0]!
        await page.evaluate(() => Object.assign(window.__frames, { gaps: [], longTasks: [] }))
        await page.waitForTimeout(seconds * 1000)
        const frames = summariseFrames(await page.evaluate(() => window.__frames))
        const updates = Number(await chart.getAttribute('data-points')) - stepsBefore
        await page.getByTestId('run-stop').click()
        const context = `${frames.frames} frames in ${seconds} s, ${updates} metric updates streamed, load ${load.toFixed(1)} on ${availableParallelism()} cores`
        return [
          { name: 'UI worst frame while streaming', value: frames.worstMs, unit: 'ms', notes: context },
          { name: 'UI p99 frame while streaming', value: frames.p99Ms, unit: 'ms', notes: `p95 ${frames.p95Ms} ms` },
          { name: 'UI mean frame while streaming', value: frames.meanMs, unit: 'ms', notes: '16.7 ms = 60 frames/s' },
          { name: 'UI frames over 100 ms', value: frames.framesOver100Ms, unit: 'frames', notes: `${frames.framesOver50Ms} over 50 ms` },
          { name: 'UI long tasks while streaming', value: frames.longTasks, unit: 'tasks', notes: frames.longTasksMs.length ? `longest ${Math.max(...frames.longTasksMs)} ms` : 'none' },
        ]
      } finally {
        await browser.close()
        await host.close()
        await core.close()
        await rm(root, { recursive: true, force: true })
      }
    },
  },
]

// Bodies of page.evaluate run in the page; these give them types without the DOM lib.
declare const document: { querySelector(selector: string): { getAttribute(name: string): string | null } | null }
declare const window: { __frames: { gaps: number[]; longTasks: number[] } }

async function loadParts() {
  const [{ defaultRendererDir }, { startWebHost }, { StudioCore }, { createLogger }, fixtures] = await Promise.all([
    import('../web-host/serve.ts'),
    import('../web-host/web-host.ts'),
    import('../core/studio-core.ts'),
    import('../core/logger.ts'),
    import('./tasks/ui-fixtures.ts'),
  ])
  return { defaultRendererDir, startWebHost, StudioCore, createLogger, ...fixtures }
}
