// The contract's run-time validation: defaults applied, bad payloads refused with readable errors.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ClientMessage, EVENT_CHANNELS, REQUEST_CHANNELS, ServerMessage, eventContract, parseEvent, parseRequest, requestContract,
} from '../../src-main/contract/index.ts'

function refused(channel: unknown, params: unknown) {
  const r = parseRequest(channel, params)
  assert.equal(r.ok, false, `expected ${String(channel)} ${JSON.stringify(params)} to be refused`)
  return (r as Extract<typeof r, { ok: false }>).error
}

describe('contract: requests', () => {
  it('applies the demo job defaults', () => {
    const r = parseRequest('jobs.start', { kind: 'demo', params: {} })
    assert.ok(r.ok)
    assert.deepEqual(r.params, { kind: 'demo', params: { samples: 20_000_000, chunks: 100, seed: 1 } })
  })

  it('accepts missing params for channels without parameters', () => {
    for (const channel of ['app.getBackendReport', 'app.getWorkspace', 'jobs.list', 'jobs.listKinds']) {
      assert.ok(parseRequest(channel, undefined).ok, channel)
    }
  })

  it('refuses unknown channels with a clear code, including prototype names', () => {
    for (const channel of ['jobs.delete', 'constructor', '__proto__', 'toString', '', 42, null, { a: 1 }]) {
      const error = refused(channel, {})
      assert.equal(error.code, 'unknown-channel')
      assert.match(error.message, /Unknown request channel/)
    }
  })

  it('names the offending fields of invalid params', () => {
    const error = refused('jobs.start', { kind: 'demo', params: { samples: 'many', extra: true } })
    assert.equal(error.code, 'invalid-params')
    assert.match(error.message, /params\.samples/)
    assert.match(error.message, /extra/)
  })

  it('refuses wrong types, NaN, Infinity, out-of-range and unknown kinds', () => {
    const bad: unknown[] = [
      { kind: 'demo', params: { samples: Number.NaN } },
      { kind: 'demo', params: { samples: Number.POSITIVE_INFINITY } },
      { kind: 'demo', params: { samples: 1.5e3 + 0.5 } },
      { kind: 'demo', params: { chunks: 0 } },
      { kind: 'demo', params: { seed: -1 } },
      { kind: 'demo', params: { saveResultAs: '' } },
      { kind: 'demo', params: { saveResultAs: 'a\0b' } },
      { kind: 'train-the-world', params: {} },
      { params: {} },
      'demo',
      [],
    ]
    for (const params of bad) assert.equal(refused('jobs.start', params).code, 'invalid-params', JSON.stringify(params))
  })

  it('validates job ids and controls', () => {
    assert.equal(refused('jobs.cancel', { jobId: '../../etc/passwd' }).code, 'invalid-params')
    assert.equal(refused('jobs.cancel', { jobId: 'x'.repeat(65) }).code, 'invalid-params')
    assert.equal(refused('jobs.control', { jobId: 'a', control: { type: 'explode' } }).code, 'invalid-params')
    assert.equal(refused('jobs.control', { jobId: 'a', control: { type: 'set', values: { w: Number.NaN } } }).code, 'invalid-params')
    assert.equal(refused('jobs.control', { jobId: 'a', control: { type: 'set', values: { w: { nested: 1 } } } }).code, 'invalid-params')
    assert.ok(parseRequest('jobs.control', { jobId: 'a', control: { type: 'set', values: { rewardWeight: 0.5, mode: 'kl', on: true } } }).ok)
    assert.ok(parseRequest('jobs.control', { jobId: 'a', control: { type: 'pause' } }).ok)
  })

  it('every request channel has a params and a result schema', () => {
    assert.deepEqual(Object.keys(requestContract).sort(), [...REQUEST_CHANNELS].sort())
  })
})

describe('contract: events', () => {
  it('every event channel has a schema', () => {
    assert.deepEqual(Object.keys(eventContract).sort(), [...EVENT_CHANNELS].sort())
  })

  it('parses good events and rejects bad ones', () => {
    assert.ok(parseEvent('job.progress', { jobId: 'j1', done: 1, total: 4, fraction: 0.25 }))
    assert.equal(parseEvent('job.progress', { jobId: 'j1', done: 1, total: 4, fraction: 1.5 }), null)
    assert.equal(parseEvent('job.progress', { jobId: 'j1', done: 1, total: 0, fraction: 0 }), null)
    assert.equal(parseEvent('job.metrics', { jobId: 'j1', step: 0, values: { loss: 'low' } }), null)
    assert.equal(parseEvent('job.nonsense', { jobId: 'j1' }), null)
    assert.ok(parseEvent('job.done', { jobId: 'j1', kind: 'demo', status: 'cancelled', elapsedMs: 3 }))
    assert.equal(parseEvent('job.done', { jobId: 'j1', kind: 'demo', status: 'running', elapsedMs: 3 }), null)
  })
})

describe('contract: WebSocket envelopes', () => {
  it('accepts request envelopes and refuses anything else', () => {
    assert.ok(ClientMessage.safeParse({ type: 'request', id: 1, channel: 'jobs.list' }).success)
    assert.ok(ClientMessage.safeParse({ type: 'request', id: 'a', channel: 'jobs.list', params: {} }).success)
    assert.equal(ClientMessage.safeParse({ type: 'request', id: 1.5, channel: 'jobs.list' }).success, false)
    assert.equal(ClientMessage.safeParse({ type: 'response', id: 1, channel: 'jobs.list' }).success, false)
    assert.equal(ClientMessage.safeParse({ type: 'request', id: 1, channel: 'x', extra: 1 }).success, false)
  })

  it('describes server messages', () => {
    assert.ok(ServerMessage.safeParse({ type: 'hello', protocol: 1 }).success)
    assert.ok(ServerMessage.safeParse({ type: 'response', id: 3, ok: true, result: [] }).success)
    assert.ok(ServerMessage.safeParse({ type: 'response', id: null, ok: false, error: { code: 'too-large', message: 'x' } }).success)
    assert.equal(ServerMessage.safeParse({ type: 'response', id: 3, ok: false, error: { code: 'oops', message: 'x' } }).success, false)
    assert.ok(ServerMessage.safeParse({ type: 'event', channel: 'job.log', payload: {} }).success)
    assert.equal(ServerMessage.safeParse({ type: 'event', channel: 'job.unknown', payload: {} }).success, false)
  })
})
