// prompts.emoji over a real WebSocket, lists built in the real worker thread: the emoji a model was
// trained on (training split only, by category, with the prompt "Browse emoji" inserts), for every kind
// of model; training.styles in a model's config.json chooses the styles; an ONNX package has no list;
// bad payloads and bad model names are refused with a clear error. Also the per-style-set cache.
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { KnownEmoji } from '../../src-main/contract/index.ts'
import { KnownEmojiLists } from '../../src-main/core/known-emoji.ts'
import { buildKnownEmojiList, type KnownEmojiList } from '../../src-main/core/known-emoji-list.ts'
import { Workspace } from '../../src-main/core/workspace.ts'
import { canonicalCaption, type EmojiStyle } from '../../src-main/ml/data/captions.ts'
import { buildCatalog } from '../../src-main/ml/data/emoji-catalog.ts'
import { TestSocket, startTestStudio, tempDir, wsUrlOf } from '../helpers/studio-fixtures.ts'

type Reply = Awaited<ReturnType<TestSocket['request']>>
const failure = (r: Reply) => (r.ok ? { code: 'ok', message: '' } : r.error)

/** Emoji keys of each split of the catalogue in some styles. */
function splitKeys(styles: EmojiStyle[]): { train: Set<string>; validation: Set<string> } {
  const out = { train: new Set<string>(), validation: new Set<string>() }
  for (const e of buildCatalog({ styles })) out[e.split].add(e.item.key)
  return out
}

const allEmoji = (list: KnownEmoji) => list.categories.flatMap((c) => c.emoji.map((e) => ({ ...e, category: c.name })))

