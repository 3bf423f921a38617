// The contract's DI*, gallery, preference and model schemas: defaults, live-control names, and
// refusals with readable messages.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { JOB_KIND_INFO, parseRequest } from '../../src-main/contract/index.ts'

describe('contract: DI* runs, gallery, preferences, models', () => {
  it('accepts a DI* run config with defaults, and a resume by run id', () => {
    const start = parseRequest('jobs.start', { kind: 'distar-train', params: { config: {} } })
    assert.ok(start.ok)
    const params = (start.params as { params: { config: { steps: number; batchSize: number; reward: { kind: string } } } }).params
    assert.equal(params.config.steps, 300)
    assert.equal(params.config.reward.kind, 'alignment')
    assert.ok(parseRequest('jobs.start', { kind: 'distar-train', params: { resume: 'run-1' } }).ok)
  })

  it('refuses run ids that are not folder names and configs with unknown fields', () => {
    const bad = parseRequest('jobs.start', { kind: 'distar-train', params: { resume: '../escape' } })
    assert.equal(bad.ok, false)
    assert.match(!bad.ok ? bad.error.message : '', /run ids are letters/)
    const unknown = parseRequest('jobs.start', { kind: 'distar-train', params: { config: { warpFactor: 9 } } })
    assert.equal(unknown.ok, false)
    assert.ok(!parseRequest('runs.open', { runId: 'a/b' }).ok)
  })

  it('DI* live controls: known names, tMin/tMax and rewardMix.<reward> pass; anything else is named', () => {
    const settable = JOB_KIND_INFO['distar-train'].settable
    assert.ok(settable.safeParse({ rewardWeight: 5, cfgScale: 2, generatorLr: 1e-4, tMin: 20, 'rewardMix.brightness': 0.5 }).success)
    assert.ok(settable.safeParse({ resumeAfterNonFinite: true }).success)
    const unknown = settable.safeParse({ warpDrive: 1 })
    assert.equal(unknown.success, false)
    assert.match(JSON.stringify(unknown.error?.issues), /unknown DI\* control 'warpDrive'/)
    assert.equal(settable.safeParse({ rewardWeight: 'lots' }).success, false)
    assert.equal(settable.safeParse({ regulariserWeight: -1 }).success, false)
    assert.equal(settable.safeParse({ 'rewardMix.': 1 }).success, false)
    // other kinds change nothing live
    assert.equal(JOB_KIND_INFO['generate-gallery'].settable.safeParse({ cfg: 2 }).success, false)
  })

  it('gallery channels: paging defaults, bounds, and export ids', () => {
    const list = parseRequest('gallery.list', {})
    assert.ok(list.ok)
    assert.deepEqual(list.params, { order: 'newest', offset: 0, limit: 100 })
    assert.equal(parseRequest('gallery.list', { limit: 5000 }).ok, false)
    assert.equal(parseRequest('gallery.list', { seed: -1 }).ok, false)
    assert.equal(parseRequest('gallery.export', { ids: [] }).ok, false)
    assert.ok(parseRequest('gallery.export', { ids: ['a'], folder: 'exports/x' }).ok)
  })

  it('gallery generation params have defaults and refuse empty prompt or seed lists', () => {
    const ok = parseRequest('jobs.start', { kind: 'generate-gallery', params: { models: [{ path: 'reference' }], prompts: ['a cat'], seeds: [0, 1] } })
    assert.ok(ok.ok)
    assert.equal((ok.params as { params: { steps: number } }).params.steps, 25)
    assert.equal(parseRequest('jobs.start', { kind: 'generate-gallery', params: { models: [{ path: 'reference' }], prompts: [], seeds: [0] } }).ok, false)
  })

  it('a preference choice needs two different images and a winner A or B', () => {
    assert.ok(parseRequest('preferences.choose', { prompt: 'cat', imageA: 'gallery/images/a.png', imageB: 'gallery/images/b.png', winner: 'A' }).ok)
    assert.equal(parseRequest('preferences.choose', { prompt: 'cat', imageA: 'x.png', imageB: 'x.png', winner: 'A' }).ok, false)
    assert.equal(parseRequest('preferences.choose', { prompt: 'cat', imageA: 'a.png', imageB: 'b.png', winner: 'C' }).ok, false)
    assert.ok(parseRequest('jobs.start', { kind: 'preference-train', params: {} }).ok)
  })
})
