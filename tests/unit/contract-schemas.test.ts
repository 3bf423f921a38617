// The contract's run-time validation: defaults applied, bad payloads refused with readable errors.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CONTROL_LIMITS, ClientMessage, EVENT_CHANNELS, JOB_KIND_INFO, PROMPT_MAX_CHARS, PROMPT_TOO_LONG, REQUEST_CHANNELS, ServerMessage, eventContract, parseEvent, parseRequest,
  requestContract,
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

describe('contract: the limits people type against (contract/limits.ts)', () => {
  const startRun = (config: unknown) => parseRequest('jobs.start', { kind: 'distar-train', params: { config } })
  const settable = JOB_KIND_INFO['distar-train'].settable

  it('refuses what the issue found accepted: CFG -50, reward weight 1e9, learning rate 1e6, a negative per-reward weight', () => {
    const cases: [unknown, RegExp][] = [
      [{ controls: { cfgScale: -50 } }, /params\.config\.controls\.cfgScale: must be between 0 and 10/],
      [{ controls: { rewardWeight: 1e9 } }, /params\.config\.controls\.rewardWeight: must be between 0 and 10/],
      [{ controls: { generatorLr: 1e6 } }, /params\.config\.controls\.generatorLr: must be between 0 and 0\.01/],
      [{ controls: { fakeLr: 1e6 } }, /params\.config\.controls\.fakeLr: must be between 0 and 0\.01/],
      [{ controls: { regulariserWeight: 11 } }, /params\.config\.controls\.regulariserWeight: must be between 0 and 10/],
      [{ controls: { rewardMix: { brightness: -1 } } }, /must be between 0 and 10/],
      [{ reward: { kind: 'sum', parts: [{ spec: { kind: 'alignment' }, weight: 1 }, { spec: { kind: 'brightness' }, weight: -1 }] } }, /params\.config\.reward\.parts\.1\.weight: must be between 0 and 10/],
      [{ steps: 1.5 }, /params\.config\.steps: must be a whole number from 1 to 10,000,000/],
    ]
    for (const [config, message] of cases) {
      const r = startRun(config)
      assert.equal(r.ok, false, JSON.stringify(config))
      assert.match(!r.ok ? r.error.message : '', message, JSON.stringify(config))
    }
  })

  it('the run config and the live controls accept the same range, edges included, and refuse just past it', () => {
    for (const [key, limit] of [
      ['rewardWeight', CONTROL_LIMITS.rewardWeight], ['regulariserWeight', CONTROL_LIMITS.regulariserWeight],
      ['cfgScale', CONTROL_LIMITS.cfgScale], ['generatorLr', CONTROL_LIMITS.generatorLr], ['fakeLr', CONTROL_LIMITS.fakeLr],
    ] as const) {
      for (const ok of [limit.min, limit.max]) {
        assert.ok(startRun({ controls: { [key]: ok } }).ok, `${key} ${ok} starts`)
        assert.ok(settable.safeParse({ [key]: ok }).success, `${key} ${ok} live`)
      }
      for (const bad of [limit.min - 1e-9, limit.max * 1.001]) {
        assert.equal(startRun({ controls: { [key]: bad } }).ok, false, `${key} ${bad} starts`)
        assert.equal(settable.safeParse({ [key]: bad }).success, false, `${key} ${bad} live`)
      }
    }
    assert.equal(settable.safeParse({ 'rewardMix.brightness': -1 }).success, false, 'a per-reward weight is never negative live either')
    assert.equal(settable.safeParse({ 'rewardMix.brightness': 11 }).success, false)
    assert.ok(settable.safeParse({ 'rewardMix.brightness': 0 }).success)
  })

  it('one prompt limit, one message: the gallery job, the training prompts and the sample prompts', () => {
    const long = 'a'.repeat(PROMPT_MAX_CHARS + 1)
    const fits = 'a'.repeat(PROMPT_MAX_CHARS)
    const gallery = (prompts: string[]) => parseRequest('jobs.start', { kind: 'generate-gallery', params: { models: [{ path: 'reference' }], prompts, seeds: [0] } })
    assert.ok(gallery([fits]).ok)
    const refused = gallery(['red apple', long])
    assert.equal(refused.ok, false)
    assert.match(!refused.ok ? refused.error.message : '', new RegExp(`params\\.prompts\\.1: ${PROMPT_TOO_LONG}`))
    for (const config of [{ prompts: [long] }, { samples: { prompts: [long] } }]) {
      const r = startRun(config)
      assert.match(!r.ok ? r.error.message : '', new RegExp(PROMPT_TOO_LONG), JSON.stringify(Object.keys(config)))
    }
    assert.ok(startRun({ prompts: [fits] }).ok)
  })

  it('the gallery list filters by a list of seeds, as the generate form reads them', () => {
    const r = parseRequest('gallery.list', { seeds: [0, 1] })
    assert.ok(r.ok)
    assert.deepEqual((r.params as { seeds: number[] }).seeds, [0, 1])
    assert.equal(parseRequest('gallery.list', { seeds: [-5] }).ok, false)
    assert.equal(parseRequest('gallery.list', { seeds: [] }).ok, false)
  })
})