describe('web host: prompts.emoji', { timeout: 120_000 }, () => {
  let studio: Awaited<ReturnType<typeof startTestStudio>>
  let socket: TestSocket

  const emoji = async (model: string): Promise<KnownEmoji> => {
    const reply = await socket.request('prompts.emoji', { model })
    assert.ok(reply.ok, JSON.stringify(reply))
    return reply.result as KnownEmoji
  }

  before(async () => {
    studio = await startTestStudio()
    const model = async (name: string, file: string, json: unknown) => {
      await mkdir(join(studio.workspace, 'models', name), { recursive: true })
      await writeFile(join(studio.workspace, 'models', name, file), JSON.stringify(json))
    }
    await model('plain', 'config.json', { training: { steps: 10 } })
    await model('multi', 'config.json', { training: { styles: ['fluent', 'google'] } })
    await model('odd', 'config.json', { training: { styles: ['google', 'klingon'] } })
    await model('onnx', 'manifest.json', { name: 'onnx', source: { checkpoint: 'x.onnx', imported: true } })
    await mkdir(join(studio.workspace, 'models', 'empty'), { recursive: true })
    await mkdir(join(studio.workspace, 'runs', 'r1', 'checkpoints'), { recursive: true })
    await writeFile(join(studio.workspace, 'runs', 'r1', 'config.json'), JSON.stringify({ baseModelDir: 'models/multi' }))
    await mkdir(join(studio.workspace, 'runs', 'r2', 'checkpoints'), { recursive: true })
    await writeFile(join(studio.workspace, 'runs', 'r2', 'config.json'), JSON.stringify({ reward: { kind: 'brightness' } }))
    socket = await TestSocket.open(wsUrlOf(studio.host))
  })

  after(async () => {
    socket?.close()
    await studio?.close()
  })

  it('lists the shipped reference\'s training-split emoji of the two PNG styles by category, with their prompts', async () => {
    const list = await emoji('reference')
    assert.equal(list.known, true)
    assert.deepEqual(list.styles, [{ style: 'twitter', suffix: ', twitter style' }, { style: 'google', suffix: ', google style' }])
    assert.match(list.detail, /^The 1,\d{3} emoji the shipped reference was trained on \(training split of the twitter and google styles\)\.$/)
    const all = allEmoji(list)
    assert.equal(list.count, all.length)
    const { train, validation } = splitKeys(['twitter', 'google'])
    assert.deepEqual(new Set(all.map((e) => e.key)), train, 'exactly the training split, each emoji once')
    assert.ok(validation.size > 50)
    assert.equal(all.filter((e) => validation.has(e.key)).length, 0, 'no validation emoji')
    // categories in Unicode's order, each once
    const names = list.categories.map((c) => c.name)
    assert.equal(names[0], 'Smileys & Emotion')
    assert.equal(new Set(names).size, names.length)
    for (const c of ['Animals & Nature', 'Food & Drink', 'Travel & Places', 'Flags']) assert.ok(names.includes(c), c)
    assert.ok(names.indexOf('Animals & Nature') < names.indexOf('Food & Drink'))
    const apple = all.find((e) => e.name === 'red apple')
    assert.deepEqual(apple, { key: '1f34e', name: 'red apple', prompt: 'red apple', category: 'Food & Drink' })
    // the prompt is a caption of every style; with a style's suffix it is that style's canonical caption
    for (const { style, suffix } of list.styles) assert.equal(`${apple!.prompt}${suffix}`, canonicalCaption('red apple', style as EmojiStyle))
    assert.ok(all.every((e) => e.prompt === e.name && e.name.length > 0))
  })

  it('the shipped distilled generator and a run on the reference know what the reference knows', async () => {
    const reference = await emoji('reference')
    for (const model of ['one-step-init', 'runs/r2', 'models/plain']) {
      const list = await emoji(model)
      assert.deepEqual(list.categories, reference.categories, model)
      assert.deepEqual(list.styles, reference.styles, model)
    }
    assert.match((await emoji('one-step-init')).detail, /shipped reference was trained on .*; this generator was distilled from it\.$/)
    assert.match((await emoji('runs/r2')).detail, /this run's base model \(the shipped reference\)/)
  })

  it('training.styles in a model\'s config.json chooses the styles, also for a run on that model', async () => {
    // the core answers other requests while the worker builds a new style set's list
    const order: string[] = []
    const [list] = await Promise.all([
      emoji('runs/r1').then((l) => (order.push('emoji'), l)),
      socket.request('app.getWorkspace', {}).then(() => order.push('workspace')),
    ])
    assert.deepEqual(order, ['workspace', 'emoji'])
    assert.deepEqual(list.styles.map((s) => s.style), ['google', 'fluent'], 'in the catalogue\'s order')
    assert.deepEqual(list.styles[1], { style: 'fluent', suffix: ', fluent style' })
    assert.match(list.detail, /this run's base model \(models\/multi\) was trained on \(training split of the google and fluent styles\)/)
    const all = allEmoji(list)
    assert.deepEqual(new Set(all.map((e) => e.key)), splitKeys(['google', 'fluent']).train)
    // an emoji drawn in one of the styles only says which
    const partial = all.filter((e) => e.styles !== undefined)
    assert.ok(partial.length > 0)
    for (const e of partial) assert.equal(e.styles!.length, 1, e.name)
    assert.deepEqual((await emoji('models/multi')).categories, list.categories)
  })

  it('an ONNX package has no list, and says why', async () => {
    const list = await emoji('models/onnx')
    assert.deepEqual({ ...list, detail: '' }, { known: false, detail: '', styles: [], count: 0, categories: [] })
    assert.match(list.detail, /ONNX package, which does not record what it was trained on/)
  })

  it('refuses bad payloads and bad model names with a clear error', async () => {
    const refused = async (params: unknown) => failure(await socket.request('prompts.emoji', params))
    for (const params of [{}, { model: '' }, { model: 42 }, { model: 'reference', extra: 1 }, { model: 'x'.repeat(1025) }, { model: 'a\0b' }, null, []]) {
      const error = await refused(params)
      assert.equal(error.code, 'invalid-params', JSON.stringify(params))
      assert.match(error.message, /^Invalid params for prompts\.emoji: /)
    }
    assert.deepEqual(await refused({ model: 'models/none' }), { code: 'not-found', message: 'No model at models/none in this workspace' })
    assert.deepEqual(await refused({ model: 'models/empty' }), { code: 'not-found', message: 'models/empty is not a model: it has neither a config.json nor a manifest.json' })
    assert.equal((await refused({ model: '../outside' })).code, 'forbidden')
    const odd = await refused({ model: 'models/odd' })
    assert.equal(odd.code, 'invalid-params')
    assert.match(odd.message, /^models\/odd: training\.styles in .*config\.json must list emoji styles \(twitter, google, .*\); it has "klingon"$/)
  })
})

describe('KnownEmojiLists', () => {
  it('builds each style set once, shares a build between concurrent requests, and retries a failed one', async () => {
    const dir = await tempDir()
    try {
      const workspace = await Workspace.open({ root: dir.path, source: 'flag' })
      await mkdir(join(dir.path, 'models', 'a'), { recursive: true })
      await writeFile(join(dir.path, 'models', 'a', 'config.json'), JSON.stringify({ training: { styles: ['google'] } }))
      const builds: string[] = []
      let fail = true
      const lists = new KnownEmojiLists({
        referenceDir: () => join(import.meta.dirname, '..', '..', 'resources', 'models', 'reference'),
        referenceMissing: () => null,
        build: async (styles): Promise<KnownEmojiList> => {
          builds.push(styles.join(','))
          if (styles.length === 1 && fail) {
            fail = false
            throw new Error('disk hiccup')
          }
          return { styles: styles.map((style) => ({ style, suffix: `, ${style} style` })), count: 0, categories: [] }
        },
      })
      await Promise.all([lists.list({ model: 'reference' }, workspace), lists.list({ model: 'one-step-init' }, workspace)])
      await lists.list({ model: 'reference' }, workspace)
      assert.deepEqual(builds, ['twitter,google'])
      await assert.rejects(lists.list({ model: 'models/a' }, workspace), /disk hiccup/)
      assert.equal((await lists.list({ model: 'models/a' }, workspace)).styles[0]?.style, 'google')
      assert.deepEqual(builds, ['twitter,google', 'google', 'google'])
    } finally {
      await dir.remove()
    }
  })

  it('buildKnownEmojiList gives each training-split emoji once, in the catalogue\'s order', () => {
    const list = buildKnownEmojiList(['twitter'])
    const keys = list.categories.flatMap((c) => c.emoji.map((e) => e.key))
    const order = [...new Set(buildCatalog({ styles: ['twitter'] }).filter((e) => e.split === 'train').map((e) => e.item.key))]
    assert.deepEqual(keys, order)
    assert.equal(list.count, keys.length)
    assert.ok(list.categories.every((c) => c.emoji.every((e) => e.styles === undefined)), 'one style: every emoji is in it')
  })
})
