// Shared pieces of the browser tests (not a test file itself): Chromium flags, the loud skip when
// Chromium is missing, the built launcher started on the web host, the studio opened in Chromium on a
// temporary workspace (openStudio), a tiny model for fast flows, and a frame-time monitor injected
// into the page.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import type { Browser, Page, Response } from 'playwright-core'

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

export type Launcher = Awaited<ReturnType<typeof startLauncher>>

export interface OpenStudioOptions {
  /** Prefix of the temporary folder (under the system's temp folder) that close() removes. */
  workspacePrefix: string
  /** The workspace is this folder inside the temporary one (not made here); default: the temporary folder itself. */
  workspaceIn?: string
  /** Fills the workspace (models, runs, files) before the launcher starts; `root` is the temporary folder. */
  prepare?: (workspace: string, root: string) => Promise<unknown>
  /** Launcher options, from the temporary folder (e.g. a settings folder and HOME inside it). */
  launcherOptions?: (root: string) => LauncherOptions
  /** Default 1280 x 900. */
  viewport?: { width: number; height: number }
  acceptDownloads?: boolean
  /** A script run in the page before the studio's own (e.g. FRAME_MONITOR). */
  initScript?: string
  /** Go to the studio's address (plus `hash`, e.g. '#/train') and wait for its connection; default true. */
  navigate?: boolean
  hash?: string
  /** Record console errors and CSP violations as problems, besides page errors; default true. */
  consoleErrors?: boolean
  /** Console lines that are expected (e.g. failed WebSocket connects while a test restarts the host). */
  ignoreConsole?: RegExp
}

export interface Studio {
  /** The temporary folder (removed by close()). */
  root: string
  workspace: string
  /** The running launcher: a test that restarts it puts the new one here, and close() stops that one. */
  server: Launcher
  browser: Browser
  page: Page
  /** Page errors, console errors and CSP violations seen so far. */
  problems: string[]
  /** Goes to the current launcher's address plus `hash` and waits until the studio's connection is open. */
  open(hash?: string): Promise<Response | null>
  /** Closes the browser, stops the launcher and removes the temporary folder. */
  close(): Promise<void>
}

/**
 * The setup of a browser test: a temporary workspace (filled by `prepare`), the built launcher on it,
 * Chromium with one page whose page errors, console errors and CSP violations go into `problems`, and
 * (unless `navigate` is false) that page on the studio with its connection open. If any of it fails,
 * what was started is stopped again before the error is thrown.
 */
export async function openStudio(options: OpenStudioOptions): Promise<Studio> {
  const root = await mkdtemp(join(tmpdir(), options.workspacePrefix))
  const workspace = options.workspaceIn ? join(root, options.workspaceIn) : root
  const problems: string[] = []
  const made: Partial<Pick<Studio, 'server' | 'browser'>> = {}
  const close = async (): Promise<void> => {
    await made.browser?.close()
    if (made.server) await stopLauncher(made.server)
    await rm(root, { recursive: true, force: true })
  }
  try {
    await mkdir(artifacts, { recursive: true })
    await options.prepare?.(workspace, root)
    made.server = await startLauncher(workspace, 0, options.launcherOptions?.(root))
    made.browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS })
    const context = await made.browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 }, acceptDownloads: options.acceptDownloads })
    const page = await context.newPage()
    if (options.initScript) await page.addInitScript(options.initScript)
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    if (options.consoleErrors !== false) {
      page.on('console', (msg) => {
        if (options.ignoreConsole?.test(msg.text())) return
        if (msg.type() === 'error' || /Content Security Policy/i.test(msg.text())) problems.push(`console: ${msg.text()}`)
      })
    }
    const studio: Studio = {
      root,
      workspace,
      get server() { return made.server! },
      set server(server: Launcher) { made.server = server },
      browser: made.browser,
      page,
      problems,
      async open(hash = '') {
        const response = await page.goto(`${made.server!.url}${hash}`)
        await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor()
        return response
      },
      close,
    }
    if (options.navigate !== false) await studio.open(options.hash)
    return studio
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
}

/** The trimmed text of the first element with this data-testid. */
export async function textOf(page: Page, testId: string): Promise<string> {
  return ((await page.getByTestId(testId).first().textContent()) ?? '').trim()
}

/** textOf with every run of white space (line breaks included) as one space. */
export async function flatTextOf(page: Page, testId: string): Promise<string> {
  return (await textOf(page, testId)).replace(/\s+/g, ' ')
}

/** Sets a range input the way a user's drag ends: input events, then change. */
export async function moveSlider(page: Page, testId: string, value: number): Promise<void> {
  await page.getByTestId(testId).evaluate((el, v) => {
    const input = el as unknown as { value: string; dispatchEvent(e: unknown): boolean }
    input.value = String(v)
    input.dispatchEvent(new Event('input', { bubbles: true }))
    input.dispatchEvent(new Event('change', { bubbles: true }))
  }, value)
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
