// Find the Electron runtime for the launcher without loading it. Electron's npm package fetches
// its binary lazily (require('electron') would try to), so look for it ourselves, then try the
// download once; offline that fails within a second. Imports nothing from 'electron'.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const requireHere = createRequire(import.meta.url)

export type ElectronLookup = { ok: true; binary: string } | { ok: false; reason: string }

/** Say so when the first-start download takes a while; offline it fails before this and stays silent. */
const DOWNLOAD_NOTICE_AFTER_MS = 1_500

export async function locateElectronRuntime(
  env: NodeJS.ProcessEnv = process.env,
  platform = process.platform,
  notify: (line: string) => void = (line) => console.log(line),
): Promise<ElectronLookup> {
  if (env.DI_STUDIO_NO_ELECTRON) return { ok: false, reason: 'DI_STUDIO_NO_ELECTRON is set' }
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
    const status = await runElectronInstall(join(pkgDir, 'install.js'), env, notify)
    binary = locate()
    if (status !== 0 || !binary || !existsSync(binary)) {
      return { ok: false, reason: 'its runtime is not downloaded and the download failed (offline?)' }
    }
  }
  if (platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    return { ok: false, reason: 'there is no display (DISPLAY and WAYLAND_DISPLAY are unset)' }
  }
  return { ok: true, binary }
}

/** Runs Electron's own install.js (the lazy binary download); resolves with its exit status. */
export function runElectronInstall(script: string, env: NodeJS.ProcessEnv, notify: (line: string) => void): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { stdio: 'ignore', env })
    const notice = setTimeout(() => notify('Downloading the Electron runtime (first start only)...'), DOWNLOAD_NOTICE_AFTER_MS)
    const kill = setTimeout(() => child.kill(), 300_000)
    const done = (status: number | null): void => {
      clearTimeout(notice)
      clearTimeout(kill)
      resolve(status)
    }
    child.once('error', () => done(null))
    child.once('exit', (code) => done(code))
  })
}
