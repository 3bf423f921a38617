// The web host: serves the built renderer over HTTP on loopback and carries the IPC contract over a
// WebSocket at /ws, so the same studio runs in a browser. It only forwards to the studio core.
// Malformed, oversized and unknown messages get an error reply; nothing a client sends can crash it.
import { createReadStream, existsSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, relative, isAbsolute, sep } from 'node:path'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { WebSocket, RawData } from 'ws'
import { ClientMessage, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, StudioError, WORKSPACE_FILE_ROUTE, describeIssues } from '../contract/index.ts'
import type { ServerMessage, StudioErrorInfo } from '../contract/index.ts'
import { createLogger } from '../core/logger.ts'
import type { Logger } from '../core/logger.ts'
import type { StudioCore } from '../core/studio-core.ts'
import { findServableFile } from '../core/workspace-files.ts'
import type { ServableFile } from '../core/workspace-files.ts'
import { SECURITY_HEADERS } from './security-headers.ts'
import { needsTokenPage, TOKEN_QUERY, newAccessToken, requestAuthorised, requestTokens, sessionCookie, tokenMatches } from './access-token.ts'

export const WS_PATH = '/ws'
/** Frames above this are dropped by ws itself (connection closed with 1009); smaller oversized ones get an error reply. */
const HARD_FRAME_LIMIT = 16 * MAX_MESSAGE_BYTES

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

export interface WebHostOptions {
  /** 0 picks a free port. */
  port: number
  /** Folder with the built renderer (index.html and assets/). */
  staticDir: string
  logger?: Logger
  /** the access token (access-token.ts); default: a new random one per launch */
  token?: string
  /** the token is the one kept in the settings folder across launches (the page without it says so) */
  tokenKept?: boolean
}

export interface WebHost {
  /** http://127.0.0.1:<port>, without the token */
  readonly url: string
  /** the address to open: url/?token=<token> */
  readonly launchUrl: string
  readonly port: number
  /** every request to the studio needs it: as the session cookie, ?token= or Authorization: Bearer */
  readonly token: string
  close(): Promise<void>
}

