// What the Prefer view is offered and can take back: pairs of two models' images of one prompt before
// two seeds of one model, skipped pairs only when nothing else is left, ties stored (and counted apart),
// and Undo removing exactly the one choice it names.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Gallery } from '../../src-main/core/gallery/gallery.ts'
import type { ImageMeta } from '../../src-main/core/gallery/image-meta.ts'
import { CHOICES_FILE } from '../../src-main/core/preferences/choice-store.ts'
import { StudioData } from '../../src-main/core/studio-data.ts'
import { Workspace } from '../../src-main/core/workspace.ts'

describe('preference pairs, ties, skip and undo', () => {
  let root: string
  let data: StudioData

  const meta = (prompt: string, seed: number, model: string): ImageMeta => ({
    prompt, seed, model, modelPath: `models/${model}`, modelSha256: '0'.repeat(64), modelKind: 'generator', sampler: 'one-step', steps: 1, cfg: 1,
    width: 2, height: 2, createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seed)).toISOString(), generationMs: 1,
  } as ImageMeta)

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'di-prefer-pairs-'))
    const workspace = await Workspace.open({ root, source: 'flag' })
    const gallery = new Gallery(workspace.resolve('gallery'))
    await gallery.open()
    // "apple": two seeds of model a and one of model b; "cat": two seeds of model a only
    const metas = [meta('apple', 0, 'a'), meta('apple', 1, 'a'), meta('apple', 2, 'b'), meta('cat', 3, 'a'), meta('cat', 4, 'a')]
    await gallery.addImages(new Float32Array(metas.length * 2 * 2 * 3), metas)
    data = new StudioData(workspace, () => {})
  })
  after(() => rm(root, { recursive: true, force: true }))

  it('offers two models\' images of a prompt first, then two seeds of one model', async () => {
    const pair = (await data.nextPreferencePair({ skip: [] }))!
    assert.equal(pair.prompt, 'apple')
    assert.notEqual(pair.modelA, pair.modelB, 'a pair across models')
    await data.recordPreference({ prompt: pair.prompt, imageA: pair.imageA, imageB: pair.imageB, winner: 'A' })
    const second = (await data.nextPreferencePair({ skip: [] }))!
    assert.equal(second.prompt, 'apple', 'the other cross-model pair of apple')
    assert.notEqual(second.modelA, second.modelB)
    await data.recordPreference({ prompt: second.prompt, imageA: second.imageA, imageB: second.imageB, winner: 'tie' })
    const third = (await data.nextPreferencePair({ skip: [] }))!
    assert.equal(third.modelA, third.modelB, 'no cross-model pair left: two seeds of one model')
  })

  it('keeps skipped pairs for last', async () => {
    const first = (await data.nextPreferencePair({ skip: [] }))!
    const next = (await data.nextPreferencePair({ skip: [{ imageA: first.imageA, imageB: first.imageB }] }))!
    assert.notDeepEqual([next.imageA, next.imageB], [first.imageA, first.imageB])
    // with every remaining pair skipped, the skipped ones come back rather than nothing
    const all = [first, next].map((p) => ({ imageA: p.imageA, imageB: p.imageB }))
    assert.notEqual(await data.nextPreferencePair({ skip: all }), null)
  })

  it('counts ties apart, and Undo removes exactly the named choice', async () => {
    const before = await data.preferenceStatus()
    assert.deepEqual([before.choices, before.ties], [2, 1])
    const pair = (await data.nextPreferencePair({ skip: [] }))!
    const { id } = await data.recordPreference({ prompt: pair.prompt, imageA: pair.imageA, imageB: pair.imageB, winner: 'B' })
    const linesBefore = (await readFile(join(root, CHOICES_FILE), 'utf8')).split('\n').filter(Boolean)
    assert.deepEqual(await data.undoPreference({ id }), { removed: true, choices: 2 })
    const linesAfter = (await readFile(join(root, CHOICES_FILE), 'utf8')).split('\n').filter(Boolean)
    assert.deepEqual(linesAfter, linesBefore.slice(0, -1), 'the other lines stay byte for byte')
    assert.deepEqual(await data.undoPreference({ id }), { removed: false, choices: 2 }, 'an id no longer there removes nothing')
    // the undone pair is offered again
    assert.deepEqual((await data.nextPreferencePair({ skip: [] }))!.imageA, pair.imageA)
  })
})
