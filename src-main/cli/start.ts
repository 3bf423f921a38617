// `npm start` (after the build): open the Electron studio, or, where no Electron runtime can run,
// serve the same studio on http://127.0.0.1:<port> and say so in one line.
// `npm run serve` passes --web to go straight to the web host.
// Flags: --web, --port <n> (web host; 0 = any free port), --workspace <dir>, --config-dir <dir> (settings.json).
// Env: DI_STUDIO_PORT, DI_STUDIO_HOME, DI_STUDIO_NO_ELECTRON=1 (always use the web host).
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { locateElectronRuntime } from '../electron/locate-runtime.ts'
import { serveStudio } from '../web-host/serve.ts'

/** The package root: two levels up from both out/main/start.js and src-main/cli/start.ts. */
const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

const STARTUP_GRACE_MS = 5_000

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
  const electron = await locateElectronRuntime()
  if (!electron.ok) return serveInstead(argv, electron.reason)
  const startedAt = Date.now()
  let fellBack = false
  const fallBack = (reason: string): void => {
    if (fellBack) return
    fellBack = true
    void serveInstead(argv, reason)
  }
  const child = spawn(electron.binary, [appRoot, ...argv], { stdio: 'inherit' })
  child.on('error', (err) => fallBack(`it failed to start: ${err.message}`))
  child.on('exit', (code, signal) => {
    if (fellBack) return
    // A runtime that dies at once (missing system libraries, no GPU process) gets the web host instead.
    if (code !== 0 && Date.now() - startedAt < STARTUP_GRACE_MS) return fallBack(`it exited at start-up with ${code ?? signal}`)
    process.exit(code ?? (signal ? 1 : 0))
  })
}

main().catch((err: Error) => {
  console.error(`DI Studio could not start: ${err.message}`)
  process.exit(1)
})
