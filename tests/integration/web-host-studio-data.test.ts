// The data channels over a real WebSocket: past runs read from their files (metrics under the live
// names, control changes, sample grids), models listed from the workspace, and every client path kept
// inside the workspace with a clear error code (forbidden, not-found, conflict).
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { TestSocket, startTestStudio, wsUrlOf } from '../helpers/studio-fixtures.ts'

type Reply = Awaited<ReturnType<TestSocket['request']>>
const errorCode = (r: Reply) => (r.ok ? 'ok' : r.error.code)

describe('web host: runs, models, gallery and preference channels', () => {
  let studio: Awaited<ReturnType<typeof startTestStudio>>
  let socket: TestSocket

  before(async () => {
    studio = await startTestStudio()
    const run = join(studio.workspace, 'runs', 'r1')
    await mkdir(join(run, 'samples'), { recursive: true })
    await writeFile(join(run, 'config.json'), JSON.stringify({ name: 'first run', steps: 3 }))
    await writeFile(join(run, 'status.json'), JSON.stringify({ runId: 'r1', state: 'stopped', step: 2, totalSteps: 3, checkpointStep: 2, updatedAt: '2026-01-01T00:00:00Z' }))
    const step = (n: number, rewardWeight: number) => JSON.stringify({
      type: 'step', step: n, status: 'ok', losses: { generatorTotal: 1 / (n + 1), rewards: { brightness: 0.1 * n } },
      gradNorms: { reward: 1, regulariser: 2 }, timings: { totalMs: 10 }, wallMs: 12, etaMs: 100,
      controls: { rewardWeight, tRange: [20, 980], rewardMix: { brightness: 1 } },
    })
    await writeFile(join(run, 'metrics.jsonl'), [
      step(0, 1), JSON.stringify({ type: 'controls', step: 1, changes: { rewardWeight: 5 }, time: 'now' }), step(1, 5), '{"torn',
    ].join('\n'))
    for (const n of [10, 0, 2]) await writeFile(join(run, 'samples', `step-${n}.png`), 'png')
    await mkdir(join(studio.workspace, 'models', 'tiny'), { recursive: true })
    await writeFile(join(studio.workspace, 'models', 'tiny', 'config.json'), '{}')
    await writeFile(join(studio.workspace, 'models', 'tiny', 'model.safetensors'), '')
    socket = await TestSocket.open(wsUrlOf(studio.host))
  })

  after(async () => {
    socket?.close()
    await studio?.close()
  })

  it('lists past runs and opens one: config, metrics under the streamed names, control changes, samples in step order', async () => {
    const list = await socket.request('runs.list', {})
    assert.ok(list.ok)
    assert.deepEqual(list.result, [{ runId: 'r1', name: 'first run', state: 'stopped', step: 2, totalSteps: 3, checkpointStep: 2, updatedAt: '2026-01-01T00:00:00Z' }])
    const open = await socket.request('runs.open', { runId: 'r1' })
    assert.ok(open.ok)
    const detail = open.result as { metrics: { step: number; values: Record<string, number> }[]; controlChanges: unknown[]; samples: { step: number; path: string }[] }
    assert.deepEqual(detail.metrics.map((m) => m.step), [0, 1])
    assert.equal(detail.metrics[1]!.values['loss/generatorTotal'], 0.5)
    assert.equal(detail.metrics[1]!.values['reward/brightness'], 0.1)
    assert.equal(detail.metrics[1]!.values['control/rewardWeight'], 5)
    assert.equal(detail.metrics[1]!.values['control/tMax'], 980)
    assert.equal(detail.metrics[1]!.values['control/rewardMix.brightness'], 1)
    assert.deepEqual(detail.controlChanges, [{ step: 1, changes: { rewardWeight: 5 } }])
    assert.deepEqual(detail.samples.map((s) => s.step), [0, 2, 10])
    assert.equal(detail.samples[0]!.path, 'runs/r1/samples/step-0.png')
  })

  it('refuses unknown or escaping run ids', async () => {
    assert.equal(errorCode(await socket.request('runs.open', { runId: 'nope' })), 'not-found')
    assert.equal(errorCode(await socket.request('runs.open', { runId: '..' })), 'invalid-params')
  })

  it('lists the reference and its distilled one-step generator (available or with the reason), the workspace models and runs with a checkpoint', async () => {
    const models = await socket.request('models.list', {})
    assert.ok(models.ok)
    const list = models.result as { path: string; kind: string; available: boolean; detail: string }[]
    assert.equal(list[0]!.kind, 'reference')
    if (!list[0]!.available) assert.match(list[0]!.detail, /not installed/)
    assert.deepEqual([list[1]!.path, list[1]!.kind], ['one-step-init', 'one-step'])
    assert.equal(list[1]!.available, list[0]!.available, 'the shipped one-step generator is committed next to the reference')
    assert.deepEqual(list.slice(2).map((m) => [m.path, m.kind, m.available]), [['models/tiny', 'diffusion', true], ['runs/r1', 'run', true]])
  })

  it('checks DI* and gallery job requests before starting a worker', async () => {
    const start = (params: unknown) => socket.request('jobs.start', params)
    assert.equal(errorCode(await start({ kind: 'distar-train', params: { config: { baseModelDir: '../../etc' } } })), 'forbidden')
    assert.equal(errorCode(await start({ kind: 'distar-train', params: { config: { baseModelDir: 'models/none' } } })), 'not-found')
    assert.equal(errorCode(await start({ kind: 'distar-train', params: { config: { baseModelDir: 'models/tiny', prompts: { file: '/etc/passwd' } } } })), 'forbidden')
    assert.equal(errorCode(await start({ kind: 'distar-train', params: { config: { baseModelDir: 'models/tiny', reward: { kind: 'preference', modelDir: 'preferences/model' } } } })), 'not-found')
    assert.equal(errorCode(await start({ kind: 'distar-train', params: { resume: 'nope' } })), 'not-found')
    assert.equal(errorCode(await start({ kind: 'distar-train', params: { config: { baseModelDir: 'models/tiny' }, runId: 'r1' } })), 'conflict')
    assert.equal(errorCode(await start({ kind: 'generate-gallery', params: { models: [{ path: '../x' }], prompts: ['a'], seeds: [0] } })), 'forbidden')
    assert.equal(errorCode(await start({ kind: 'onnx-import', params: { file: 'missing.onnx', name: 'mine' } })), 'not-found')
  })

  it('gallery: empty listing, export of unknown ids, export folders kept inside the workspace', async () => {
    const list = await socket.request('gallery.list', {})
    assert.ok(list.ok)
    assert.deepEqual(list.result, { total: 0, entries: [] })
    const exported = await socket.request('gallery.export', { ids: ['ghost'], folder: 'exports/t' })
    assert.ok(exported.ok)
    assert.deepEqual(exported.result, { folder: 'exports/t', exported: 0, missing: ['ghost'], files: [] })
    assert.equal(errorCode(await socket.request('gallery.export', { ids: ['ghost'], folder: '../outside' })), 'forbidden')
    assert.equal(errorCode(await socket.request('gallery.get', { id: 'ghost' })), 'ok')
  })

  it('preferences: no pair in an empty gallery, choices need images inside the workspace', async () => {
    const pair = await socket.request('preferences.nextPair', {})
    assert.ok(pair.ok)
    assert.equal(pair.result, null)
    assert.equal(errorCode(await socket.request('preferences.choose', { prompt: 'p', imageA: '../../etc/passwd', imageB: 'b.png', winner: 'A' })), 'forbidden')
    assert.equal(errorCode(await socket.request('preferences.choose', { prompt: 'p', imageA: 'a.png', imageB: 'b.png', winner: 'A' })), 'not-found')
    await writeFile(join(studio.workspace, 'a.png'), 'x')
    await writeFile(join(studio.workspace, 'b.png'), 'y')
    const chosen = await socket.request('preferences.choose', { prompt: 'p', imageA: 'a.png', imageB: 'b.png', winner: 'B' })
    assert.ok(chosen.ok)
    assert.equal((chosen.result as { choices: number }).choices, 1)
    const status = await socket.request('preferences.status', {})
    assert.ok(status.ok)
    assert.deepEqual(status.result, { choices: 1, ties: 0, problems: [], model: null })
  })
})

