// The web host over a real socket: static files with security headers, the contract over
// WebSocket (good and bad messages), and a demo job with progress and cancel.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { MAX_MESSAGE_BYTES } from '../../src-main/contract/index.ts'
import type { ServerMessage } from '../../src-main/contract/index.ts'
import { TestSocket, startTestStudio, wsUrlOf } from '../helpers/studio-fixtures.ts'

type Studio = Awaited<ReturnType<typeof startTestStudio>>

function httpGet(url: string, options: { method?: string; path?: string; host?: string; headers?: Record<string, string> } = {}) {
  const target = new URL(url)
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: { ...(options.host ? { host: options.host } : {}), ...options.headers },
      },
      (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('web host: HTTP', () => {
  let studio: Studio
  before(async () => (studio = await startTestStudio()))
  after(() => studio.close())

  it('serves index.html on 127.0.0.1 with a strict CSP and hardening headers', async () => {
    assert.match(studio.host.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await httpGet(studio.host.url, { headers: { Cookie: `di-studio-session=${studio.host.token}` } })
    assert.equal(res.status, 200)
    assert.match(res.body, /stub renderer/)
    const csp = String(res.headers['content-security-policy'])
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    assert.equal(res.headers['x-content-type-options'], 'nosniff')
  })

  it('the page needs the access token: ?token= is traded for an HttpOnly, SameSite=Strict cookie and a redirect', async () => {
    const { token, launchUrl, url } = studio.host
    assert.equal(launchUrl, `${url}/?token=${token}`)
    assert.match(token, /^[\w-]{43}$/)
    const bare = await httpGet(url)
    assert.equal(bare.status, 401)
    assert.match(bare.body, /needs its access token/)
    assert.doesNotMatch(bare.body, /stub renderer/)
    assert.match(String(bare.headers['content-security-policy']), /default-src 'none'/)
    assert.equal((await httpGet(url, { path: `/?token=${token.slice(0, -1)}x` })).status, 401)
    assert.equal((await httpGet(url, { headers: { Cookie: 'di-studio-session=guess' } })).status, 401)
    const first = await httpGet(url, { path: `/?token=${token}` })
    assert.equal(first.status, 303)
    assert.equal(first.headers.location, '/')
    assert.deepEqual(first.headers['set-cookie'], [`di-studio-session=${token}; Path=/; HttpOnly; SameSite=Strict`])
    assert.equal((await httpGet(url, { headers: { Cookie: `other=1; di-studio-session=${token}` } })).status, 200)
    assert.equal((await httpGet(url, { headers: { Authorization: `Bearer ${token}` } })).status, 200)
  })

  it('refuses traversal, other methods and foreign Host headers', async () => {
    for (const path of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/nope.js', '/%00']) {
      const res = await httpGet(studio.host.url, { path })
      assert.ok(res.status === 404 || res.status === 400, `${path} -> ${res.status}`)
      assert.doesNotMatch(res.body, /root:/)
    }
    assert.equal((await httpGet(studio.host.url, { method: 'POST' })).status, 405)
    assert.equal((await httpGet(studio.host.url, { method: 'PUT', path: '/files/x.json' })).status, 405)
    assert.equal((await httpGet(studio.host.url, { host: 'evil.example' })).status, 403)
  })
})

describe('web host: workspace files', () => {
  let studio: Studio
  before(async () => {
    studio = await startTestStudio()
    const { mkdir, writeFile } = await import('node:fs/promises')
    const { join } = await import('node:path')
    await mkdir(join(studio.workspace, 'runs', 'r1'), { recursive: true })
    await writeFile(join(studio.workspace, 'runs', 'r1', 'metrics.json'), '{"loss":0.5}')
    await writeFile(join(studio.workspace, 'runs', 'r1', 'notes.html'), '<script>alert(1)</script>')
  })
  after(() => studio.close())
  const auth = () => ({ Cookie: `di-studio-session=${studio.host.token}` })

  it('needs the access token, as the session cookie or a bearer header', async () => {
    const path = '/files/runs/r1/metrics.json'
    const bare = await httpGet(studio.host.url, { path })
    assert.equal(bare.status, 401)
    assert.doesNotMatch(bare.body, /loss/)
    assert.equal((await httpGet(studio.host.url, { path, headers: { Cookie: 'di-studio-session=nope' } })).status, 401)
    assert.equal((await httpGet(studio.host.url, { path, headers: { Authorization: `Bearer ${studio.host.token}` } })).status, 200)
  })

  it('serves data and images from the workspace under /files/ with the security headers', async () => {
    const res = await httpGet(studio.host.url, { path: '/files/runs/r1/metrics.json', headers: auth() })
    assert.equal(res.status, 200)
    assert.equal(res.body, '{"loss":0.5}')
    assert.match(String(res.headers['content-type']), /application\/json/)
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'/)
  })

  it('refuses escapes and unserved types, and reports missing files', async () => {
    assert.equal((await httpGet(studio.host.url, { path: '/files/..%2F..%2F..%2Fetc%2Fpasswd.txt', headers: auth() })).status, 403)
    assert.equal((await httpGet(studio.host.url, { path: '/files/runs/r1/notes.html', headers: auth() })).status, 403)
    assert.equal((await httpGet(studio.host.url, { path: '/files/runs/r1/none.json', headers: auth() })).status, 404)
    const raw = await httpGet(studio.host.url, { path: '/files/../../../../etc/passwd', headers: auth() })
    assert.ok(raw.status === 404 || raw.status === 403)
    assert.doesNotMatch(raw.body, /root:/)
  })
})

describe('web host: WebSocket contract', () => {
  let studio: Studio
  let socket: TestSocket
  let wsUrl: string
  before(async () => {
    studio = await startTestStudio()
    wsUrl = wsUrlOf(studio.host)
    socket = await TestSocket.open(wsUrl)
  })
  after(async () => {
    socket.close()
    await studio.close()
  })

  it('greets with the protocol version and answers good requests', async () => {
    assert.deepEqual(await socket.waitFor((m) => m.type === 'hello'), { type: 'hello', protocol: 1 })
    const ws = await socket.request('app.getWorkspace')
    assert.ok(ws.ok)
    assert.equal((ws.result as { root: string }).root, studio.workspace)
    const report = await socket.request('app.getBackendReport', {})
    assert.ok(report.ok)
  })

  it('answers malformed, unknown, invalid and binary messages with errors and stays up', async () => {
    const cases: [string | Buffer, string, boolean?][] = [
      ['not json at all', 'invalid-message'],
      ['{"type":"request","id":1', 'invalid-message'],
      ['null', 'invalid-message'],
      ['[]', 'invalid-message'],
      ['"just a string"', 'invalid-message'],
      [JSON.stringify({ type: 'request', channel: 'jobs.list' }), 'invalid-message'],
      [JSON.stringify({ type: 'request', id: { nested: true }, channel: 'jobs.list' }), 'invalid-message'],
      [JSON.stringify({ type: 'request', id: 'x', channel: 'jobs.list', evil: 1 }), 'invalid-message'],
      [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'invalid-message', true],
    ]
    for (const [data, code, binary] of cases) {
      const response = await socket.sendRaw(data, binary)
      assert.equal(response.ok, false, String(data))
      assert.equal(!response.ok && response.error.code, code, String(data))
    }
    const unknown = await socket.request('fs.readFile', { path: '/etc/passwd' })
    assert.equal(!unknown.ok && unknown.error.code, 'unknown-channel')
    const invalid = await socket.request('jobs.start', { kind: 'demo', params: { samples: Number.MAX_VALUE } })
    assert.equal(!invalid.ok && invalid.error.code, 'invalid-params')
    const outside = await socket.request('jobs.start', { kind: 'demo', params: { saveResultAs: '../../etc/passwd' } })
    assert.equal(!outside.ok && outside.error.code, 'forbidden')
    // The same socket still works, and refusals were logged.
    assert.ok((await socket.request('jobs.list')).ok)
    assert.ok(studio.logs.some((l) => l.level === 'warn' && /Refused/.test(l.message)))
  })

  it('refuses oversized messages with an error, and survives frames beyond the hard limit', async () => {
    const big = JSON.stringify({ type: 'request', id: 99, channel: 'jobs.list', params: { pad: 'x'.repeat(MAX_MESSAGE_BYTES) } })
    const response = await socket.sendRaw(big)
    assert.equal(!response.ok && response.error.code, 'too-large')
    assert.ok((await socket.request('jobs.list')).ok)

    const victim = await TestSocket.open(wsUrl)
    const closed = new Promise<number>((resolve) => victim.ws.once('close', (code) => resolve(code)))
    victim.ws.send('x'.repeat(20 * MAX_MESSAGE_BYTES))
    assert.equal(await closed, 1009) // "message too big": ws drops that connection only
    assert.ok((await socket.request('jobs.list')).ok)
  })

  it('refuses WebSocket upgrades without the access token (query, cookie or bearer header)', async () => {
    const bare = wsUrl.replace(/\?token=.*$/, '')
    await assert.rejects(TestSocket.open(bare), /401/)
    await assert.rejects(TestSocket.open(wsUrlOf(studio.host, 'x'.repeat(43))), /401/)
    await assert.rejects(TestSocket.open(bare, { Cookie: 'di-studio-session=stale' }), /401/)
    for (const headers of [{ Cookie: `di-studio-session=${studio.host.token}` }, { Authorization: `Bearer ${studio.host.token}` }] as Record<string, string>[]) {
      const ok = await TestSocket.open(bare, headers)
      assert.deepEqual(await ok.waitFor((m) => m.type === 'hello'), { type: 'hello', protocol: 1 })
      ok.close()
    }
    assert.ok(studio.logs.some((l) => l.level === 'warn' && /without the access token/.test(l.message)))
  })

  it('refuses WebSocket upgrades from other origins, hosts and paths', async () => {
    const port = new URL(studio.host.url).port
    await assert.rejects(TestSocket.open(wsUrl, { Origin: 'https://evil.example' }), /403/)
    await assert.rejects(TestSocket.open(wsUrl, { Host: `evil.example:${port}` }), /403/)
    await assert.rejects(TestSocket.open(wsUrl.replace('/ws', '/other')), /403/)
    const sameOrigin = await TestSocket.open(wsUrl, { Origin: studio.host.url })
    sameOrigin.close()
  })

  it('runs a demo job with progress to 100 % and cancels another, events reaching every client', async () => {
    const watcher = await TestSocket.open(wsUrl)
    const isEvent = (channel: string, jobId: string) => (m: ServerMessage) =>
      m.type === 'event' && m.channel === channel && (m.payload as { jobId: string }).jobId === jobId

    const started = await socket.request('jobs.start', { kind: 'demo', params: { samples: 200_000, chunks: 5 } })
    assert.ok(started.ok)
    const { jobId } = started.result as { jobId: string }
    const done = await watcher.waitFor(isEvent('job.done', jobId))
    assert.equal((done as { payload: { status: string } }).payload.status, 'succeeded')
    const fractions = watcher.messages.filter(isEvent('job.progress', jobId)).map((m) => (m as { payload: { fraction: number } }).payload.fraction)
    assert.equal(fractions.at(-1), 1)

    const long = await socket.request('jobs.start', { kind: 'demo', params: { samples: 2_000_000_000, chunks: 10_000 } })
    assert.ok(long.ok)
    const longId = (long.result as { jobId: string }).jobId
    await socket.waitFor(isEvent('job.progress', longId))
    const cancel = await socket.request('jobs.cancel', { jobId: longId })
    assert.ok(cancel.ok)
    const cancelled = await watcher.waitFor(isEvent('job.done', longId))
    assert.equal((cancelled as { payload: { status: string } }).payload.status, 'cancelled')
    const again = await socket.request('jobs.cancel', { jobId: longId })
    assert.equal(!again.ok && again.error.code, 'conflict')
    watcher.close()
  })

  it('answers every one of a few hundred random and mutated messages, and stays up', async () => {
    // Seeded, so a failure reproduces. Issue 8's fuzzing goes much further; this guards the basics.
    let state = 12345
    const rand = (n: number) => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) % n)
    const junk = (): unknown => {
      const pool: unknown[] = [null, true, -0, 1e308, -1, 2 ** 53, 'x'.repeat(rand(3000)), '../../etc/passwd', '\u0000', [], {}, { __proto__: { a: 1 } }, [[[[]]]]]
      return pool[rand(pool.length)]
    }
    const channels = ['jobs.start', 'jobs.cancel', 'jobs.control', 'jobs.list', 'app.getWorkspace', 'nope', '', '__proto__']
    const before = socket.messages.filter((m) => m.type === 'response').length
    let sent = 0
    for (let i = 0; i < 300; i++) {
      const envelope: Record<string, unknown> = { type: rand(10) ? 'request' : junk(), id: rand(10) ? 10_000 + i : junk(), channel: channels[rand(channels.length)] }
      envelope.params = rand(2)
        ? { kind: rand(2) ? 'demo' : junk(), params: { samples: junk(), chunks: junk(), saveResultAs: junk() }, jobId: junk(), control: { type: junk(), values: { k: junk() } } }
        : junk()
      if (envelope.channel === 'jobs.start' && rand(2)) continue // do not flood the queue with real jobs
      let text = JSON.stringify(envelope)
      if (rand(4) === 0) text = text.slice(0, rand(text.length)) // truncated
      socket.ws.send(text)
      sent++
    }
    await socket.waitFor(() => socket.messages.filter((m) => m.type === 'response').length >= before + sent, 30_000)
    const answers = socket.messages.filter((m) => m.type === 'response').slice(before)
    assert.equal(answers.length, sent)
    for (const a of answers) assert.ok(a.type === 'response' && (a.ok || a.error.message.length > 0))
    assert.ok((await socket.request('app.getWorkspace')).ok)
  })

  it('keeps serving after a client disconnects abruptly mid-request', async () => {
    const rude = new WebSocket(wsUrl)
    await new Promise((resolve) => rude.once('open', resolve))
    rude.send(JSON.stringify({ type: 'request', id: 1, channel: 'app.getBackendReport' }))
    rude.terminate()
    assert.ok((await socket.request('jobs.list')).ok)
  })
})
