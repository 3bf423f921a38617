// The evaluation, end to end: train (or reuse) the DI* and KL generators, generate every model's images
// for the same prompts and seeds, score them, time them, and write results.json, results.md, the figure
// and the sample sheets into the output folder. The CLI (cli/eval.ts) fills in the options; the
// integration test runs it at toy size.
import { resolveGeneratorInit } from '../core/runs/generator-init.ts'
import { existsSync, promises as fs } from 'node:fs'
import { join, resolve } from 'node:path'
import os from 'node:os'
import { AlignmentModel } from '../ml/rewards/alignment-model.ts'
import { OnnxInference } from '../ml/onnx/inference.ts'
import type { TfBackendInfo } from '../ml/backend/init.ts'
import { describeMachine, formatMachine } from '../bench/harness/machine.ts'
import { atomicWriteFile } from '../util/atomic-write.ts'
import type { RunStepEvent } from '../core/runs/run-engine.ts'
import { evalRunConfig, ensureTrainedRun, trainingKey, type RegulariserChoice, type TrainedRun, type TrainingBudget } from './training.ts'
import { generateSet, imagePlan, resolvePackage, timeTfjsGenerator, type ModelSpec } from './models.ts'
import { embedImages, scoreImages, type ImageBatch } from './scoring.ts'
import { frechetDistance } from './frechet.ts'
import { meanPairwiseDistance, meanWithinGroupDistance } from './diversity.ts'
import { summarizeScores } from './stats.ts'
import { EvalResults, finiteOrNull, RESULTS_FORMAT, RESULTS_VERSION, type ModelResult } from './results.ts'
import { resultsMarkdown } from './report.ts'
import { figureSvg, renderSvgToPng } from './figure.ts'
import { modelSheet, sideBySideSheet } from './sheets.ts'
import { JudgeModel } from '../ml/judge/classifier.ts'
import { judgeAvailable, judgeGenerated } from './judging.ts'
import type { SamplerKind } from '../ml/diffusion/samplers.ts'

export const OUTPUT_FILES = {
  json: 'results.json',
  markdown: 'results.md',
  figurePng: 'figure.png',
  figureSvg: 'figure.svg',
  samples: 'samples',
  /** every model side by side on the training-emoji prompts, in samples/ */
  trainingEmojiSheet: 'all-models-training-emoji.png',
  models: '.models',
} as const

export interface RealImages {
  /** the real validation images the Frechet distance compares with */
  validation: ImageBatch
  /** real training images, for the FD floor at the eval's sample size (optional) */
  train?: ImageBatch
}

export interface EvalOptions {
  outDir: string
  referenceDir: string
  alignmentDir: string
  /** the prompts evaluated (already the chosen subset) and how many the prompt file had */
  prompts: string[]
  promptsAvailable: number
  promptFile: string
  /**
   * Prompts of training-split emoji (already the chosen subset), generated with the same seeds and
   * scored by the judge only, so its verdict on emoji the generators trained on and on held-out ones
   * can be told apart. Empty or absent: none.
   */
  trainingPrompts?: string[]
  trainingPromptsAvailable?: number
  trainingPromptFile?: string
  /** the judge's folder; absent or missing on disk: no judge columns (the log says so) */
  judgeDir?: string
  /** the emoji key each prompt asks for (canonical caption -> key; null: ambiguous) */
  promptKeys?: ReadonlyMap<string, string | null>
  seeds: number[]
  sampler: SamplerKind
  cfg: number
  /** the reference's sampler steps, e.g. [25, 50] */
  referenceSteps: number[]
  /** the run config the DI* and KL runs share (default-run.json), before the eval's overrides */
  baseRunConfig: Record<string, unknown>
  budget: TrainingBudget
  /** which regularisers get a trained one-step generator (default both, DI* first) */
  regularisers?: readonly RegulariserChoice[]
  retrain: boolean
  /** extra timed passes of one-step generators */
  timingRepeats: number
  /** also time one-step generators in TensorFlow.js */
  tfjsTiming: boolean
  /** onnxruntime intra-op threads (default: onnxruntime's choice) */
  threads?: number
  /** threads each DI* and KL training step's gradients are computed on (default 1) */
  trainingThreads?: number
  quick: boolean
  command: string
  backend: TfBackendInfo
  loadRealImages: (imageSize: number) => Promise<RealImages>
  log: (message: string) => void
  /** training progress (the CLI draws a progress line) */
  onTrainingStep?: (e: RunStepEvent) => void
  /** generation progress per model */
  onGenerationProgress?: (model: string, done: number, total: number) => void
}