describe('web host: prompts.check', () => {
  let studio: Awaited<ReturnType<typeof startTestStudio>>
  let socket: TestSocket

  before(async () => {
    studio = await startTestStudio()
    const words = Tokenizer.build(['red apple', 'brown dog mammal', 'green pear fruit'], { maxLength: 5 })
    await mkdir(join(studio.workspace, 'models', 'words'), { recursive: true })
    await writeFile(join(studio.workspace, 'models', 'words', 'config.json'), JSON.stringify({ tokenizer: words.toJSON() }))
    await mkdir(join(studio.workspace, 'models', 'tiny'), { recursive: true })
    await writeFile(join(studio.workspace, 'models', 'tiny', 'config.json'), '{}')
    await mkdir(join(studio.workspace, 'models', 'free'), { recursive: true })
    await writeFile(join(studio.workspace, 'models', 'free', 'manifest.json'), JSON.stringify({ name: 'free' }))
    await mkdir(join(studio.workspace, 'runs', 'r2', 'checkpoints'), { recursive: true })
    await writeFile(join(studio.workspace, 'runs', 'r2', 'config.json'), JSON.stringify({ baseModelDir: 'models/words' }))
    socket = await TestSocket.open(wsUrlOf(studio.host))
  })

  after(async () => {
    socket?.close()
    await studio?.close()
  })

  it('prompts.check: unknown words with suggestions and over-long prompts, for every kind of model; bad models are clear errors', async () => {
    const check = async (model: string, prompts: string[]) => {
      const reply = await socket.request('prompts.check', { model, prompts })
      assert.ok(reply.ok, JSON.stringify(reply))
      return reply.result as { readsPrompts: boolean; vocabularySize: number; maxLength: number; unknownWords: { word: string; suggestion: string | null }[]; truncated: string[]; noKnownWords: string[]; emoji: { emoji: string; name: string }[]; tooLong: string[]; notice: string | null }
    }
    const reference = await check('reference', ['a red apple', 'grinning face, twitter style'])
    assert.deepEqual([reference.readsPrompts, reference.maxLength, reference.unknownWords, reference.notice], [true, 16, [], null])
    assert.ok(reference.vocabularySize > 2000, String(reference.vocabularySize))
    assert.deepEqual((await check('one-step-init', ['red qwzxv'])).unknownWords, [{ word: 'qwzxv', suggestion: null }])

    const long = 'red apple green pear brown dog'
    const words = await check('models/words', ['lemon dog', long, 'lemon'])
    assert.deepEqual(words.unknownWords, [{ word: 'lemon', suggestion: 'fruit' }])
    assert.deepEqual(words.truncated, [long])
    assert.equal(words.vocabularySize, 8)
    assert.match(words.notice ?? '', /lemon \(try "fruit"\).*longer than 5 words/)
    assert.deepEqual(await check('runs/r2', ['lemon dog', long, 'lemon']), words, "a run reads prompts with its base model's tokenizer")
    assert.deepEqual(words.noKnownWords, ['lemon'], 'a prompt of unknown words only')
    assert.deepEqual(await check('models/free', ['anything at all']), { readsPrompts: false, vocabularySize: 0, maxLength: 0, unknownWords: [], truncated: [], noKnownWords: [], emoji: [], tooLong: [], notice: null })
    // emoji read as their names; no known word at all; over the prompt limit (said apart from the 16-word tail)
    const tooLong = `red apple ${'x'.repeat(300)}`
    const emoji = await check('reference', ['🍎', '!!!', tooLong])
    assert.deepEqual(emoji.emoji, [{ emoji: '🍎', name: 'red apple' }])
    assert.deepEqual(emoji.noKnownWords, ['!!!'])
    assert.deepEqual(emoji.tooLong, [tooLong])
    assert.deepEqual(emoji.truncated, [], 'a refused prompt is not also "read up to 16 words"')

    assert.equal(errorCode(await socket.request('prompts.check', { model: 'models/tiny', prompts: ['x'] })), 'invalid-params') // config.json without a tokenizer
    assert.equal(errorCode(await socket.request('prompts.check', { model: 'models/none', prompts: ['x'] })), 'not-found')
    assert.equal(errorCode(await socket.request('prompts.check', { model: '../outside', prompts: ['x'] })), 'forbidden')
    assert.equal(errorCode(await socket.request('prompts.check', { model: 'reference', prompts: 'red apple' })), 'invalid-params')
    assert.equal(errorCode(await socket.request('prompts.check', { model: 'reference', prompts: ['x'.repeat(1001)] })), 'invalid-params')
  })
})
