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

const PROMPTS = ['red apple', 'black cat', 'yellow star']
const SIZE = 8

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
  options = {
    outDir: join(root, 'out'),
    referenceDir: join(root, 'reference'),
    alignmentDir: join(root, 'alignment'),
    prompts: PROMPTS, promptsAvailable: 10, promptFile: 'prompts.txt',
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
    const rows = md.split('\n').filter((l) => l.startsWith('| ')).slice(2) // header and rule first
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
    assert.equal(first.files.sheets.length, MODEL_IDS.length + 1)
    for (const m of first.results.models) {
      const sheet = await decode(join(options.outDir, m.sampleSheet))
      // 2 seeds across, 3 prompts down: 8 px tiles scaled 3x with 2 px gaps
      assert.deepEqual([sheet.width, sheet.height], [2 * 24 + 3 * 2, 3 * 24 + 4 * 2], m.id)
    }
    const all = await decode(join(options.outDir, 'samples', 'all-models.png'))
    assert.equal(all.width, MODEL_IDS.length * 24 + (MODEL_IDS.length + 1) * 2)
  })

  it('reuses the trained generators on a second run and reproduces their scores', async () => {
    const before = logs.length
    const again = await runEvaluation(options)
    assert.deepEqual(again.results.training.map((t) => t.reused), [true, true])
    assert.ok(logs.slice(before).some((l) => /reusing the trained run/.test(l)))
    for (const [i, m] of again.results.models.entries()) {
      assert.equal(m.alignment.mean, first.results.models[i]!.alignment.mean, `${m.id}: same images, same score`)
      assert.equal(m.frechet, first.results.models[i]!.frechet, m.id)
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
