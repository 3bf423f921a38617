// Shared by the UI bench (bench/ui.ts) and the browser tests (tests/e2e): a frame-time monitor injected
// into the page, its summary, and a tiny DiT that trains and samples in milliseconds, so a DI* run
// streams metrics fast enough to load the renderer.
import { join } from 'node:path'
import type { Page } from 'playwright-core'

/**
 * Injected before the page's scripts: records every gap between animation frames (rAF deltas) and
 * every long task (PerformanceObserver). Hidden pages are not counted (rAF stops there).
 */
export const FRAME_MONITOR = `
  window.__frames = { gaps: [], longTasks: [] };
  (() => {
    let last = performance.now();
    const tick = (now) => {
      const gap = now - last; last = now;
      if (!document.hidden && window.__frames.gaps.length < 200000) window.__frames.gaps.push(gap);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    try {
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__frames.longTasks.push(Math.round(e.duration)); })
        .observe({ type: 'longtask', buffered: true });
    } catch {}
  })();
`
export interface FrameSamples { gaps: number[]; longTasks: number[] }

/** A page's frame times over a window: what frame-times.json and the bench report. */
export interface FrameTimeReport {
  frames: number
  worstMs: number
  p99Ms: number
  p95Ms: number
  meanMs: number
  framesOver50Ms: number
  framesOver100Ms: number
  longTasks: number
  longTasksMs: number[]
}

export function summariseFrames(samples: FrameSamples): FrameTimeReport {
  const gaps = [...samples.gaps].sort((a, b) => a - b)
  const quantile = (q: number) => (gaps.length === 0 ? 0 : gaps[Math.min(gaps.length - 1, Math.ceil(q * gaps.length) - 1)]!)
  const round = (x: number) => Math.round(x * 10) / 10
  return {
    frames: gaps.length,
    worstMs: round(gaps.at(-1) ?? 0),
    p99Ms: round(quantile(0.99)),
    p95Ms: round(quantile(0.95)),
    meanMs: round(gaps.length === 0 ? 0 : gaps.reduce((a, b) => a + b, 0) / gaps.length),
    framesOver50Ms: gaps.filter((g) => g > 50).length,
    framesOver100Ms: gaps.filter((g) => g > 100).length,
    longTasks: samples.longTasks.length,
    longTasksMs: samples.longTasks.slice(0, 200),
  }
}

export const TINY_PROMPTS = ['red apple', 'black cat', 'yellow star', 'blue heart']

/**
 * Saves a tiny 32x32 DiT (4x4 patches of 8 pixels, width 16, one block) as `models/<name>` of a
 * workspace, on whatever TensorFlow.js backend is active. Returns the workspace path of the model.
 */
export async function saveTinyDit(workspace: string, name = 'tiny'): Promise<string> {
  const { saveTinyDit: saveDit } = await import('../../reliability/tiny-run.ts')
  await saveDit(join(workspace, 'models', name), TINY_PROMPTS, { imageSize: 32, patch: 8, width: 16, depth: 1 })
  return `models/${name}`
}

/**
 * Fills the Train view's form for a DI* run on the tiny model (saved by saveTinyDit as models/tiny) with
 * the brightness reward, batch 2 and the tiny prompts; the caller presses Start.
 */
export async function fillTinyRunForm(page: Page, opts: { steps: number; samplesEvery: number; learningRate?: string }): Promise<void> {
  await page.getByTestId('nav-train').click()
  await page.getByTestId('base-model').selectOption('models/tiny')
  await page.getByTestId('reward-alignment').uncheck()
  await page.getByTestId('reward-brightness').check()
  await page.getByTestId('train-prompts').fill(TINY_PROMPTS.join('\n'))
  await page.getByTestId('train-steps').fill(String(opts.steps))
  await page.getByTestId('train-batch').fill('2')
  await page.getByTestId('train-samples-every').fill(String(opts.samplesEvery))
  if (opts.learningRate !== undefined) await page.getByTestId('train-lr').fill(opts.learningRate)
}