export interface EvalOutcome {
  results: EvalResults
  files: { json: string; markdown: string; figurePng: string; figureSvg: string; sheets: string[] }
}

function evenlySpaced(count: number, take: number): number[] {
  return Array.from({ length: Math.min(count, take) }, (_, i) => Math.floor((i * count) / Math.min(count, take)))
}

/** The first `take` of `count` items spread evenly over the list (so a subset covers both styles and every category). */
export function promptSubset(prompts: readonly string[], take: number): string[] {
  return evenlySpaced(prompts.length, take).map((i) => prompts[i]!)
}

function subsetImages(images: ImageBatch, take: number): ImageBatch {
  const per = images.size * images.size * 3
  const idx = evenlySpaced(images.count, take)
  const pixels = new Float32Array(idx.length * per)
  idx.forEach((src, j) => pixels.set(images.pixels.subarray(src * per, (src + 1) * per), j * per))
  return { pixels, count: idx.length, size: images.size }
}

function modelSpecs(opts: EvalOptions, tInit: number, runs: TrainedRun[]): ModelSpec[] {
  const refSteps = [...opts.referenceSteps].sort((a, b) => b - a)
  return [
    ...refSteps.map((steps): ModelSpec => ({ id: `reference-${steps}`, label: `Reference ${steps} steps`, kind: 'reference', steps, sampler: opts.sampler, cfg: opts.cfg })),
    {
      id: 'one-step-init', label: 'One-step, init', kind: 'one-step-init', tInit,
      ...(typeof opts.baseRunConfig.generatorInit === 'string' ? { generatorInit: resolveGeneratorInit(opts.baseRunConfig.generatorInit) } : {}),
    },
    ...runs.map((r): ModelSpec => ({
      id: r.id, label: r.regulariser === 'score' ? 'One-step, DI*' : 'One-step, KL', kind: 'run', runDir: r.dir, regulariser: r.regulariser, trainingSteps: r.steps,
    })),
  ]
}

