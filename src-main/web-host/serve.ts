// Start the studio core and the web host together: `npm run serve`, and `npm start` when no
// Electron runtime exists. Prints the backend report and the address.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatBackendReport } from '../core/backend-report.ts'
import { locateConfigDir } from '../core/settings.ts'
import { StudioCore } from '../core/studio-core.ts'
import { locateWorkspace, readFlag } from '../core/workspace.ts'
import { startWebHost } from './web-host.ts'
import type { WebHost } from './web-host.ts'
import { loadOrCreateAccessToken } from './access-token.ts'

export const DEFAULT_PORT = 17860

export interface ServeOptions {
  argv: readonly string[]
  env: NodeJS.ProcessEnv
  /** The one line announcing the address; defaults to a plain "serving at" line. */
  announce?: (url: string) => string
}

export async function serveStudio(options: ServeOptions): Promise<{ core: StudioCore; host: WebHost }> {
  const port = parsePort(readFlag(options.argv, '--port') ?? options.env.DI_STUDIO_PORT)
  const workspace = locateWorkspace({ argv: options.argv, env: options.env })
  const configDir = locateConfigDir({ argv: options.argv, env: options.env })
  const core = await StudioCore.create({ workspace, host: 'web', configDir })
  const staticDir = defaultRendererDir()
  let host: WebHost
  try {
    host = await startWebHost(core, { port, staticDir, token: loadOrCreateAccessToken(configDir), tokenKept: true })
  } catch (err) {
    await core.close()
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`Port ${port} on 127.0.0.1 is in use: choose another with --port <n> or DI_STUDIO_PORT (0 = any free port)`)
    }
    throw err
  }
  const report = await core.dispatch('app.getBackendReport', {})
  if (report.ok) for (const line of formatBackendReport(report.result as never)) console.log(line)
  console.log(`Workspace: ${core.workspace.root} (${core.workspace.info.source}); settings in ${configDir}`)
  console.log(options.announce ? options.announce(host.launchUrl) : `DI Studio web host: ${host.launchUrl} (loopback only; the address carries the access token; Ctrl+C stops it)`)

  const stop = (): void => {
    void host.close().then(() => core.close()).then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return { core, host }
}

export function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_PORT
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`Invalid port ${JSON.stringify(value)}: use an integer from 0 (any free port) to 65535`)
  }
  return port
}

/** out/renderer, found from the build (out/main/) or from source (src-main/web-host/). */
export function defaultRendererDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, '..', 'renderer'), join(here, '..', '..', 'out', 'renderer')]
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!
}
