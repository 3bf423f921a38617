// The eval's pieces around the metrics: the prompt subset, the DI*/KL run configs (same budget, only the
// regulariser differs), the Markdown table, the figure's axis ticks and PNG rendering, and the machine
// description and one-table layout that `npm run bench` and the eval share.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PNG } from 'pngjs'
import { promptSubset } from '../../src-main/eval/pipeline.ts'
import { evalRunConfig } from '../../src-main/eval/training.ts'
import { judgeCategoryTable, judgeTable, modelTable, resultsMarkdown } from '../../src-main/eval/report.ts'
import { figureSvg, linearTicks, renderSvgToPng } from '../../src-main/eval/figure.ts'
import { EvalResults, RESULTS_FORMAT, RESULTS_VERSION, type ModelResult } from '../../src-main/eval/results.ts'
import { describeMachine, formatMachine, packageVersion } from '../../src-main/bench/harness/machine.ts'
import { formatTable } from '../../src-main/bench/harness/table.ts'
import { parseRunConfig } from '../../src-main/core/runs/run-config.ts'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

const summary = (mean: number) => ({ mean, sd: 1, n: 4, min: mean - 1, max: mean + 1 })

function model(id: string, kind: ModelResult['kind'], ms: number, fraction: number | null): ModelResult {
  return {
    id, label: id, kind, inferenceSteps: kind === 'reference' ? 50 : 1, images: 4,
    alignment: summary(kind === 'reference' ? 10 : 12), rewards: { brightness: summary(0.5) }, frechet: 0.25,
    diversity: { all: 0.5, samePrompt: null, sameSeed: 0.1 },
    time: { ortMsPerImage: ms, passes: 1, fractionOfBaseline: fraction }, sampleSheet: `samples/${id}.png`,
  }
}

function results(): EvalResults {
  return EvalResults.parse({
    format: RESULTS_FORMAT, version: RESULTS_VERSION, createdAt: '2026-11-26T12:00:00.000Z', command: 'npm run eval', wallMs: 1000, quick: false,
    settings: { prompts: 2, promptsAvailable: 178, promptFile: 'p.txt', seeds: [0, 1], sampler: 'ddim', cfg: 4.5, referenceSteps: [50], tInit: 399, timingRepeats: 3, training: { steps: 10, batchSize: 2, seed: 0, controls: {} } },
    machine: {}, machineLines: ['machine: test'], loadAverageAfter: [1, 1, 1],
    real: { images: 10, frechetTrainVsValidation: 0.1 },
    training: [], timeBaseline: 'ref',
    models: [model('ref', 'reference', 400, 1), model('distar', 'run', 8, 0.02)],
  })
}

describe('eval report pieces', () => {
  it('spreads a prompt subset evenly over the list, in order', () => {
    const all = Array.from({ length: 10 }, (_, i) => `p${i}`)
    assert.deepEqual(promptSubset(all, 4), ['p0', 'p2', 'p5', 'p7'])
    assert.deepEqual(promptSubset(all, 10), all)
    assert.deepEqual(promptSubset(all, 50), all)
  })

  it('gives DI* and KL the same budget and settings, differing only in the regulariser', () => {
    const base = { controls: { rewardWeight: 0.1, regulariser: 'score', cfgScale: 4.5 }, steps: 300, batchSize: 16, samples: { every: 25, columns: 8 } }
    const budget = { steps: 40, batchSize: 8, seed: 5 }
    const score = parseRunConfig(evalRunConfig(base, { regulariser: 'score', budget, referenceDir: '/ref', alignmentDir: '/align' }))
    const kl = parseRunConfig(evalRunConfig(base, { regulariser: 'kl', budget, referenceDir: '/ref', alignmentDir: '/align' }))
    assert.equal(score.controls.regulariser, 'score')
    assert.equal(kl.controls.regulariser, 'kl')
    assert.deepEqual([score.steps, score.batchSize, score.seed], [40, 8, 5])
    assert.deepEqual(score.reward, { kind: 'alignment', modelDir: '/align' })
    const { controls: c1, name: n1, ...rest1 } = score
    const { controls: c2, name: n2, ...rest2 } = kl
    assert.deepEqual(rest1, rest2)
    assert.deepEqual({ ...c1, regulariser: 'x' }, { ...c2, regulariser: 'x' })
    assert.notEqual(n1, n2)
  })

  it('prints one table row per model with the time fraction as a percentage', () => {
    const lines = modelTable(results()).split('\n')
    assert.equal(lines.length, 2 + 2)
    assert.match(lines[0]!, /\| Model \| Steps \| Alignment/)
    assert.match(lines[3]!, /^\| distar \| 1 \| 12\.00 ± 1\.00 \|.*\| 8\.00 \| – \| 2\.0% \|$/)
    assert.match(lines[2]!, /\| 400 \| – \| 100% \|$/)
  })

  it('makes readable axis ticks and renders the figure to a PNG', () => {
    assert.deepEqual(linearTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1])
    assert.deepEqual(linearTicks(-3.2, 7.9, 5), [-2, 0, 2, 4, 6])
    const svg = figureSvg(results())
    assert.match(svg, /Alignment vs time per image/)
    const png = PNG.sync.read(renderSvgToPng(svg))
    assert.ok(png.width >= 900 && png.height >= 400)
    // not a blank page: some pixels are dark (axes, points, text)
    let dark = 0
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i]! < 100) dark++
    assert.ok(dark > 500, `${dark} dark pixels`)
  })
})

