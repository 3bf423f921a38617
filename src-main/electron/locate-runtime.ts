// Find the Electron runtime for the launcher without loading it. Electron's npm package fetches
// its binary lazily (require('electron') would try to), so look for it ourselves, then try the
// download once; offline that fails within a second. Imports nothing from 'electron'.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const requireHere = createRequire(import.meta.url)

export type ElectronLookup = { ok: true; binary: string } | { ok: false; reason: string }

export function locateElectronRuntime(env: NodeJS.ProcessEnv = process.env, platform = process.platform): ElectronLookup {
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
    const install = spawnSync(process.execPath, [join(pkgDir, 'install.js')], { stdio: 'pipe', timeout: 300_000, env })
    binary = locate()
    if (install.status !== 0 || !binary || !existsSync(binary)) {
      return { ok: false, reason: 'its runtime is not downloaded and the download failed (offline?)' }
    }
  }
  if (platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    return { ok: false, reason: 'there is no display (DISPLAY and WAYLAND_DISPLAY are unset)' }
  }
  return { ok: true, binary }
}
