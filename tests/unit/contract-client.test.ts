// The renderer's ContractClient over a stub transport: results checked against the contract,
// errors turned into StudioRequestError with the core's code, events outside the contract dropped.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Response } from '../../src-main/contract/index.ts'
import { ContractClient, StudioRequestError } from '../../src-renderer/src/lib/client/studio-client.ts'
import type { ConnectionState, Transport } from '../../src-renderer/src/lib/client/transport.ts'

function stubTransport(answer: (channel: string, params: unknown) => Promise<Response<unknown>>) {
  const eventListeners: ((channel: string, payload: unknown) => void)[] = []
  const stateListeners: ((s: ConnectionState) => void)[] = []
  const transport: Transport = {
    kind: 'websocket',
    request: (channel, params) => answer(channel, params),
    onEvent: (l) => (eventListeners.push(l), () => {}),
    onState: (l) => (stateListeners.push(l), l('connecting'), () => {}),
    close: () => {},
  }
  return {
    transport,
    emit: (channel: string, payload: unknown) => eventListeners.forEach((l) => l(channel, payload)),
    setState: (s: ConnectionState) => stateListeners.forEach((l) => l(s)),
  }
}

const rejectsWith = (code: string) => (err: unknown) => err instanceof StudioRequestError && err.code === code

describe('ContractClient', () => {
  it('sends verbs on their channels and returns checked results', async () => {
    const sent: [string, unknown][] = []
    const { transport } = stubTransport(async (channel, params) => {
      sent.push([channel, params])
      return { ok: true, result: { jobId: 'demo-1' } }
    })
    const client = new ContractClient(transport)
    assert.deepEqual(await client.startJob({ kind: 'demo', params: {} }), { jobId: 'demo-1' })
    assert.deepEqual(sent, [['jobs.start', { kind: 'demo', params: {} }]])
  })

  it('turns error responses into StudioRequestError with the same code and message', async () => {
    const { transport } = stubTransport(async () => ({ ok: false, error: { code: 'forbidden', message: 'Path is outside the workspace' } }))
    const client = new ContractClient(transport)
    await assert.rejects(client.cancelJob({ jobId: 'x' }), (err: unknown) => rejectsWith('forbidden')(err) && /outside/.test((err as Error).message))
  })

  it('reports transport failures as disconnected and contract-breaking answers as bad-response', async () => {
    const down = new ContractClient(stubTransport(async () => Promise.reject(new Error('socket closed'))).transport)
    await assert.rejects(down.listJobs({}), rejectsWith('disconnected'))
    const liar = new ContractClient(stubTransport(async () => ({ ok: true, result: { jobId: 42 } })).transport)
    await assert.rejects(liar.startJob({ kind: 'demo', params: {} }), rejectsWith('bad-response'))
  })

  it('delivers contract events and drops the rest', () => {
    const stub = stubTransport(async () => ({ ok: true, result: null }))
    const client = new ContractClient(stub.transport)
    const seen: string[] = []
    client.onEvent((e) => seen.push(e.channel))
    const warn = console.warn
    console.warn = () => {}
    try {
      stub.emit('job.progress', { jobId: 'j', done: 1, total: 2, fraction: 0.5 })
      stub.emit('job.progress', { jobId: 'j', done: 1, total: 2, fraction: 7 })
      stub.emit('job.rm-rf', { jobId: 'j' })
    } finally {
      console.warn = warn
    }
    assert.deepEqual(seen, ['job.progress'])
  })

  it('passes connection states through', () => {
    const stub = stubTransport(async () => ({ ok: true, result: null }))
    const states: ConnectionState[] = []
    new ContractClient(stub.transport).onConnectionState((s) => states.push(s))
    stub.setState('open')
    stub.setState('reconnecting')
    assert.deepEqual(states, ['connecting', 'open', 'reconnecting'])
  })
})