describe('judge columns in the report', () => {
  const set = (top1: number | null, top5: number | null, byCategory: Record<string, number>) => ({
    images: 4, unscored: 0, top1, top5, meanRank: top1 === null ? null : 3.5,
    byCategory: Object.fromEntries(Object.entries(byCategory).map(([c, t]) => [c, { images: 2, top1: t, top5: 1, meanRank: 2 }])),
  })

  it('leaves the judge out of evals made without one (older results.json files still read)', () => {
    const r = results()
    assert.equal(judgeTable(r), null)
    assert.equal(judgeCategoryTable(r), null)
    assert.doesNotMatch(resultsMarkdown(r), /judge/i)
  })

  it('prints top-1/top-5 on training-emoji and validation prompts per model, and top-1 by category', () => {
    const base = results()
    const r = EvalResults.parse({
      ...base,
      settings: { ...base.settings, trainingPrompts: 150, trainingPromptsAvailable: 150, trainingPromptFile: 'resources/prompts/judge-training-emoji.txt' },
      models: [
        { ...base.models[0]!, judge: { validation: set(0.25, 0.5, { Flags: 0.5 }), trainingEmoji: set(0.75, 1, { 'Food & Drink': 1, Flags: 0 }) } },
        { ...base.models[1]!, judge: { validation: set(0, 0.125, { Flags: 0 }), trainingEmoji: null } },
      ],
      judge: { dir: '/x/resources/models/judge', fingerprint: 'abcd', classes: 1911, trainingStyles: ['twitter', 'google'], heldOutStyle: 'emojione', ceiling: { heldOutTop1: 0.4, heldOutTop5: 0.6 } },
    })
    const lines = judgeTable(r)!.split('\n')
    assert.equal(lines.length, 4)
    assert.match(lines[0]!, /Judge top-1, training emoji/)
    assert.equal(lines[2], '| ref | 50 | 75.0% | 100.0% | 25.0% | 50.0% | 4 / 4 |')
    assert.equal(lines[3], '| distar | 1 | – | – | 0.0% | 12.5% | – / 4 |')
    const cats = judgeCategoryTable(r)!.split('\n')
    assert.deepEqual(cats.slice(2), ['| Food & Drink | 2 / 0 | 100.0% / – | – / – |', '| Flags | 2 / 2 | 0.0% / 50.0% | – / 0.0% |'])
    const md = resultsMarkdown(r)
    assert.match(md, /never used as a training reward/)
    assert.match(md, /40\.0% \/ 60\.0%/)
    assert.match(md, /plus 150 prompts of training emoji/)
  })
})

describe('machine description and the one bench table', () => {
  it('names the CPU, memory, OS, node, tfjs backend and onnxruntime version', () => {
    const m = describeMachine({ name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', simd: true, threads: 1, detail: '' })
    assert.ok(m.cores >= 1 && m.ramGiB > 0)
    assert.equal(m.onnxruntimeVersion, packageVersion('onnxruntime-node'))
    assert.match(m.onnxruntimeVersion, /^\d+\.\d+\.\d+/)
    const text = formatMachine(m).join('\n')
    for (const part of ['cores', 'GiB RAM', 'os: ', `node ${process.version}`, 'wasm', `onnxruntime-node ${m.onnxruntimeVersion}`]) assert.ok(text.includes(part), part)
    assert.equal(packageVersion('no-such-package-for-sure'), 'not installed')
  })

  it('puts rows of every area in one table with an area column', () => {
    const lines = formatTable([
      { area: 'diffusion', name: 'DiT step B16', value: 612.3, unit: 'ms' },
      { area: 'inference', name: 'one-step B16', value: 4.2, unit: 'ms/image', notes: 'onnxruntime' },
    ]).split('\n')
    assert.equal(lines.length, 4)
    assert.match(lines[0]!, /^\| area\s+\| name\s+\| value \| unit\s+\| notes\s+\|$/)
    assert.match(lines[2]!, /^\| diffusion \| DiT step B16 \|\s+612\.3 \| ms/)
    assert.ok(lines.every((l) => l.length === lines[0]!.length))
  })
})

describe('npm run eval arguments', () => {
  const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'src-main/cli/eval.ts', ...args], { cwd: process.cwd() })

  it('prints its usage with --help and refuses bad values before doing any work', async () => {
    const help = await cli('--help')
    assert.match(help.stdout, /--quick/)
    assert.match(help.stdout, /--write-docs/)
    await assert.rejects(cli('--prompts', 'many'), (err: { code: number; stderr: string }) => err.code === 2 && /--prompts must be an integer/.test(err.stderr))
    await assert.rejects(cli('--sampler', 'euler'), (err: { code: number; stderr: string }) => err.code === 2 && /--sampler must be ddim or dpmpp-2m/.test(err.stderr))
    await assert.rejects(cli('--bogus'), (err: { code: number; stderr: string }) => err.code === 2 && /Unknown option/.test(err.stderr))
  })
})