export async function runEvaluation(opts: EvalOptions): Promise<EvalOutcome> {
  const started = Date.now()
  const outDir = resolve(opts.outDir)
  await fs.mkdir(join(outDir, OUTPUT_FILES.samples), { recursive: true })
  const machine = describeMachine(opts.backend)
  const log = opts.log

  // 1. the DI* and KL generators, same budget
  const regularisers = opts.regularisers ?? (['score', 'kl'] as const)
  if (regularisers.length === 0) throw new Error('the eval needs at least one regulariser to train')
  const configs = regularisers.map((regulariser) => ({
    regulariser,
    id: regulariser === 'score' ? 'di-star' : 'kl',
    config: evalRunConfig(opts.baseRunConfig, { regulariser, budget: opts.budget, referenceDir: opts.referenceDir, alignmentDir: opts.alignmentDir }),
  }))
  const runs: TrainedRun[] = []
  for (const c of configs) {
    const key = await trainingKey(c.config, opts.referenceDir, opts.alignmentDir)
    runs.push(await ensureTrainedRun({ outDir, id: c.id, config: c.config, key, retrain: opts.retrain, log, ...(opts.trainingThreads ? { trainingThreads: opts.trainingThreads } : {}), ...(opts.onTrainingStep ? { onStep: opts.onTrainingStep } : {}) }, c.regulariser))
  }
  const tInit = (JSON.parse(await fs.readFile(join(runs[0]!.dir, 'config.json'), 'utf8')) as { tInit: number }).tInit

  // 2. the real images' features
  const alignment = await AlignmentModel.load(opts.alignmentDir)
  const inference = new OnnxInference(opts.threads !== undefined ? { threads: opts.threads } : {})
  let judge: JudgeModel | null = null
  try {
    if (judgeAvailable(opts.judgeDir)) {
      judge = await JudgeModel.load(opts.judgeDir)
      log(`judge: ${judge.classes.length} emoji classes from ${opts.judgeDir}`)
    } else {
      log(`no judge${opts.judgeDir ? ` at ${opts.judgeDir}` : ''} (npm run train-judge makes one): the judge's top-1/top-5 columns are left out`)
    }
    const trainingPrompts = opts.trainingPrompts ?? []
    const trainingPlan = imagePlan(trainingPrompts, opts.seeds)
    const keyOf = (prompt: string): string | null => opts.promptKeys?.get(prompt) ?? null
    log('embedding the real images')
    const real = await opts.loadRealImages(alignment.architecture.imageSize)
    const realFeatures = await embedImages(alignment, real.validation)
    const plan = imagePlan(opts.prompts, opts.seeds)
    let fdFloor: number | null = null
    if (real.train && real.train.count >= 2) {
      fdFloor = finiteOrNull(frechetDistance(await embedImages(alignment, subsetImages(real.train, plan.prompts.length)), realFeatures))
    }

    // 3. every model: images, scores, times
    const specs = modelSpecs(opts, tInit, runs)
    const models: ModelResult[] = []
    const sets: ImageBatch[] = []
    const trainingSets: ImageBatch[] = []
    const sheets: string[] = []
    for (const spec of specs) {
      log(`${spec.label}: exporting / loading its ONNX model`)
      const pkg = await resolvePackage(spec, opts.referenceDir, join(outDir, OUTPUT_FILES.models))
      log(`${spec.label}: generating ${plan.prompts.length} images`)
      const generated = await generateSet(inference, pkg, spec, {
        prompts: opts.prompts, seeds: opts.seeds, timingRepeats: opts.timingRepeats,
        onProgress: (done, total) => opts.onGenerationProgress?.(spec.label, done, total),
      })
      const tfjsMsPerImage = opts.tfjsTiming && spec.kind !== 'reference'
        ? await timeTfjsGenerator(spec, opts.referenceDir, tInit, opts.prompts, Math.max(1, opts.timingRepeats))
        : undefined
      let trainingImages: ImageBatch | null = null
      if (trainingPrompts.length > 0) {
        log(`${spec.label}: generating ${trainingPlan.prompts.length} images of training emoji`)
        trainingImages = (await generateSet(inference, pkg, spec, {
          prompts: trainingPrompts, seeds: opts.seeds, timingRepeats: 0,
          onProgress: (done, total) => opts.onGenerationProgress?.(`${spec.label} (training emoji)`, done, total),
        })).images
        trainingSets.push(trainingImages)
      }
      log(`${spec.label}: scoring`)
      const scored = await scoreImages(alignment, generated.images, plan.prompts)
      const judged = judge
        ? {
            validation: await judgeGenerated(judge, generated.images, plan.prompts, keyOf),
            trainingEmoji: trainingImages ? await judgeGenerated(judge, trainingImages, trainingPlan.prompts, keyOf) : null,
          }
        : undefined
      const sheet = join(OUTPUT_FILES.samples, `${spec.id}.png`)
      await atomicWriteFile(join(outDir, sheet), modelSheet(generated.images, opts.seeds.length, opts.prompts))
      sheets.push(join(outDir, sheet))
      sets.push(generated.images)
      models.push({
        id: spec.id, label: spec.label, kind: spec.kind,
        inferenceSteps: spec.kind === 'reference' ? spec.steps : 1,
        ...(spec.kind === 'reference' ? { cfg: spec.cfg } : {}),
        ...(spec.kind === 'run' ? { regulariser: spec.regulariser, trainingSteps: spec.trainingSteps } : {}),
        images: generated.images.count,
        alignment: summarizeScores(scored.alignment),
        rewards: Object.fromEntries(Object.entries(scored.rewards).map(([k, v]) => [k, summarizeScores(v)])),
        frechet: frechetDistance(scored.features, realFeatures),
        diversity: {
          all: finiteOrNull(meanPairwiseDistance(scored.features)),
          samePrompt: finiteOrNull(meanWithinGroupDistance(scored.features, plan.prompts)),
          sameSeed: finiteOrNull(meanWithinGroupDistance(scored.features, plan.seeds.map(String))),
        },
        time: {
          ortMsPerImage: generated.ortMsPerImage,
          ...(tfjsMsPerImage !== undefined ? { tfjsMsPerImage } : {}),
          passes: generated.passMs.length,
          fractionOfBaseline: null,
        },
        sampleSheet: sheet,
        ...(judged ? { judge: judged } : {}),
      })
      const m = models[models.length - 1]!
      const judgeText = (j: { top1: number | null; top5: number | null } | null | undefined) => (j && j.top1 !== null && j.top5 !== null ? `${(100 * j.top1).toFixed(1)}% / ${(100 * j.top5).toFixed(1)}%` : '–')
      log(
        `${spec.label}: alignment ${m.alignment.mean.toFixed(2)} ± ${m.alignment.sd.toFixed(2)}, FD ${m.frechet.toFixed(3)}, ${m.time.ortMsPerImage.toFixed(2)} ms/image` +
          (judged ? `; judge top-1 / top-5: training emoji ${judgeText(judged.trainingEmoji)}, validation ${judgeText(judged.validation)}` : ''),
      )
    }
    const baseline = models.find((m) => m.kind === 'reference') ?? models[0]!
    for (const m of models) m.time.fractionOfBaseline = finiteOrNull(m.time.ortMsPerImage / baseline.time.ortMsPerImage)
    const allSheet = join(outDir, OUTPUT_FILES.samples, 'all-models.png')
    await atomicWriteFile(allSheet, sideBySideSheet(sets, opts.seeds.length, opts.prompts, specs.map((s) => s.label)))
    sheets.push(allSheet)
    if (trainingSets.length > 0) {
      const trainingSheet = join(outDir, OUTPUT_FILES.samples, OUTPUT_FILES.trainingEmojiSheet)
      await atomicWriteFile(trainingSheet, sideBySideSheet(trainingSets, opts.seeds.length, trainingPrompts, specs.map((s) => s.label)))
      sheets.push(trainingSheet)
    }

    // 4. the files
    const { controls } = (JSON.parse(await fs.readFile(join(runs[0]!.dir, 'config.json'), 'utf8')) as { controls: Record<string, unknown> })
    const results = EvalResults.parse({
      format: RESULTS_FORMAT, version: RESULTS_VERSION, createdAt: new Date().toISOString(), command: opts.command,
      wallMs: Date.now() - started, quick: opts.quick,
      settings: {
        prompts: opts.prompts.length, promptsAvailable: opts.promptsAvailable, promptFile: opts.promptFile, seeds: opts.seeds,
        sampler: opts.sampler, cfg: opts.cfg, referenceSteps: opts.referenceSteps, tInit, timingRepeats: opts.timingRepeats,
        ...(trainingPrompts.length > 0 ? { trainingPrompts: trainingPrompts.length, trainingPromptsAvailable: opts.trainingPromptsAvailable ?? trainingPrompts.length, ...(opts.trainingPromptFile ? { trainingPromptFile: opts.trainingPromptFile } : {}) } : {}),
        training: { ...opts.budget, controls },
      },
      machine: { ...machine }, machineLines: formatMachine(machine), loadAverageAfter: os.loadavg(),
      real: { images: real.validation.count, frechetTrainVsValidation: fdFloor },
      training: runs.map(({ id, regulariser, reused, trainingMs, steps }) => ({ id, regulariser, reused, trainingMs, steps })),
      timeBaseline: baseline.id,
      models,
      ...(judge ? { judge: judgeInfo(judge, opts.judgeDir!) } : {}),
    })
    const files = {
      json: join(outDir, OUTPUT_FILES.json), markdown: join(outDir, OUTPUT_FILES.markdown),
      figurePng: join(outDir, OUTPUT_FILES.figurePng), figureSvg: join(outDir, OUTPUT_FILES.figureSvg), sheets,
    }
    const svg = figureSvg(results)
    await atomicWriteFile(files.figureSvg, svg)
    await atomicWriteFile(files.figurePng, renderSvgToPng(svg))
    await atomicWriteFile(files.json, JSON.stringify(results, null, 2) + '\n')
    await atomicWriteFile(files.markdown, resultsMarkdown(results))
    return { results, files }
  } finally {
    alignment.dispose()
    judge?.dispose()
    await inference.dispose()
  }
}

/** The judge's identity and real-image ceiling (measured by npm run train-judge, kept in its config). */
function judgeInfo(judge: JudgeModel, dir: string): NonNullable<EvalResults['judge']> {
  const m = judge.training?.metrics ?? {}
  const ceiling: Record<string, number> = {}
  for (const k of ['heldOutTop1', 'heldOutTop5', 'heldOutTrainSplitTop1', 'heldOutTrainSplitTop5', 'heldOutValidationSplitTop1', 'heldOutValidationSplitTop5']) {
    if (typeof m[k] === 'number') ceiling[k] = m[k]
  }
  return {
    dir, fingerprint: judge.fingerprint, classes: judge.classes.length,
    trainingStyles: judge.training?.trainingStyles ?? [], heldOutStyle: judge.training?.heldOutStyle ?? null, ceiling,
  }
}

/** Reads a results.json written by runEvaluation (schema-checked). */
export async function readResults(outDir: string): Promise<EvalResults> {
  const path = join(outDir, OUTPUT_FILES.json)
  if (!existsSync(path)) throw new Error(`${path} does not exist: run the eval first`)
  return EvalResults.parse(JSON.parse(await fs.readFile(path, 'utf8')))
}

