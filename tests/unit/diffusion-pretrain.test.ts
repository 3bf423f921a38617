// The pretraining run on a tiny config and synthetic data: an interrupted and resumed run ends
// bit-exactly where an uninterrupted one does; it writes the EMA model and sample grids.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { loadCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { syntheticSplit } from './pretrain-fixtures.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_PRETRAIN, Pretraining, type PretrainOptions } from '../../src-main/ml/diffusion/pretrain-run.ts'
import { AlignmentModel } from '../../src-main/ml/rewards/alignment-model.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'

const quiet = () => {}

describe('pretraining run', () => {
  let dir = ''
  const data = { train: syntheticSplit(), showcasePrompts: ['red apple', 'rocket', ''] }
  const options = (outDir: string, extra: Partial<PretrainOptions> = {}): PretrainOptions => ({
    ...DEFAULT_PRETRAIN,
    outDir, steps: 6, batch: 4, seed: 3, imageSize: 8, maxTextLength: 6,
    architecture: { channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8, output: 'v' },
    hyper: { ...DEFAULT_PRETRAIN.hyper, warmupSteps: 2 },
    sampleEvery: 3, sampleSteps: 2, logEvery: 2,
    ...extra,
  })

  before(async () => {
    await initTf()
    dir = await mkdtemp(join(tmpdir(), 'pretrain-'))
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('resumes bit-exactly: stop at step 3 + resume = 6 uninterrupted steps', async () => {
    const straight = await new Pretraining(options(join(dir, 'straight')), data, quiet).run()
    assert.equal(straight.stopped, 'finished')
    assert.equal(straight.step, 6)

    const first = await new Pretraining(options(join(dir, 'resumed'), { stopAtStep: 3 }), data, quiet).run()
    assert.equal(first.stopped, 'stop-at-step')
    assert.equal(first.step, 3)
    const second = await new Pretraining(options(join(dir, 'resumed'), { resume: true }), data, quiet).run()
    assert.equal(second.step, 6)
    assert.equal(second.smoothedLoss, straight.smoothedLoss)

    const a = await loadCheckpoint(join(dir, 'straight', 'state'))
    const b = await loadCheckpoint(join(dir, 'resumed', 'state'))
    assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort())
    for (const name of Object.keys(a.tensors)) assert.deepEqual(b.tensors[name]!.data, a.tensors[name]!.data, name)
    assert.ok(Object.keys(a.tensors).some((k) => k.startsWith('adam_m/')) && Object.keys(a.tensors).some((k) => k.startsWith('ema/')))
  })

  it('writes a loadable EMA model, sample grids and a metrics log', async () => {
    const out = join(dir, 'straight')
    const model = await DiffusionModel.load(join(out, 'model'))
    assert.equal(model.training.steps, 6)
    const state = await loadCheckpoint(join(out, 'state'))
    assert.deepEqual(model.params['final.w']!.dataSync(), state.tensors['ema/final.w']!.data)
    model.dispose()
    assert.deepEqual((await readdir(join(out, 'samples'))).sort(), ['step-000003.png', 'step-000006.png'])
    const lines = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    assert.deepEqual(lines.map((l) => l.step), [2, 4, 6])
  })

  it('--text-init: a new run starts from the alignment model\'s word rows and records it; a resume keeps its own', async () => {
    // an alignment model over the same captions (so the same vocabulary) with the DiT's text width
    const tokenizer = Tokenizer.build(data.train.items.flatMap((it) => it.captions), { maxLength: 6 })
    const alignment = AlignmentModel.create(tokenizer, 9, {
      imageSize: 8, patchSize: 4, imageWidth: 16, imageBlocks: 1, tokenMixHidden: 8, channelMixHidden: 16, textWidth: 8, textHidden: 16, embedDim: 8,
    }, { embeddingStd: 0.5 })
    const alignmentDir = join(dir, 'alignment')
    await alignment.save(alignmentDir)
    const rows = alignment.params['text.embed']!.dataSync()
    alignment.dispose()
    const word = (data: ArrayLike<number>, w: string) => Array.from(data).slice(tokenizer.wordId(w)! * 8, (tokenizer.wordId(w)! + 1) * 8)

    const logs: string[] = []
    const out = join(dir, 'text-init')
    await new Pretraining(options(out, { textInit: alignmentDir, steps: 4, stopAtStep: 0 }), data, (l) => logs.push(l)).run()
    const start = await loadCheckpoint(join(out, 'state'))
    assert.deepEqual(word(start.tensors['param/text.embed']!.data, 'rocket'), word(rows, 'rocket'), 'step 0 holds the alignment row')
    assert.ok(logs.some((l) => /text init: \d+ word embedding rows/.test(l)), logs.join('\n'))
    const model = await DiffusionModel.load(join(out, 'model'))
    assert.equal(model.training.textInit, alignmentDir)
    model.dispose()

    // resuming must not copy the rows again over what training made of them: stop at step 3 (the rows
    // have moved by then), resume to 6, and land where an uninterrupted run does
    const moved = (tensors: Float32Array | ArrayLike<number>) => tokenizer.toJSON().words.some((w) => word(tensors, w).join() !== word(rows, w).join())
    await new Pretraining(options(out, { textInit: alignmentDir, steps: 6, stopAtStep: 3, resume: true }), data, quiet).run()
    assert.ok(moved((await loadCheckpoint(join(out, 'state'))).tensors['param/text.embed']!.data), 'three steps moved the rows')
    await new Pretraining(options(out, { textInit: alignmentDir, steps: 6, resume: true }), data, quiet).run()
    await new Pretraining(options(join(dir, 'text-init-straight'), { textInit: alignmentDir, steps: 6 }), data, quiet).run()
    const a = await loadCheckpoint(join(out, 'state'))
    const b = await loadCheckpoint(join(dir, 'text-init-straight', 'state'))
    assert.equal(a.config && (a.config as { step?: number }).step, 6)
    assert.deepEqual(a.tensors['param/text.embed']!.data, b.tensors['param/text.embed']!.data, 'stop + resume = uninterrupted run')
  })

  it('refuses to resume with different options, and bad options up front', async () => {
    await assert.rejects(new Pretraining(options(join(dir, 'straight'), { resume: true, batch: 8 }), data, quiet).run(), /differs in batch/)
    await assert.rejects(new Pretraining(options(join(dir, 'empty'), { resume: true }), data, quiet).run(), /No checkpoint/)
    assert.throws(() => new Pretraining(options(join(dir, 'x'), { steps: 0 }), data, quiet), /--steps must be a positive integer/)
    assert.throws(() => new Pretraining(options(join(dir, 'x'), { imageSize: 16 }), data, quiet), /data is 8px/)
  })

  it('a CPU-time budget stops and saves; the evaluate hook logs scores with step and time to eval.jsonl; the card is written from the records', async () => {
    const out = join(dir, 'cpu-budget')
    let calls = 0
    const evaluate = async (model: DiffusionModel) => {
      calls++
      assert.equal(model.dit.width, 16, 'the hook gets the EMA model')
      return { judgeTop1: 0.25, judgeTop5: 0.5, judgeImages: 4 }
    }
    // a budget the first step alone uses up (the thread CPU clock may tick coarsely, so a step or two)
    const r = await new Pretraining(options(out, { stopAtCpuSeconds: 1e-6, evalEvery: 2 }), { ...data, evaluate }, quiet).run()
    assert.equal(r.stopped, 'cpu-budget')
    assert.ok(r.step >= 1 && r.step < 6, `stopped at step ${r.step}`)
    const state = await loadCheckpoint(join(out, 'state'))
    assert.equal((state.config as { step?: number }).step, r.step, 'the stop saved the state')
    assert.ok(((state.config as { trainCpuSeconds?: number }).trainCpuSeconds ?? 0) > 0, 'CPU time is saved with the state')
    const firstLines = (await readFile(join(out, 'eval.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>)
    assert.equal(firstLines.length, calls)
    assert.equal(firstLines.at(-1)!.step, r.step, 'the budget stop evaluates the model it saved')
    // resume without the budget: every even step is evaluated, and the end (6) only once
    const r2 = await new Pretraining(options(out, { resume: true, evalEvery: 2 }), { ...data, evaluate }, quiet).run()
    assert.equal(r2.step, 6)
    const lines = (await readFile(join(out, 'eval.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>)
    assert.equal(lines.length, calls)
    assert.deepEqual(lines.slice(-2).map((l) => l.step), [4, 6])
    assert.ok(lines.every((l, i) => i === 0 || l.step! > lines[i - 1]!.step!), 'one line per evaluated step')
    for (const l of lines) {
      assert.equal(l.judgeTop1, 0.25)
      assert.ok(l.trainCpuSeconds! >= 0 && l.trainSeconds! >= 0)
    }
    const { writePretrainCard } = await import('../../src-main/ml/diffusion/pretrain-card.ts')
    const rec = await writePretrainCard(out, join(out, 'model'), { title: 'Tiny', command: 'npm run pretrain -- ...', judgeCeilingTop1: 0.6 })
    assert.equal(rec.evals.length, lines.length)
    const card = await readFile(join(out, 'model', 'MODEL_CARD.md'), 'utf8')
    assert.match(card, /\*\*6 of 6 steps\*\*/)
    assert.match(card, /top-1 \*\*25\.0%\*\*/)
    assert.match(card, /half the ceiling\) is 30\.0%: \*\*not met\*\*/)
    assert.match(card, /twitter: Twemoji/)
    assert.ok((await readdir(join(out, 'model'))).includes('curves.png'))
  })
})
