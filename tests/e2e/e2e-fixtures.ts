// Shared pieces of the browser tests (not a test file itself): Chromium flags, the loud skip when
// Chromium is missing, the built launcher started on the web host, a tiny model for fast flows,
// and a frame-time monitor injected into the page.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const launcher = join(repoRoot, 'out', 'main', 'start.js')
export const artifacts = join(repoRoot, 'tests', 'artifacts', 'e2e')
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// Flags that work on these machines: no sandbox as root, no GPU, and no background network traffic.
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]
export const chromiumInstalled = existsSync(chromiumPath)

/** Off CI a missing Chromium skips the browser tests, loudly; under CI it is a failure. */
export function shouldSkip(): boolean {
  if (chromiumInstalled || process.env.CI) return false
  const bar = '!'.repeat(78)
  process.stderr.write(
    `\n${bar}\n!!  BROWSER TESTS NOT RUN: Chromium is not installed at ${chromiumPath}.\n` +
      `!!  Install it with:  sudo apt-get update && sudo apt-get install -y chromium\n` +
      `!!  (or set CHROMIUM_PATH). With CI=true this is a failure.\n${bar}\n\n`,
  )
  return true
}

/** Starts the built launcher with Electron disabled and waits for the one line that gives the address. */
export async function startLauncher(workspace: string, port = 0): Promise<{ child: ChildProcess; url: string; stdout: string[] }> {
  if (!existsSync(launcher)) throw new Error(`${launcher} is missing: run npm run build first (npm test does)`)
  const child = spawn(process.execPath, [launcher, '--port', String(port), '--workspace', workspace], {
    cwd: repoRoot,
    env: { ...process.env, DI_STUDIO_NO_ELECTRON: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: string[] = []
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`launcher printed no address; stdout: ${stdout.join('\n')}`)), 30_000)
    let buffer = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop()!
      for (const line of lines) {
        stdout.push(line)
        const match = /serving DI Studio at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
        if (match) {
          clearTimeout(timer)
          resolve(match[1]!)
        }
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[launcher] ${chunk.toString()}`))
    child.once('exit', (code) => reject(new Error(`launcher exited with ${code}; stdout: ${stdout.join('\n')}`)))
  })
  return { child, url, stdout }
}

export const TINY_PROMPTS = ['red apple', 'black cat', 'yellow star', 'blue heart']

/**
 * Saves a tiny 32x32 DiT (4x4 patches of 8 pixels, width 16, one block) into the workspace's
 * models folder: it trains and samples in milliseconds, and makes 32x32 images the alignment
 * model (and so the preference model) can read.
 */
export async function saveTinyModel(workspace: string, name = 'tiny'): Promise<string> {
  const tf = await import('@tensorflow/tfjs-core')
  await import('@tensorflow/tfjs-backend-cpu')
  await tf.setBackend('cpu')
  const { DiffusionModel } = await import('../../src-main/ml/diffusion/model.ts')
  const { Tokenizer } = await import('../../src-main/ml/text/tokenizer.ts')
  const tokenizer = Tokenizer.build(TINY_PROMPTS, { maxLength: 4 })
  const model = DiffusionModel.create(
    { imageSize: 32, channels: 3, patch: 8, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8 },
    { kind: 'cosine', T: 1000 }, tokenizer, 7,
  )
  const dir = join(workspace, 'models', name)
  await model.save(dir)
  model.dispose()
  return `models/${name}`
}

/**
 * Injected before the page's scripts: records the longest gap between animation frames and every
 * long task, so a test can report how responsive the UI stayed (reported, never asserted).
 */
export const FRAME_MONITOR = `
  window.__frames = { worst: 0, count: 0, longTasks: [] };
  (() => {
    let last = performance.now();
    const tick = (now) => {
      const gap = now - last; last = now;
      if (!document.hidden) { window.__frames.count++; if (gap > window.__frames.worst) window.__frames.worst = gap; }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    try {
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__frames.longTasks.push(Math.round(e.duration)); })
        .observe({ type: 'longtask', buffered: true });
    } catch {}
  })();
`
export interface FrameStats { worst: number; count: number; longTasks: number[] }
