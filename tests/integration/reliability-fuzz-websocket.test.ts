// Fuzzing the real web host on 127.0.0.1: hostile params for every request channel sent as JSON over
// the WebSocket (where NaN and Infinity arrive as null and undefined fields vanish), raw frames that
// are not requests at all (random text and bytes, broken JSON, wrong envelopes, oversized and binary
// frames, one past the hard frame limit that closes the connection), a burst of concurrent requests,
// and /files/ URLs built to escape the workspace. Nothing crashes, every bad message gets a clear
// error, the host keeps serving, and no file outside the workspace is read or written.
// Seeded (FUZZ_SEED); FUZZ_RUNS sets the runs per channel (npm run fuzz).
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { MAX_MESSAGE_BYTES, REQUEST_CHANNELS } from '../../src-main/contract/index.ts'
import type { ServerMessage } from '../../src-main/contract/index.ts'
import { startWebHost } from '../../src-main/web-host/web-host.ts'
import type { WebHost } from '../../src-main/web-host/web-host.ts'
import {
  FUZZ_SEED, Tally, longestErrorMessage, accessesOutside, createFuzzWorld, hostileStrings, isInside, openFuzzCore, paramsArbitrary, prototypeIsClean,
  replyProblem, runsPerChannel, snapshotTree, spyOnFileSystem, unknownChannelArbitrary, withoutWorkspaceSwitch,
} from '../helpers/fuzz-kit.ts'
import type { FsAccess, FuzzCore, FuzzWorld } from '../helpers/fuzz-kit.ts'
import WebSocket from 'ws'
import { TestSocket, wsUrlOf } from '../helpers/studio-fixtures.ts'

const RUNS = runsPerChannel(300)
type ResponseMessage = Extract<ServerMessage, { type: 'response' }>

/**
 * A WebSocket client that keeps no history (a long fuzz sends hundreds of thousands of messages):
 * replies are matched by id, or, for frames the host answers without a usable id, in order.
 */
