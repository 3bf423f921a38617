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
        const match = /serving DI Studio at (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(line)
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

export { fillTinyRunForm, FRAME_MONITOR, summariseFrames, TINY_PROMPTS } from '../../src-main/bench/tasks/ui-fixtures.ts'
export type { FrameSamples, FrameTimeReport } from '../../src-main/bench/tasks/ui-fixtures.ts'

/**
 * Saves the tiny DiT (src-main/bench/tasks/ui-fixtures.ts) into the workspace's models folder, on the
 * cpu backend: it trains and samples in milliseconds, and makes 32x32 images the alignment model
 * (and so the preference model) can read.
 */
export async function saveTinyModel(workspace: string, name = 'tiny'): Promise<string> {
  const tf = await import('@tensorflow/tfjs-core')
  await import('@tensorflow/tfjs-backend-cpu')
  await tf.setBackend('cpu')
  const { saveTinyDit } = await import('../../src-main/bench/tasks/ui-fixtures.ts')
  return saveTinyDit(workspace, name)
}
