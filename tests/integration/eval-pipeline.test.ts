// `npm run eval`'s pipeline end to end at toy size: a tiny reference and alignment model, 3 prompts x 2
// seeds, 2 training steps for DI* and for KL, synthetic "real" images. Checks that every output exists and
// agrees with the others (table rows = models, PNGs decode, numbers finite), that a second run reuses the
// trained generators and reproduces their scores, and that docs/results.md keeps its hand-written reading.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PNG } from 'pngjs'
import { initTf, type TfBackendInfo } from '../../src-main/ml/backend/init.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { AlignmentModel } from '../../src-main/ml/rewards/alignment-model.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { readResults, runEvaluation, type EvalOptions, type EvalOutcome } from '../../src-main/eval/pipeline.ts'
import { DOCS_BEGIN, DOCS_END, writeDocsResults } from '../../src-main/eval/report.ts'
import { ensureTrainedRun, evalRunConfig, PENDING_KEY_FILE, trainingKey } from '../../src-main/eval/training.ts'
import { DiStarRun } from '../../src-main/core/runs/run-engine.ts'
import { checkpointPath } from '../../src-main/core/runs/run-files.ts'
import { loadCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { JudgeModel } from '../../src-main/ml/judge/classifier.ts'
import { sheetLayout } from '../../src-main/eval/sheets.ts'

const PROMPTS = ['red apple', 'black cat', 'yellow star']
/** prompts of "training emoji" for the judge; 'star' names no emoji the toy judge knows */
const TRAINING_PROMPTS = ['black cat', 'red apple', 'star']
const SIZE = 8
/** which emoji each toy prompt asks for, and the toy judge's classes */
const PROMPT_KEYS = new Map<string, string | null>([['red apple', '1f34e'], ['black cat', '1f408-200d-2b1b'], ['yellow star', '2b50']])
const JUDGE_CLASSES = [
  { key: '1f34e', name: 'red apple', category: 'Food & Drink', split: 'train' as const },
  { key: '1f408-200d-2b1b', name: 'black cat', category: 'Animals & Nature', split: 'train' as const },
  { key: '2b50', name: 'star', category: 'Travel & Places', split: 'validation' as const },
  { key: '1f600', name: 'grinning face', category: 'Smileys & Emotion', split: 'train' as const },
]

let root: string
let backend: TfBackendInfo
let options: EvalOptions
let first: EvalOutcome
const logs: string[] = []

function randomImages(seed: number, count: number) {
  const rng = new Rng(seed)
  return { pixels: Float32Array.from(rng.normals(count * SIZE * SIZE * 3), (v) => Math.tanh(v)), count, size: SIZE }
}

before(async () => {
  backend = await initTf()
  root = await mkdtemp(join(tmpdir(), 'eval-e2e-'))
  const tokenizer = Tokenizer.build(PROMPTS, { maxLength: 4 })
  const reference = DiffusionModel.create(
    { imageSize: SIZE, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8 },
    { kind: 'cosine', T: 1000 }, tokenizer, 7,
  )
  await reference.save(join(root, 'reference'))
  reference.dispose()
  const alignment = AlignmentModel.create(tokenizer, 3, {
    imageSize: SIZE, patchSize: 4, imageWidth: 8, imageBlocks: 1, tokenMixHidden: 8, channelMixHidden: 8,
    textWidth: 8, textBlocks: 1, textHidden: 8, embedDim: 6,
  })
  await alignment.save(join(root, 'alignment'))
  alignment.dispose()
  const judge = JudgeModel.create(JUDGE_CLASSES, 5, { imageSize: SIZE, stemStride: 1, widths: [4, 8], blocksPerStage: 0 })
  await judge.save(join(root, 'judge'), { steps: 0, batchSize: 1, wallTimeSeconds: 0, finalLoss: 0, backend: 'test', seed: 5, trainingStyles: ['twitter'], heldOutStyle: 'google', metrics: { heldOutTop1: 0.25, heldOutTop5: 1 } })
  judge.dispose()
  options = {
    outDir: join(root, 'out'),
    referenceDir: join(root, 'reference'),
    alignmentDir: join(root, 'alignment'),
    prompts: PROMPTS, promptsAvailable: 10, promptFile: 'prompts.txt',
    trainingPrompts: TRAINING_PROMPTS, trainingPromptsAvailable: 150, trainingPromptFile: 'training.txt',
    judgeDir: join(root, 'judge'), promptKeys: PROMPT_KEYS,
    seeds: [0, 1],
    sampler: 'ddim', cfg: 2, referenceSteps: [2, 4],
    baseRunConfig: { controls: { rewardWeight: 0.1, generatorLr: 1e-3, fakeLr: 1e-3, cfgScale: 2 }, tInit: 399, prompts: PROMPTS, samples: { every: 0, prompts: PROMPTS.slice(0, 2), columns: 2 } },
    budget: { steps: 2, batchSize: 2, seed: 1 },
    retrain: false, timingRepeats: 1, tfjsTiming: true, threads: 1, quick: true,
    command: 'npm run eval -- (toy test)', backend,
    loadRealImages: async (imageSize) => {
      assert.equal(imageSize, SIZE, 'real images are asked for at the alignment model\'s size')
      return { validation: randomImages(1, 12), train: randomImages(2, 20) }
    },
    log: (m) => logs.push(m),
  }
  first = await runEvaluation(options)
})

after(async () => {
  await rm(root, { recursive: true, force: true })
})

const MODEL_IDS = ['reference-4', 'reference-2', 'one-step-init', 'di-star', 'kl']

describe('eval pipeline (toy size)', () => {
  it('scores every model: the reference at each step count, the init generator, DI* and KL', async () => {
    const r = await readResults(options.outDir) // schema-checked
    assert.deepEqual(r.models.map((m) => m.id), MODEL_IDS)
    assert.deepEqual(r.training.map((t) => [t.id, t.regulariser, t.reused, t.steps]), [['di-star', 'score', false, 2], ['kl', 'kl', false, 2]])
    assert.equal(r.timeBaseline, 'reference-4')
    for (const m of r.models) {
      assert.equal(m.images, PROMPTS.length * 2, m.id)
      for (const v of [m.alignment.mean, m.alignment.sd, m.frechet, m.time.ortMsPerImage, m.diversity.all!, m.diversity.samePrompt!, m.diversity.sameSeed!]) {
        assert.ok(Number.isFinite(v), `${m.id}: ${v} is finite`)
      }
      assert.ok(m.alignment.mean >= -100 && m.alignment.mean <= 100, `${m.id}: alignment in [-100, 100]`)
      assert.ok(m.frechet >= 0 && m.time.ortMsPerImage > 0, m.id)
      assert.deepEqual(Object.keys(m.rewards).sort(), ['brightness', 'colourfulness', 'contrast'])
      assert.equal(m.inferenceSteps, m.kind === 'reference' ? Number(m.id.split('-')[1]) : 1)
      assert.equal(m.time.tfjsMsPerImage !== undefined, m.kind !== 'reference', `${m.id}: tfjs timing for one-step generators only`)
    }
    assert.equal(r.models[0]!.time.fractionOfBaseline, 1)
    assert.ok(Number.isFinite(r.real.frechetTrainVsValidation!))
    // the trained generators moved away from the initial one
    const init = r.models.find((m) => m.id === 'one-step-init')!
    assert.notEqual(r.models.find((m) => m.id === 'di-star')!.alignment.mean, init.alignment.mean)
  })

  it('writes a Markdown table with one row per model, the command and the machine', async () => {
    const md = await readFile(first.files.markdown, 'utf8')
    const lines = md.split('\n')
    const start = lines.findIndex((l) => l.startsWith('| '))
    const end = lines.findIndex((l, i) => i > start && !l.startsWith('| '))
    const rows = lines.slice(start + 2, end) // the first table; header and rule first
    assert.equal(rows.length, first.results.models.length)
    first.results.models.forEach((m, i) => assert.ok(rows[i]!.startsWith(`| ${m.label} |`), rows[i]))
    assert.match(md, /npm run eval -- \(toy test\)/)
    assert.match(md, /machine: .* cores/)
    assert.match(md, /onnxruntime-node \d/)
  })

  it('writes PNGs that decode: the figure, a sheet per model, and all models side by side', async () => {
    const decode = async (path: string) => PNG.sync.read(await readFile(path))
    const fig = await decode(first.files.figurePng)
    assert.ok(fig.width > 500 && fig.height > 300)
    assert.match(await readFile(first.files.figureSvg, 'utf8'), /Reference 4 steps/)
    assert.equal(first.files.sheets.length, MODEL_IDS.length + 2, 'a sheet per model, all models, all models on the training-emoji prompts')
    for (const m of first.results.models) {
      const sheet = await decode(join(options.outDir, m.sampleSheet))
      // 2 seeds across, 3 prompts down: 8 px tiles scaled 3x with 2 px gaps, and a column of prompt labels
      assert.deepEqual([sheet.width, sheet.height], [sheetLayout(SIZE, 3, 2, false).labelWidth + 2 * 24 + 3 * 2, 3 * 24 + 4 * 2], m.id)
    }
    const all = await decode(join(options.outDir, 'samples', 'all-models.png'))
    assert.equal(all.width, MODEL_IDS.length * 24 + (MODEL_IDS.length + 1) * 2 + sheetLayout(SIZE, 3, MODEL_IDS.length, true).labelWidth)
    const training = await decode(join(options.outDir, 'samples', 'all-models-training-emoji.png'))
    assert.deepEqual([training.width, training.height], [all.width, all.height], 'the training-emoji prompts side by side, laid out alike')
  })

  it('scores every model with the judge on validation and training-emoji prompts, by category', async () => {
    const r = await readResults(options.outDir)
    assert.deepEqual(r.settings.trainingPrompts, TRAINING_PROMPTS.length)
    assert.equal(r.judge?.classes, JUDGE_CLASSES.length)
    assert.deepEqual(r.judge?.ceiling, { heldOutTop1: 0.25, heldOutTop5: 1 })
    for (const m of r.models) {
      const j = m.judge!
      assert.ok(j, m.id)
      // every validation prompt names a known emoji; 'star' (training) names none
      assert.deepEqual([j.validation.images, j.validation.unscored], [PROMPTS.length * 2, 0], m.id)
      assert.deepEqual([j.trainingEmoji!.images, j.trainingEmoji!.unscored], [2 * 2, 2], m.id)
      for (const set of [j.validation, j.trainingEmoji!]) {
        assert.ok(set.top1! >= 0 && set.top1! <= set.top5! && set.top5! <= 1, m.id)
        assert.ok(set.meanRank! >= 1 && set.meanRank! <= JUDGE_CLASSES.length, m.id)
      }
      assert.deepEqual(Object.keys(j.validation.byCategory).sort(), ['Animals & Nature', 'Food & Drink', 'Travel & Places'])
      assert.equal(j.validation.byCategory['Food & Drink']!.images, 2)
    }
    const md = await readFile(first.files.markdown, 'utf8')
    assert.match(md, /Judge top-1, training emoji/)
    assert.match(md, /\| Food & Drink \| 2 \/ 2 \|/)
    assert.match(md, /all-models-training-emoji\.png/)
  })

  it('runs without a judge when there is none, and says so', async () => {
    const messages: string[] = []
    const none = await runEvaluation({ ...options, outDir: join(root, 'out-no-judge'), judgeDir: join(root, 'no-judge-here'), trainingPrompts: [], regularisers: ['kl'], log: (m) => messages.push(m) })
    assert.ok(none.results.models.every((m) => m.judge === undefined))
    assert.equal(none.results.judge, undefined)
    assert.ok(messages.some((m) => /no judge at/.test(m)))
    assert.doesNotMatch(await readFile(none.files.markdown, 'utf8'), /Judge top-1/)
  })

  it('reuses the trained generators on a second run and reproduces their scores', async () => {
    const before = logs.length
    const again = await runEvaluation(options)
    assert.deepEqual(again.results.training.map((t) => t.reused), [true, true])
    assert.ok(logs.slice(before).some((l) => /reusing the trained run/.test(l)))
    for (const [i, m] of again.results.models.entries()) {
      assert.equal(m.alignment.mean, first.results.models[i]!.alignment.mean, `${m.id}: same images, same score`)
      assert.equal(m.frechet, first.results.models[i]!.frechet, m.id)
      assert.deepEqual(m.judge, first.results.models[i]!.judge, `${m.id}: same images, same judge verdict`)
    }
  })

  it('trains and scores only the regularisers asked for', async () => {
    const only = await runEvaluation({ ...options, outDir: join(root, 'out-kl-only'), regularisers: ['kl'] })
    assert.deepEqual(only.results.training.map((t) => [t.id, t.regulariser]), [['kl', 'kl']])
    assert.deepEqual(only.results.models.map((m) => m.id), ['reference-4', 'reference-2', 'one-step-init', 'kl'])
    // same config, seed and weights as the two-regulariser run: the same KL generator, so the same score
    const kl = first.results.models.find((m) => m.id === 'kl')!
    assert.equal(only.results.models.at(-1)!.alignment.mean, kl.alignment.mean)
    await assert.rejects(runEvaluation({ ...options, outDir: join(root, 'out-none'), regularisers: [] }), /at least one regulariser/)
  })

  it('resumes a training run an earlier eval left unfinished and reaches the same generator', async () => {
    const outDir = join(root, 'out-resume')
    const config = evalRunConfig(options.baseRunConfig, { regulariser: 'score', budget: options.budget, referenceDir: options.referenceDir, alignmentDir: options.alignmentDir })
    const key = await trainingKey(config, options.referenceDir, options.alignmentDir)
    // an eval killed after the first step: the run has a checkpoint at step 1 and its pending key
    const cut = await DiStarRun.start(outDir, config, { runId: 'di-star' })
    await writeFile(join(cut.dir, PENDING_KEY_FILE), key)
    const status = await cut.run({ onStep: () => cut.stop() })
    cut.dispose()
    assert.deepEqual([status.state, status.step], ['stopped', 1])
    const messages: string[] = []
    const resumed = await ensureTrainedRun({ outDir, id: 'di-star', config, key, retrain: false, log: (m) => messages.push(m) }, 'score')
    assert.equal(resumed.reused, false)
    assert.ok(messages.some((m) => /resuming at step 1/.test(m)), messages.join('\n'))
    const done = await loadCheckpoint(checkpointPath(resumed.dir, 2))
    const uninterrupted = await loadCheckpoint(checkpointPath(join(options.outDir, 'runs', 'di-star'), 2))
    const names = Object.keys(done.tensors).filter((k) => k.startsWith('generator/'))
    assert.ok(names.length > 0)
    for (const k of names) assert.deepEqual(done.tensors[k]!.data, uninterrupted.tensors[k]!.data, k)
  })

  it('refreshes docs/results.md between its markers and keeps the reading', async () => {
    const docs = join(root, 'docs', 'results.md')
    await writeDocsResults(docs, first.results, 'results/')
    let text = await readFile(docs, 'utf8')
    assert.ok(text.includes(DOCS_BEGIN) && text.includes(DOCS_END))
    assert.match(text, /\| One-step, DI\* \|/)
    await writeFile(docs, text.replace('(To be written', 'The one-step model wins here. (To be written'))
    await writeDocsResults(docs, { ...first.results, command: 'npm run eval -- --second' }, 'results/')
    text = await readFile(docs, 'utf8')
    assert.match(text, /The one-step model wins here\./)
    assert.match(text, /--second/)
    assert.doesNotMatch(text, /\(toy test\)/, 'the generated part was replaced, not appended')
    await writeFile(docs, '# no markers\n')
    await assert.rejects(writeDocsResults(docs, first.results, ''), /markers/)
    assert.ok(existsSync(docs))
  })
})
