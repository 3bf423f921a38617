// The web host's access token: kept in the settings folder for the owner only, reused across launches,
// replaced when damaged; compared in constant time; read from cookie, query or bearer header.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, stat, writeFile } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TOKEN_FILE, cookieToken, loadOrCreateAccessToken, needsTokenPage, requestAuthorised, tokenMatches } from '../../src-main/web-host/access-token.ts'

test('the token is made once, readable by its owner only, and reused; a damaged file gets a new one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'access-token-'))
  try {
    const configDir = join(dir, 'settings') // not there yet
    const first = loadOrCreateAccessToken(configDir)
    assert.match(first, /^[\w-]{43}$/)
    const file = join(configDir, TOKEN_FILE)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    assert.equal(loadOrCreateAccessToken(configDir), first, 'the next launch keeps it, so an open page reconnects')
    assert.notEqual(loadOrCreateAccessToken(join(dir, 'other')), first, 'each settings folder has its own')
    await writeFile(file, 'short\n')
    const replaced = loadOrCreateAccessToken(configDir)
    assert.notEqual(replaced, 'short')
    assert.match(replaced, /^[\w-]{43}$/)
    assert.equal((await readFile(file, 'utf8')).trim(), replaced)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('a request is authorised by the session cookie, ?token= or a bearer header carrying the exact token', () => {
  const token = 'a'.repeat(43)
  const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) }) as unknown as IncomingMessage
  assert.ok(requestAuthorised(req('/ws', { Cookie: `x=1; di-studio-session=${token}` }), token))
  assert.ok(requestAuthorised(req(`/ws?token=${token}`), token))
  assert.ok(requestAuthorised(req('/ws', { Authorization: `Bearer ${token}` }), token))
  for (const bad of [req('/ws'), req('/ws?token='), req(`/ws?token=${token}b`), req('/ws', { Cookie: `di-studio-session=${token.slice(1)}` }), req('/ws', { Authorization: token })]) {
    assert.equal(requestAuthorised(bad, token), false, JSON.stringify(bad))
  }
  assert.equal(tokenMatches(undefined, token), false)
  assert.equal(tokenMatches(token, token), true)
  assert.equal(cookieToken('a=b; di-studio-session = xyz ;c=d'), 'xyz')
  assert.equal(cookieToken(undefined), undefined)
})

test('the page without the token says how long the token lasts: kept across launches when it is the settings folder\'s', () => {
  const kept = needsTokenPage(true)
  assert.match(kept, /needs its access token/)
  assert.match(kept, /stays the same from one launch to the next/)
  assert.ok(kept.includes(`<code>${TOKEN_FILE}</code>`), 'names the file that keeps it')
  assert.doesNotMatch(kept, /changes with every launch/)
  assert.match(needsTokenPage(false), /for this launch only/)
})