export async function startWebHost(core: StudioCore, options: WebHostOptions): Promise<WebHost> {
  const log = options.logger ?? createLogger('web-host')
  if (!existsSync(join(options.staticDir, 'index.html'))) {
    throw new Error(`The renderer is not built (no index.html in ${options.staticDir}): run npm run build`)
  }
  let port = options.port
  const token = options.token ?? newAccessToken()
  if (token.length < 16) throw new Error('startWebHost: the access token must be at least 16 characters')
  const tokenPage = needsTokenPage(options.tokenKept === true && options.token !== undefined)
  const allowedHosts = (): string[] => [`127.0.0.1:${port}`, `localhost:${port}`]
  const allowedOrigins = (): string[] => allowedHosts().map((h) => `http://${h}`)

  const server = createServer((req, res) => {
    serveHttp(req, res, options.staticDir, allowedHosts(), token, tokenPage, (urlPath) => findServableFile(core.workspace, urlPath)).catch((err: Error) => {
      // the path only: a first visit's query holds the access token
      log.error(`HTTP request ${new URL(req.url ?? '/', 'http://x').pathname} failed: ${err.message}`)
      if (!res.headersSent) res.writeHead(500, SECURITY_HEADERS)
      res.end()
    })
  })
  server.on('clientError', (_err, socket) => socket.destroy())

  const wss = new WebSocketServer({ noServer: true, maxPayload: HARD_FRAME_LIMIT })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x')
    // Browsers always send Origin: refuse other sites (cross-site WebSocket hijacking) and foreign
    // Host names (DNS rebinding). Local non-browser clients send no Origin and are allowed.
    // Every client, browser or not, must also show the access token.
    const origin = req.headers.origin
    const hostOk = allowedHosts().includes(req.headers.host ?? '')
    if (url.pathname !== WS_PATH || !hostOk || (origin !== undefined && !allowedOrigins().includes(origin))) {
      log.warn(`Refused WebSocket upgrade (path ${url.pathname}, host ${req.headers.host}, origin ${origin})`)
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n')
      return
    }
    if (!requestAuthorised(req, token)) {
      log.warn(`Refused WebSocket upgrade without the access token (port ${req.socket.remotePort})`)
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  })

  const clients = new Set<WebSocket>()
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const who = `ws ${req.socket.remotePort}`
    clients.add(ws)
    ws.on('close', () => clients.delete(ws))
    ws.on('error', (err) => log.warn(`${who}: ${err.message}`))
    send(ws, { type: 'hello', protocol: PROTOCOL_VERSION })
    ws.on('message', (data: RawData, isBinary: boolean) => {
      void handleMessage(ws, data, isBinary, who)
    })
  })

  async function handleMessage(ws: WebSocket, data: RawData, isBinary: boolean, who: string): Promise<void> {
    const refuse = (id: string | number | null, error: StudioErrorInfo): void => {
      log.warn(`Refused message from ${who}: ${error.message}`)
      send(ws, { type: 'response', id, ok: false, error })
    }
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
    if (bytes.length > MAX_MESSAGE_BYTES) {
      return refuse(null, { code: 'too-large', message: `Message of ${bytes.length} bytes exceeds the limit of ${MAX_MESSAGE_BYTES}` })
    }
    if (isBinary) return refuse(null, { code: 'invalid-message', message: 'Binary messages are not part of the contract; send JSON text' })
    let json: unknown
    try {
      json = JSON.parse(bytes.toString('utf8'))
    } catch {
      return refuse(null, { code: 'invalid-message', message: 'Message is not valid JSON' })
    }
    const envelope = ClientMessage.safeParse(json)
    if (!envelope.success) {
      const id = recoverId(json)
      return refuse(id, { code: 'invalid-message', message: `Not a request envelope: ${describeIssues(envelope.error)}` })
    }
    const { id, channel, params } = envelope.data
    const response = await core.dispatch(channel, params, who)
    send(ws, { type: 'response', id, ...response })
  }

  const unsubscribe = core.onEvent((event) => {
    const message: ServerMessage = { type: 'event', channel: event.channel, payload: event.payload }
    for (const ws of clients) send(ws, message)
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  log.debug(`Listening on ${url}`)

  return {
    url,
    launchUrl: `${url}/?${TOKEN_QUERY}=${token}`,
    port,
    token,
    async close() {
      unsubscribe()
      for (const ws of clients) ws.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function send(ws: WebSocket, message: ServerMessage): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message))
}

/** Echo the id of a malformed request when it has a usable one, so the client can match the error. */
function recoverId(json: unknown): string | number | null {
  if (typeof json !== 'object' || json === null || !('id' in json)) return null
  const id = (json as { id: unknown }).id
  return (typeof id === 'string' && id.length <= 64) || Number.isInteger(id) ? (id as string | number) : null
}

async function serveHttp(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  allowedHosts: string[],
  token: string,
  tokenPage: string,
  findFile: (urlPath: string) => Promise<ServableFile>,
): Promise<void> {
  if (!allowedHosts.includes(req.headers.host ?? '')) {
    res.writeHead(403, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain' })
    res.end('Forbidden host')
    return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...SECURITY_HEADERS, Allow: 'GET, HEAD' })
    res.end()
    return
  }
  const rawPath = new URL(req.url ?? '/', 'http://x').pathname
  if (rawPath.startsWith(WORKSPACE_FILE_ROUTE)) {
    if (!requestAuthorised(req, token)) {
      res.writeHead(401, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' })
      res.end('Workspace files need the access token')
      return
    }
    return serveWorkspaceFile(req, res, rawPath.slice(WORKSPACE_FILE_ROUTE.length), findFile)
  }
  // The page: a first visit trades ?token= for the session cookie; without either, a page that says
  // where the token is. The scripts and styles under /assets/ hold no secrets and are served to all.
  if (rawPath === '/' || rawPath === '/index.html') {
    const given = requestTokens(req)
    if (given.query !== undefined) {
      if (tokenMatches(given.query, token)) {
        res.writeHead(303, { ...SECURITY_HEADERS, Location: '/', 'Set-Cookie': sessionCookie(token), 'Cache-Control': 'no-store' })
        res.end()
        return
      }
    } else if (tokenMatches(given.cookie, token) || tokenMatches(given.bearer, token)) {
      return serveStatic(req, res, root, rawPath)
    }
    res.writeHead(401, { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : tokenPage)
    return
  }
  return serveStatic(req, res, root, rawPath)
}

async function serveStatic(req: IncomingMessage, res: ServerResponse, root: string, rawPath: string): Promise<void> {
  let pathname: string
  try {
    pathname = decodeURIComponent(rawPath)
  } catch {
    res.writeHead(400, SECURITY_HEADERS)
    res.end()
    return
  }
  if (pathname.endsWith('/')) pathname += 'index.html'
  const file = normalize(join(root, pathname))
  const rel = relative(root, file)
  const notFound = (): void => {
    res.writeHead(404, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain' })
    res.end('Not found')
  }
  if (pathname.includes('\0') || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return notFound()
  const info = await stat(file).catch(() => null)
  if (!info?.isFile()) return notFound()
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
    'Content-Length': info.size,
    // Vite hashes asset names, so they can be cached; index.html must always be fresh.
    'Cache-Control': file.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
  })
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  streamFile(file, res)
}

/** A file that vanishes or fails mid-read ends that response, never the process. */
function streamFile(path: string, res: ServerResponse): void {
  createReadStream(path)
    .on('error', () => res.destroy())
    .pipe(res)
}

/** /files/<path>: a file from the workspace, for <img> and fetch() in the page. */
async function serveWorkspaceFile(
  req: IncomingMessage,
  res: ServerResponse,
  urlPath: string,
  findFile: (urlPath: string) => Promise<ServableFile>,
): Promise<void> {
  let file: ServableFile
  try {
    file = await findFile(urlPath)
  } catch (err) {
    const status = err instanceof StudioError ? (err.code === 'not-found' ? 404 : 403) : 500
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' })
    res.end(err instanceof StudioError ? err.message : 'Internal error')
    return
  }
  res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': file.mime, 'Content-Length': file.size, 'Cache-Control': 'no-cache' })
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  streamFile(file.path, res)
}
