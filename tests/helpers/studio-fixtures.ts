// Shared test fixtures: a temporary workspace, a core on it, a web host with a stub renderer,
// and a small promise-based WebSocket client.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import type { ServerMessage } from '../../src-main/contract/index.ts'
import { createLogger } from '../../src-main/core/logger.ts'
import type { LogLevel, Logger } from '../../src-main/core/logger.ts'
import { StudioCore } from '../../src-main/core/studio-core.ts'
import { startWebHost } from '../../src-main/web-host/web-host.ts'
import type { WebHost } from '../../src-main/web-host/web-host.ts'

export async function tempDir(prefix = 'di-studio-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

/** A logger that records instead of printing, so tests can check refusals were logged. */
export function recordingLogger(): { logger: Logger; lines: { level: LogLevel; message: string }[] } {
  const lines: { level: LogLevel; message: string }[] = []
  return { logger: createLogger('test', (level, _scope, message) => lines.push({ level, message })), lines }
}

export async function startTestStudio(): Promise<{
  core: StudioCore
  host: WebHost
  workspace: string
  logs: { level: LogLevel; message: string }[]
  close: () => Promise<void>
}> {
  const dir = await tempDir()
  const staticDir = join(dir.path, 'renderer')
  const { mkdir } = await import('node:fs/promises')
  await mkdir(staticDir)
  await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>stub renderer</title>')
  const { logger, lines } = recordingLogger()
  const workspace = join(dir.path, 'workspace')
  const core = await StudioCore.create({ workspace: { root: workspace, source: 'flag' }, host: 'web', logger })
  const host = await startWebHost(core, { port: 0, staticDir, logger })
  return {
    core,
    host,
    workspace,
    logs: lines,
    async close() {
      await host.close()
      await core.close()
      await dir.remove()
    },
  }
}

/** The WebSocket address of a host, with its access token (src-main/web-host/access-token.ts). */
export function wsUrlOf(host: WebHost, token = host.token): string {
  return `${host.url.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}`
}

/** A WebSocket client that keeps every message and can wait for one that matches. */
export class TestSocket {
  readonly messages: ServerMessage[] = []
  private waiters: { match: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = []
  private nextId = 1

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage
      this.messages.push(message)
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(message)) return true
        w.resolve(message)
        return false
      })
    })
  }

  static open(url: string, headers?: Record<string, string>): Promise<TestSocket> {
    const ws = new WebSocket(url, headers ? { headers } : undefined)
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TestSocket(ws)))
      ws.once('error', reject)
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
  }

  waitFor(match: (m: ServerMessage) => boolean, timeoutMs = 20_000): Promise<ServerMessage> {
    const seen = this.messages.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a message')), timeoutMs)
      this.waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) })
    })
  }

  /** Sends a request envelope and resolves with its response. */
  async request(channel: string, params?: unknown): Promise<Extract<ServerMessage, { type: 'response' }>> {
    const id = this.nextId++
    this.ws.send(JSON.stringify({ type: 'request', id, channel, params }))
    return (await this.waitFor((m) => m.type === 'response' && m.id === id)) as Extract<ServerMessage, { type: 'response' }>
  }

  /** Sends raw text or bytes and resolves with the next response that has no usable id. */
  async sendRaw(data: string | Buffer, binary = false): Promise<Extract<ServerMessage, { type: 'response' }>> {
    const before = this.messages.length
    this.ws.send(data, { binary })
    return (await this.waitFor(
      (m) => this.messages.indexOf(m) >= before && m.type === 'response',
    )) as Extract<ServerMessage, { type: 'response' }>
  }

  close(): void {
    this.ws.close()
  }
}
