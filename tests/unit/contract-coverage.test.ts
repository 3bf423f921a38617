// Every contract channel has a handler in the core, in Electron main, in the web host, a verb in
// the preload and a method in the renderer client, and nothing exists outside the contract.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { IpcMainInvokeEvent } from 'electron'
import { EVENT_CHANNELS, JOB_KIND_INFO, REQUEST_CHANNELS, REQUEST_VERBS, StartJobParams } from '../../src-main/contract/index.ts'
import { jobRunners } from '../../src-main/core/jobs/kinds/index.ts'
import { registerIpcHandlers } from '../../src-main/electron/ipc.ts'
import { createPreloadApi } from '../../src-main/electron/preload-api.ts'
import { ContractClient } from '../../src-renderer/src/lib/client/studio-client.ts'
import type { Transport } from '../../src-renderer/src/lib/client/transport.ts'
import { TestSocket, recordingLogger, startTestStudio, wsUrlOf } from '../helpers/studio-fixtures.ts'

const verbs = Object.values(REQUEST_VERBS).sort()

describe('contract coverage', () => {
  let studio: Awaited<ReturnType<typeof startTestStudio>>
  before(async () => (studio = await startTestStudio()))
  after(() => studio.close())

  it('the core has exactly one handler per request channel', () => {
    assert.deepEqual(Object.keys(studio.core.handlers).sort(), [...REQUEST_CHANNELS].sort())
  })

  it('Electron main registers exactly the contract channels, each delegating to the core', async () => {
    const registered = new Map<string, (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown>()
    const fakeIpcMain = { handle: (channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown) => registered.set(channel, listener) }
    const { logger } = recordingLogger()
    registerIpcHandlers(fakeIpcMain, studio.core, () => true, logger)
    assert.deepEqual([...registered.keys()].sort(), [...REQUEST_CHANNELS].sort())
    const trustedEvent = {} as IpcMainInvokeEvent
    for (const channel of REQUEST_CHANNELS) {
      const response = (await registered.get(channel)!(trustedEvent, {})) as { ok: boolean; error?: { code: string } }
      assert.notEqual(response.error?.code, 'unknown-channel', channel)
    }
  })

  it('Electron main refuses foreign senders on every channel, logs it and keeps working', async () => {
    const registered = new Map<string, (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown>()
    const { logger, lines } = recordingLogger()
    registerIpcHandlers({ handle: (c, l) => registered.set(c, l) }, studio.core, () => false, logger)
    const foreign = { senderFrame: { url: 'https://evil.example/' } } as unknown as IpcMainInvokeEvent
    for (const channel of REQUEST_CHANNELS) {
      const response = (await registered.get(channel)!(foreign, {})) as { ok: boolean; error: { code: string; message: string } }
      assert.equal(response.ok, false)
      assert.equal(response.error.code, 'forbidden')
      assert.match(response.error.message, /evil\.example/)
    }
    assert.equal(lines.filter((l) => l.level === 'warn' && /foreign sender/.test(l.message)).length, REQUEST_CHANNELS.length)
  })

  it('the web host answers every contract channel and refuses anything else', async () => {
    const socket = await TestSocket.open(wsUrlOf(studio.host))
    try {
      for (const channel of REQUEST_CHANNELS) {
        const response = await socket.request(channel, {})
        assert.ok(response.ok || response.error.code !== 'unknown-channel', channel)
      }
      const stray = await socket.request('files.readAnything', {})
      assert.equal(stray.ok, false)
      assert.equal(!stray.ok && stray.error.code, 'unknown-channel')
    } finally {
      socket.close()
    }
  })

  it('the preload exposes exactly the contract verbs plus onEvent, mapped to their channels', async () => {
    const invoked: [string, unknown][] = []
    const subscribed: string[] = []
    const api = createPreloadApi(
      async (channel, params) => (invoked.push([channel, params]), { ok: true, result: null }),
      (channel) => (subscribed.push(channel), () => {}),
    )
    assert.deepEqual(Object.keys(api).sort(), [...verbs, 'onEvent'].sort())
    for (const [channel, verb] of Object.entries(REQUEST_VERBS)) {
      await (api as unknown as Record<string, (p: unknown) => Promise<unknown>>)[verb]!({ probe: verb })
      assert.deepEqual(invoked.at(-1), [channel, { probe: verb }])
    }
    api.onEvent(() => {})
    assert.deepEqual(subscribed.sort(), [...EVENT_CHANNELS].sort())
    assert.ok(Object.isFrozen(api))
  })

  it('the renderer client has a method for every verb and no other public verbs', async () => {
    const methods = Object.getOwnPropertyNames(ContractClient.prototype).filter(
      (name) => name !== 'constructor' && !name.startsWith('on') && name !== 'call' && name !== 'transportKind',
    )
    assert.deepEqual(methods.sort(), verbs)
    const requested: string[] = []
    const transport: Transport = {
      kind: 'websocket',
      request: async (channel) => (requested.push(channel), { ok: false, error: { code: 'internal', message: 'stub' } }),
      onEvent: () => () => {},
      onState: () => () => {},
      close: () => {},
    }
    const client = new ContractClient(transport) as unknown as Record<string, (p: unknown) => Promise<unknown>>
    for (const verb of verbs) await client[verb]!({}).catch(() => {})
    assert.deepEqual(requested.sort(), [...REQUEST_CHANNELS].sort())
  })

  it('every job kind in the contract has a runner, and no runner lacks a contract kind', () => {
    const contractKinds = StartJobParams.options.map((o) => o.shape.kind.value).sort()
    assert.deepEqual(Object.keys(jobRunners).sort(), contractKinds)
    assert.deepEqual(Object.keys(JOB_KIND_INFO).sort(), contractKinds)
  })
})
