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

export interface LauncherOptions {
  /** Folder of settings.json; default: .studio-config inside the workspace, so tests never read the user's settings. */
  configDir?: string
  /** HOME for the studio (where the default workspace ~/.di-studio lives); default: the caller's. */
  home?: string
}

/**
 * Starts the built launcher with Electron disabled and waits for the one line that gives the address.
 * `workspace` null starts without --workspace: the studio then takes the folder saved in its settings.
 */
export async function startLauncher(workspace: string | null, port = 0, options: LauncherOptions = {}): Promise<{ child: ChildProcess; url: string; stdout: string[] }> {
  if (!existsSync(launcher)) throw new Error(`${launcher} is missing: run npm run build first (npm test does)`)
  const configDir = options.configDir ?? (workspace ? join(workspace, '.studio-config') : undefined)
  if (!configDir) throw new Error('startLauncher: a launch without --workspace needs an explicit configDir')
  const args = [launcher, '--port', String(port), '--config-dir', configDir, ...(workspace ? ['--workspace', workspace] : [])]
  const env: NodeJS.ProcessEnv = { ...process.env, DI_STUDIO_NO_ELECTRON: '1' }
  delete env.DI_STUDIO_HOME
  delete env.DI_STUDIO_CONFIG_DIR
  if (options.home) env.HOME = options.home
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
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

/** Stops a launcher and waits until it has exited (its port and files are free again). */
export async function stopLauncher(server: { child: ChildProcess }): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    server.child.once('exit', () => resolve())
    server.child.kill('SIGTERM')
  })
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
 * Injected before the page's scripts: records every gap between animation frames (rAF deltas) and
 * every long task (PerformanceObserver), so a test can report how responsive the UI stayed while a
 * run streamed: worst, p99 and mean frame time. Reported, never asserted.
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

/** Statement of the page's frame times over a window: the numbers frame-times.json holds. */
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
