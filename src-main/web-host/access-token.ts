// The web host's access token. Loopback alone does not keep other local users or programs out, and a
// connected client can start jobs and switch the workspace to any folder. So the host has a random
// token, prints it inside the address it announces (Jupyter's scheme), and everything that reaches the
// studio (the WebSocket, workspace files, the page itself) needs it. A browser shows it once: the first
// request trades ?token= for an HttpOnly, SameSite=Strict cookie and a redirect to the bare address,
// so the token leaves the address bar and the history.
//
// `npm start` keeps the token in the settings folder, readable by its owner only, so an open page
// reconnects to a restarted studio; another local user cannot read it. Delete the file for a new one.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { atomicWriteFileSync } from '../util/atomic-write.ts'

export const SESSION_COOKIE = 'di-studio-session'
export const TOKEN_QUERY = 'token'

/** 32 random bytes, base64url (43 characters). */
export function newAccessToken(): string {
  return randomBytes(32).toString('base64url')
}

export const TOKEN_FILE = 'web-host-token'
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,256}$/

/** The token kept in `<configDir>/web-host-token`, made (owner read/write only) when missing or malformed. */
export function loadOrCreateAccessToken(configDir: string): string {
  const file = join(configDir, TOKEN_FILE)
  try {
    const kept = readFileSync(file, 'utf8').trim()
    if (TOKEN_SHAPE.test(kept)) return kept
  } catch {
    // missing or unreadable: a new one below
  }
  const token = newAccessToken()
  atomicWriteFileSync(file, `${token}\n`, 0o600)
  return token
}

/** Compares in constant time, so response timing does not leak how much of a guess was right. */
export function tokenMatches(given: string | undefined | null, token: string): boolean {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

export function cookieToken(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** The token a request carries: the session cookie (browsers), ?token= (a first visit, scripts) or an Authorization: Bearer header. */
export function requestTokens(req: IncomingMessage): { cookie?: string; query?: string; bearer?: string } {
  const cookie = cookieToken(req.headers.cookie)
  const query = new URL(req.url ?? '/', 'http://x').searchParams.get(TOKEN_QUERY) ?? undefined
  const auth = req.headers.authorization
  const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined
  return { ...(cookie !== undefined ? { cookie } : {}), ...(query !== undefined ? { query } : {}), ...(bearer !== undefined ? { bearer } : {}) }
}

export function requestAuthorised(req: IncomingMessage, token: string): boolean {
  const { cookie, query, bearer } = requestTokens(req)
  return tokenMatches(cookie, token) || tokenMatches(query, token) || tokenMatches(bearer, token)
}

export function sessionCookie(token: string): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`
}

/**
 * What a browser without the token sees instead of a studio that cannot connect. `kept`: the token is
 * the one kept in the settings folder (loadOrCreateAccessToken), the same at every launch.
 */
export function needsTokenPage(kept: boolean): string {
  const lifetime = kept
    ? `The token stays the same from one launch to the next: it is kept in the file <code>${TOKEN_FILE}</code>
in the studio's settings folder, readable by you only (delete that file to get a new one).`
    : 'This studio made a new token when it started, for this launch only.'
  return `<!doctype html><meta charset="utf-8"><title>DI Studio: access token needed</title>
<body>
<h1>DI Studio needs its access token</h1>
<p>Open the address that <code>npm start</code> (or <code>npm run serve</code>) printed when it started:
it ends in <code>/?token=&hellip;</code>. The token keeps other programs on this computer away from your workspace.</p>
<p>${lifetime}</p></body>`
}