class FuzzSocket {
  private readonly byId = new Map<string | number, (m: ResponseMessage) => void>()
  private readonly inOrder: ((m: ResponseMessage) => void)[] = []

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage
      if (message.type !== 'response') return
      const waiter = message.id !== null ? this.byId.get(message.id) : undefined
      if (waiter) {
        this.byId.delete(message.id!)
        waiter(message)
      } else this.inOrder.shift()?.(message)
    })
  }

  static open(url: string): Promise<FuzzSocket> {
    const ws = new WebSocket(url)
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new FuzzSocket(ws)))
      ws.once('error', reject)
    })
  }

  private wait(register: (resolve: (m: ResponseMessage) => void) => void, what: string): Promise<ResponseMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${what} within 30 s`)), 30_000)
      register((m) => {
        clearTimeout(timer)
        resolve(m)
      })
    })
  }

  /** Sends a request whose reply carries `id`. */
  request(id: number, text: string): Promise<ResponseMessage> {
    const reply = this.wait((resolve) => this.byId.set(id, resolve), `request ${id}`)
    this.ws.send(text)
    return reply
  }

  /** Sends a frame whose reply has no id of ours: the next such reply is its answer. */
  raw(data: string | Buffer, binary = false): Promise<ResponseMessage> {
    const reply = this.wait((resolve) => this.inOrder.push(resolve), 'a raw frame')
    this.ws.send(data, { binary })
    return reply
  }

  close(): void {
    this.ws.close()
  }
}

describe(`fuzzing the web host over a real WebSocket (${RUNS} payloads per channel, seed ${FUZZ_SEED})`, () => {
  let world: FuzzWorld
  let studio: FuzzCore
  let host: WebHost
  let socket: FuzzSocket
  let staticDir: string
  let sentinelBefore: Record<string, string>
  let spy: { accesses: FsAccess[]; stop: () => void } | null = null
  const tally = new Tally()
  const oldHome = process.env.HOME
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  let nextId = 1

  /** One request; a message over the size limit is answered without its id, so match on order then. */
  function send(channel: unknown, params: unknown): Promise<ResponseMessage> {
    const id = nextId++
    const text = JSON.stringify({ type: 'request', id, channel, params })
    return Buffer.byteLength(text) > MAX_MESSAGE_BYTES ? socket.raw(text) : socket.request(id, text)
  }

  function httpGet(path: string): Promise<{ status: number; body: string }> {
    const target = new URL(host.url)
    return new Promise((resolve, reject) => {
      const req = request({ host: target.hostname, port: target.port, path, agent, headers: { Authorization: `Bearer ${host.token}` } }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString('latin1')))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('error', reject)
      req.end()
    })
  }

  before(async () => {
    world = await createFuzzWorld()
    process.env.HOME = world.home
    sentinelBefore = await snapshotTree(world.sentinel)
    staticDir = join(world.base, 'renderer')
    await mkdir(staticDir)
    await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>stub renderer</title>')
    studio = await openFuzzCore(world)
    host = await startWebHost(studio.core, { port: 0, staticDir, logger: { debug() {}, info() {}, warn() {}, error: (m) => studio.errorLogs.push(m) } })
    assert.match(host.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'loopback only')
    socket = await FuzzSocket.open(wsUrlOf(host))
    spy = spyOnFileSystem()
  })

  after(async () => {
    spy?.stop()
    socket?.close()
    agent.destroy()
    await host?.close()
    await studio?.core.close()
    await world?.remove()
    process.env.HOME = oldHome
    console.log(`web host fuzz, seed ${FUZZ_SEED}: ${tally.total} messages`)
    for (const line of tally.lines()) console.log(line)
    console.log(`  longest error message: ${longestErrorMessage()} characters`)
  })

  it('answers hostile params on every channel with a result or a clear error', async () => {
    const channels = [...REQUEST_CHANNELS].sort((a, b) => Number(a === 'gallery.delete') - Number(b === 'gallery.delete'))
    for (const channel of channels) {
      const arbitrary = paramsArbitrary(channel, world, { jsonOnly: true }).map((p) => withoutWorkspaceSwitch(channel, p))
      await fc.assert(
        fc.asyncProperty(arbitrary, async (params) => {
          const reply = await send(channel, params)
          const problem = replyProblem(reply)
          if (problem) throw new Error(`${channel}: ${problem}`)
          tally.count(channel, reply)
        }),
        { seed: FUZZ_SEED, numRuns: RUNS, endOnFailure: true },
      )
    }
    assert.equal(Object.keys(tally.byChannel).length, REQUEST_CHANNELS.length)
  })

  it('answers raw frames that are not requests with invalid-message, too-large or unknown-channel', async () => {
    const frame = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ data: text as string | Buffer, binary: false })),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ data: Buffer.from(bytes) as string | Buffer, binary: true })),
      fc.jsonValue({ maxDepth: 3 }).map((json) => ({ data: JSON.stringify(json) as string | Buffer, binary: false })),
      fc.record({
        type: fc.constantFrom('request', 'response', 'event', 'hello', '', null, 1),
        id: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.double(), fc.constant(null), fc.constant({})),
        channel: fc.oneof(fc.constantFrom(...REQUEST_CHANNELS), unknownChannelArbitrary()),
        params: fc.jsonValue({ maxDepth: 2 }),
        extra: fc.option(fc.jsonValue({ maxDepth: 1 }), { nil: undefined }),
      }, { requiredKeys: [] }).map((envelope) => ({ data: JSON.stringify(envelope) as string | Buffer, binary: false })),
      fc.constantFrom('{', '{"type":"request"', '[]', 'null', '"x"', '\u0000', '{"type":"request","id":1,"channel":"jobs.list","params":{}}x')
        .map((text) => ({ data: text as string | Buffer, binary: false })),
      fc.integer({ min: MAX_MESSAGE_BYTES + 1, max: MAX_MESSAGE_BYTES * 8 }).map((n) => ({ data: 'x'.repeat(n) as string | Buffer, binary: false })),
    )
    await fc.assert(
      fc.asyncProperty(frame, async ({ data, binary }) => {
        // a frame that happens to be a valid request gets its normal answer, with its own id: still the next reply
        const reply = await socket.raw(data, binary)
        const problem = replyProblem(reply)
        if (problem) throw new Error(`raw frame: ${problem}`)
        tally.count(reply.ok ? '(raw frame: a valid request)' : '(raw frame)', reply)
      }),
      { seed: FUZZ_SEED, numRuns: RUNS * 3, endOnFailure: true },
    )
  })

  it('answers a burst of concurrent requests, good and bad, each by its id', async () => {
    const burst = fc.sample(fc.tuple(fc.constantFrom(...REQUEST_CHANNELS), fc.boolean()), { seed: FUZZ_SEED, numRuns: 400 })
    const replies = await Promise.all(burst.map(([channel, bad], k) => send(channel, bad ? { junk: k, path: '../../etc/passwd' } : {})))
    for (const reply of replies) {
      assert.equal(replyProblem(reply), null)
      tally.count('(concurrent burst)', reply)
    }
  })

  it('a frame over the hard limit closes only that connection; the host keeps serving', async () => {
    const big = await TestSocket.open(wsUrlOf(host))
    const closed = new Promise<number>((resolve) => big.ws.once('close', (code) => resolve(code)))
    big.ws.send('x'.repeat(16 * MAX_MESSAGE_BYTES + 1))
    assert.equal(await closed, 1009)
    const reply = await send('app.getWorkspace', {})
    assert.equal(reply.ok, true)
  })

  it('refuses /files/ URLs that try to leave the workspace, and leaks nothing', async () => {
    const encodings = (s: string): string[] => {
      try {
        return [encodeURI(s), encodeURIComponent(s), s.split('/').map(encodeURIComponent).join('/'), s.replace(/\./g, '%2e').replace(/\//g, '%2f'), `${s}%00.png`, `${s}%2500`]
      } catch {
        return [] // a lone surrogate has no URL encoding
      }
    }
    const paths = hostileStrings(world).flatMap(encodings)
      // node's client refuses to send raw spaces and control characters; those never reach a server
      .filter((p) => p.length < 6000 && /^[\x21-\x7e]*$/.test(p))
    let refused = 0
    for (const path of paths) {
      const res = await httpGet(`/files/${path.replace(/^\/+/, '')}`)
      assert.doesNotMatch(res.body, /sentinel|"secret"|root:x/, `/files/${path} leaked a sentinel file`)
      if (res.status !== 200) refused++
      assert.ok([200, 400, 403, 404].includes(res.status), `/files/${path} -> ${res.status}`)
      tally.count('(GET /files/...)', res.status === 200 ? { ok: true } : { ok: false, error: { code: String(res.status) } })
    }
    assert.ok(refused > paths.length / 2)
    assert.equal((await httpGet('/')).status, 200)
  })

  it('never touched a file outside the workspace; unknown channels and valid requests still answered', async () => {
    const accesses = spy!.accesses
    spy!.stop()
    spy = null
    assert.ok(accesses.length > 100, `the spy saw ${accesses.length} file accesses`)
    assert.deepEqual(accessesOutside(accesses, world, [staticDir]).slice(0, 10), [])
    assert.deepEqual(studio.resolvedPaths.filter((p) => !isInside(world.workspace, p)), [])
    assert.deepEqual(await snapshotTree(world.sentinel), sentinelBefore)
    assert.equal(prototypeIsClean(), null)
    assert.deepEqual(studio.errorLogs, [])
    const unknown = await send('jobs.explode', {})
    assert.equal(unknown.ok === false && unknown.error.code, 'unknown-channel')
    const reply = await send('app.getWorkspace', {})
    assert.ok(reply.ok && (reply.result as { root: string }).root === world.workspace)
  })
})
