// `npm start` (after the build): open the Electron studio, or, where no Electron runtime can run,
// serve the same studio on http://127.0.0.1:<port> and say so in one line.
// `npm run serve` passes --web to go straight to the web host.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serveStudio } from '../web-host/serve.ts'

const requireHere = createRequire(import.meta.url)
/** The package root: two levels up from both out/main/start.js and src-main/cli/start.ts. */
const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

type ElectronLookup = { ok: true; binary: string } | { ok: false; reason: string }

/**
 * Electron's npm package fetches its binary lazily. Look for it without triggering that
 * (require('electron') would), then try the download once; offline it fails within a second.
 */
export function findElectron(env: NodeJS.ProcessEnv = process.env): ElectronLookup {
  let pkgDir: string
  try {
    pkgDir = dirname(requireHere.resolve('electron/package.json'))
  } catch {
    return { ok: false, reason: 'the electron package is not installed' }
  }
  const locate = (): string | null => {
    const pathFile = join(pkgDir, 'path.txt')
    const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : null
    if (env.ELECTRON_OVERRIDE_DIST_PATH) return join(env.ELECTRON_OVERRIDE_DIST_PATH, relative ?? 'electron')
    return relative ? join(pkgDir, 'dist', relative) : null
  }
  let binary = locate()
  if (!binary || !existsSync(binary)) {
    const install = spawnSync(process.execPath, [join(pkgDir, 'install.js')], { stdio: 'pipe', timeout: 300_000, env })
    binary = locate()
    if (install.status !== 0 || !binary || !existsSync(binary)) {
      return { ok: false, reason: 'its runtime is not downloaded and the download failed (offline?)' }
    }
  }
  if (process.platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    return { ok: false, reason: 'there is no display (DISPLAY and WAYLAND_DISPLAY are unset)' }
  }
  return { ok: true, binary }
}

async function serveInstead(argv: string[], reason: string | null): Promise<void> {
  await serveStudio({
    argv,
    env: process.env,
    ...(reason ? { announce: (url: string) => `Electron is unavailable (${reason}): serving DI Studio at ${url} instead; open it in a browser.` } : {}),
  })
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv.includes('--web')) return serveInstead(argv, null)
  const electron = findElectron()
  if (!electron.ok) return serveInstead(argv, electron.reason)
  const child = spawn(electron.binary, [appRoot, ...argv], { stdio: 'inherit' })
  child.on('error', (err) => {
    void serveInstead(argv, `it failed to start: ${err.message}`)
  })
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
}

main().catch((err: Error) => {
  console.error(`DI Studio could not start: ${err.message}`)
  process.exit(1)
})
