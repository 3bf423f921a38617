// npm run train-judge -- [--minutes 15 | --steps N] [--batch 128] [--lr 2e-3] [--seed 1] [--out resources/models/judge]
//
// Trains the judge, a plain emoji classifier that scores what generators draw and is never a training
// reward, on every image of the training styles (training AND validation emoji), measures its
// real-image ceiling on the held-out style (which it never sees), and writes the checkpoint,
// config.json, MODEL_CARD.md and training-curve.json into --out.
import { parseArgs } from 'node:util'
import { join, resolve } from 'node:path'
import { cpus } from 'node:os'
import * as tf from '@tensorflow/tfjs-core'
import { initTf, type TfBackendName } from '../ml/backend/init.ts'
import { threadCpuMs } from '../ml/backend/thread-cpu.ts'
import { ALL_STYLES, HELD_OUT_STYLE, TRAINING_STYLES, loadEmojiDatasetWithInfo, type EmojiStyle } from '../ml/data/emoji-dataset.ts'
import { Rng } from '../ml/util/rng.ts'
import { JudgeModel, type JudgeArchitecture, type JudgeTrainingSummary } from '../ml/judge/classifier.ts'
import { DEFAULT_AUGMENT, EpochSampler, judgeClasses, JudgeTrainer, labelledImages, makeBatch, type AugmentOptions, type JudgeData } from '../ml/judge/training.ts'
import { scoreImages, summarizeByGroup, summarizeJudge, type JudgeScores, type JudgeSummary } from '../ml/judge/score.ts'
import { styleCredit } from '../ml/judge/credits.ts'
import { atomicWriteFile } from '../util/atomic-write.ts'
import { formatDuration } from '../util/format-duration.ts'
import { resourcePath } from '../util/resource-path.ts'

const USAGE = `usage: npm run train-judge -- [--minutes M | --cpu-minutes M | --steps N] [--batch B] [--lr LR] [--warmup N] [--seed S]
                                 [--label-smoothing E] [--widths 32,64,128] [--blocks N] [--stem-stride 1|2] [--norm layer|none]
                                 [--styles a,b,...] [--held-out STYLE] [--eval-every N] [--out DIR] [--backend NAME]
       npm run train-judge -- --eval-only [--out DIR]   (re-measure a trained judge, rewrite its card)`

interface Options {
  steps: number
  /** wall-time budget: after warm-up, steps = what fits at the warm-up's pace */
  minutes?: number
  /** the same counted in this thread's CPU time, which other work on a shared machine does not stretch */
  cpuMinutes?: number
  batch: number
  lr: number
  warmup: number
  seed: number
  labelSmoothing: number
  evalEvery: number
  out: string
  evalOnly: boolean
  trainingStyles: EmojiStyle[]
  heldOut: EmojiStyle
  architecture: Partial<Omit<JudgeArchitecture, 'numClasses'>>
  backend?: TfBackendName
}

function parseStyles(text: string, flag: string): EmojiStyle[] {
  const styles = text.split(',').map((s) => s.trim()).filter(Boolean)
  for (const s of styles) if (!(ALL_STYLES as readonly string[]).includes(s)) throw new Error(`--${flag}: unknown style '${s}' (styles: ${ALL_STYLES.join(', ')})`)
  if (styles.length === 0) throw new Error(`--${flag} needs at least one style`)
  return styles as EmojiStyle[]
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '1200' },
      minutes: { type: 'string' },
      'cpu-minutes': { type: 'string' },
      batch: { type: 'string', default: '128' },
      lr: { type: 'string', default: '0.002' },
      warmup: { type: 'string', default: '50' },
      seed: { type: 'string', default: '1' },
      'label-smoothing': { type: 'string', default: '0.1' },
      widths: { type: 'string' },
      blocks: { type: 'string' },
      'stem-stride': { type: 'string' },
      norm: { type: 'string' },
      styles: { type: 'string' },
      'held-out': { type: 'string' },
      'eval-every': { type: 'string', default: '250' },
      out: { type: 'string', default: resourcePath('resources', 'models', 'judge') },
      'eval-only': { type: 'boolean', default: false },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'`)
    return n
  }
  const num = (name: string, v: string | undefined, ok: (n: number) => boolean, what: string): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || !ok(n)) throw new Error(`--${name} must be ${what}, got '${v}'`)
    return n
  }
  const heldOut = values['held-out'] !== undefined ? parseStyles(values['held-out'], 'held-out')[0]! : HELD_OUT_STYLE
  const trainingStyles = values.styles !== undefined ? parseStyles(values.styles, 'styles') : TRAINING_STYLES.filter((s) => s !== heldOut)
  if (trainingStyles.includes(heldOut)) throw new Error(`the held-out style ${heldOut} cannot also be a training style`)
  const architecture: Options['architecture'] = {}
  if (values.widths !== undefined) architecture.widths = values.widths.split(',').map((w) => int('widths', w.trim(), 1))
  if (values.blocks !== undefined) architecture.blocksPerStage = int('blocks', values.blocks, 0)
  if (values['stem-stride'] !== undefined) architecture.stemStride = int('stem-stride', values['stem-stride'], 1)
  if (values.norm !== undefined) {
    if (values.norm !== 'layer' && values.norm !== 'none') throw new Error(`--norm must be layer or none, got '${values.norm}'`)
    architecture.norm = values.norm
  }
  let minutes: number | undefined
  let cpuMinutes: number | undefined
  if (values.minutes !== undefined && values['cpu-minutes'] !== undefined) throw new Error('give --minutes or --cpu-minutes, not both')
  if (values.minutes !== undefined) minutes = num('minutes', values.minutes, (n) => n > 0, 'a positive number')
  if (values['cpu-minutes'] !== undefined) cpuMinutes = num('cpu-minutes', values['cpu-minutes'], (n) => n > 0, 'a positive number')
  if ((minutes !== undefined || cpuMinutes !== undefined) && Number(values.warmup) < 5) throw new Error('a time budget needs --warmup >= 5: the warm-up steps measure the pace')
  return {
    steps: int('steps', values.steps, 1),
    ...(minutes !== undefined ? { minutes } : {}),
    ...(cpuMinutes !== undefined ? { cpuMinutes } : {}),
    batch: int('batch', values.batch, 2),
    lr: num('lr', values.lr, (n) => n > 0 && n < 1, 'in (0, 1)'),
    warmup: int('warmup', values.warmup, 0),
    seed: int('seed', values.seed, 0),
    labelSmoothing: num('label-smoothing', values['label-smoothing'], (n) => n >= 0 && n < 1, 'in [0, 1)'),
    evalEvery: int('eval-every', values['eval-every'], 1),
    out: resolve(values.out),
    evalOnly: values['eval-only'],
    trainingStyles,
    heldOut,
    architecture,
    ...(values.backend ? { backend: values.backend as TfBackendName } : {}),
  }
}

/** The command line that reproduces a run (every recipe flag and the architecture). */
function trainingCommand(opts: Options, a: JudgeArchitecture): string {
  const flags = [
    `--steps ${opts.steps}`, `--batch ${opts.batch}`, `--lr ${opts.lr}`, `--warmup ${opts.warmup}`, `--seed ${opts.seed}`,
    `--label-smoothing ${opts.labelSmoothing}`, `--widths ${a.widths.join(',')}`, `--blocks ${a.blocksPerStage}`, `--stem-stride ${a.stemStride}`, `--norm ${a.norm}`,
    `--styles ${opts.trainingStyles.join(',')}`, `--held-out ${opts.heldOut}`,
  ]
  return `npm run train-judge -- ${flags.join(' ')}`
}


const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '–')

interface CurvePoint {
  step: number
  loss: number
  lr: number
  seconds: number
  epoch: number
  heldOutTop1?: number
  heldOutTop5?: number
}

/** A set of labelled images with their emoji keys and categories, for scoring. */
interface EvalSet {
  name: string
  data: JudgeData
  keys: string[]
  categories: string[]
  styles: string[]
  skipped: number
}

async function score(judge: JudgeModel, set: EvalSet): Promise<JudgeScores> {
  return scoreImages(judge, { pixels: set.data.images, count: set.data.count, size: set.data.imageSize }, set.keys)
}

function evalSet(name: string, made: ReturnType<typeof labelledImages>): EvalSet {
  return { name, data: made, keys: made.items.map((it) => it.key), categories: made.items.map((it) => it.category), styles: made.items.map((it) => it.style), skipped: made.skipped }
}

/** `count` images spread evenly over a set (for quick checks during training). */
function subset(set: EvalSet, count: number): EvalSet {
  const n = set.data.count
  const idx = Array.from({ length: Math.min(n, count) }, (_, i) => Math.floor((i * n) / Math.min(n, count)))
  const floats = set.data.imageSize ** 2 * 3
  const images = new Float32Array(idx.length * floats)
  idx.forEach((src, j) => images.set(set.data.images.subarray(src * floats, (src + 1) * floats), j * floats))
  return {
    name: set.name,
    data: { imageSize: set.data.imageSize, images, labels: Int32Array.from(idx, (i) => set.data.labels[i]!), count: idx.length },
    keys: idx.map((i) => set.keys[i]!), categories: idx.map((i) => set.categories[i]!), styles: idx.map((i) => set.styles[i]!), skipped: 0,
  }
}

async function train(opts: Options, judge: JudgeModel, data: JudgeData, probe: EvalSet, augment: AugmentOptions): Promise<{ curve: CurvePoint[]; wallTimeSeconds: number; cpuSeconds: number; epochs: number }> {
  const trainer = new JudgeTrainer(judge, { learningRate: opts.lr, warmupSteps: opts.warmup, totalSteps: opts.steps, labelSmoothing: opts.labelSmoothing })
  const rng = new Rng(opts.seed + 1)
  const sampler = new EpochSampler(data.count, rng)
  const curve: CurvePoint[] = []
  const started = performance.now()
  const cpuStarted = threadCpuMs()
  let evalSeconds = 0
  let evalCpuSeconds = 0
  let smoothed = Number.NaN
  for (let step = 0; step < opts.steps; step++) {
    const lr = trainer.learningRateAt(step)
    const loss = trainer.trainStep(makeBatch(data, sampler.take(opts.batch), rng, augment))
    if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step + 1}; try a lower --lr`)
    smoothed = Number.isNaN(smoothed) ? loss : 0.95 * smoothed + 0.05 * loss
    const point: CurvePoint = { step: step + 1, loss, lr, seconds: (performance.now() - started) / 1000, epoch: (step + 1) * opts.batch / data.count }
    if ((step + 1) % opts.evalEvery === 0 && step + 1 < opts.steps) {
      const t0 = performance.now()
      const c0 = threadCpuMs()
      const s = summarizeJudge(await score(judge, probe))
      evalSeconds += (performance.now() - t0) / 1000
      evalCpuSeconds += (threadCpuMs() - c0) / 1000
      point.heldOutTop1 = s.top1
      point.heldOutTop5 = s.top5
      console.log(`  ${probe.name} (${s.images} images) at step ${step + 1}: top-1 ${pct(s.top1)}, top-5 ${pct(s.top5)}`)
    }
    curve.push(point)
    const trainSeconds = point.seconds - evalSeconds
    const perStep = trainSeconds / (step + 1)
    if ((opts.minutes !== undefined || opts.cpuMinutes !== undefined) && step + 1 === opts.warmup) {
      // The budget covers training; the final evaluation takes about a minute more.
      const cpuPerStep = ((threadCpuMs() - cpuStarted) / 1000 - evalCpuSeconds) / (step + 1)
      const [budget, pace, flag] = opts.cpuMinutes !== undefined ? [opts.cpuMinutes, cpuPerStep, '--cpu-minutes'] : [opts.minutes!, perStep, '--minutes']
      opts.steps = Math.max(opts.warmup + 1, Math.floor((budget * 60) / pace))
      trainer.setTotalSteps(opts.steps)
      console.log(`  ${flag} ${budget}: ${pace.toFixed(2)} s/step during warm-up, so ${opts.steps} steps in total`)
    }
    if ((step + 1) % 10 === 0 || step + 1 === opts.steps || step < 3) {
      process.stdout.write(
        `step ${step + 1}/${opts.steps}  loss ${loss.toFixed(3)} (avg ${smoothed.toFixed(3)})  lr ${lr.toExponential(2)}  epoch ${point.epoch.toFixed(2)}  ` +
          `${perStep.toFixed(2)} s/step (cpu ${((threadCpuMs() - cpuStarted) / 1000 / (step + 1)).toFixed(2)})  elapsed ${formatDuration(point.seconds)}  ETA ${formatDuration(perStep * (opts.steps - step - 1))}  tensors ${tf.memory().numTensors}\n`,
      )
    }
  }
  trainer.dispose()
  return {
    curve,
    wallTimeSeconds: (performance.now() - started) / 1000 - evalSeconds,
    cpuSeconds: (threadCpuMs() - cpuStarted) / 1000 - evalCpuSeconds,
    epochs: (opts.steps * opts.batch) / data.count,
  }
}

/** A copy of the set with every image box-blurred (radius r, white beyond the border): how much the judge relies on sharp detail. */
function blurred(set: EvalSet, r: number): EvalSet {
  const S = set.data.imageSize
  const src = set.data.images
  const out = new Float32Array(src.length)
  for (let n = 0; n < set.data.count; n++) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0
          for (let dy = -r; dy <= r; dy++) {
            for (let dx = -r; dx <= r; dx++) {
              const yy = y + dy
              const xx = x + dx
              sum += yy < 0 || xx < 0 || yy >= S || xx >= S ? 1 : src[((n * S + yy) * S + xx) * 3 + c]!
            }
          }
          out[((n * S + y) * S + x) * 3 + c] = sum / (2 * r + 1) ** 2
        }
      }
    }
  }
  return { ...set, name: `${set.name}, box blur ${2 * r + 1}x${2 * r + 1}`, data: { ...set.data, images: out } }
}

interface Measured {
  set: EvalSet
  overall: JudgeSummary
  byCategory: { group: string; summary: JudgeSummary }[]
  byStyle: { group: string; summary: JudgeSummary }[]
  /** the classes the judge answers most often when it is wrong, with how often, and a few emoji it took for them */
  attractors: { predicted: string; count: number; examples: string[] }[]
}

async function measure(judge: JudgeModel, set: EvalSet): Promise<Measured> {
  const scores = await score(judge, set)
  const wrong = new Map<string, string[]>()
  scores.predicted.forEach((p, i) => {
    if (p === set.keys[i]) return
    const list = wrong.get(p) ?? []
    list.push(set.keys[i]!)
    wrong.set(p, list)
  })
  const attractors = [...wrong].sort((a, b) => b[1].length - a[1].length).slice(0, 8).map(([predicted, asked]) => ({ predicted, count: asked.length, examples: asked.slice(0, 3) }))
  return { set, overall: summarizeJudge(scores), byCategory: summarizeByGroup(scores, set.categories), byStyle: summarizeByGroup(scores, set.styles), attractors }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const backend = await initTf(opts.backend ? { prefer: opts.backend } : {})
  console.log(`backend: ${backend.name} (${backend.detail})`)
  const styles = [...opts.trainingStyles, opts.heldOut]
  console.log(`loading the emoji data set: ${styles.join(', ')} (held out: ${opts.heldOut})`)
  const { train: trainSplit, validation, info } = await loadEmojiDatasetWithInfo({ imageSize: 32, styles })
  console.log(`  ${trainSplit.items.length} + ${validation.items.length} images, pixels ${info.fromCache ? 'from the cache' : 'decoded'} in ${(info.pixelsMs / 1000).toFixed(1)} s${info.skipped.length ? `; ${info.skipped.length} images skipped` : ''}${info.cacheProblem ? ` (${info.cacheProblem})` : ''}`)

  let judge: JudgeModel
  let summary: JudgeTrainingSummary
  if (opts.evalOnly) {
    judge = await JudgeModel.load(opts.out)
    if (!judge.training) throw new Error(`${opts.out} has no training summary in its config; cannot write a model card`)
    summary = { ...judge.training, metrics: { ...judge.training.metrics } }
    opts.trainingStyles = summary.trainingStyles as EmojiStyle[]
    if (summary.heldOutStyle) opts.heldOut = summary.heldOutStyle as EmojiStyle
  } else {
    const classes = judgeClasses({ train: trainSplit, validation }, opts.trainingStyles)
    judge = JudgeModel.create(classes, opts.seed, opts.architecture)
  }
  const classIndex = judge.classIndex
  const trainData = labelledImages([trainSplit, validation], classIndex, opts.trainingStyles)
  const sets: EvalSet[] = [
    evalSet(`held-out style (${opts.heldOut}), training-split emoji`, labelledImages([trainSplit], classIndex, [opts.heldOut])),
    evalSet(`held-out style (${opts.heldOut}), validation-split emoji`, labelledImages([validation], classIndex, [opts.heldOut])),
  ]
  // the probe during training: held-out images of both splits, a fixed spread
  const heldOutAll = evalSet(`held-out style (${opts.heldOut})`, labelledImages([trainSplit, validation], classIndex, [opts.heldOut]))
  console.log(
    `judge: ${judge.classes.length} classes (${judge.classes.filter((c) => c.split === 'validation').length} validation emoji), ` +
      `${judge.parameterCount.toLocaleString('en')} parameters; ${trainData.count} training images; held-out images ${sets[0]!.data.count} + ${sets[1]!.data.count}`,
  )

  if (!opts.evalOnly) {
    const run = await train(opts, judge, trainData, subset(heldOutAll, 600), DEFAULT_AUGMENT)
    const tail = run.curve.slice(-20)
    summary = {
      steps: opts.steps,
      batchSize: opts.batch,
      wallTimeSeconds: run.wallTimeSeconds,
      finalLoss: tail.reduce((s, p) => s + p.loss, 0) / tail.length,
      backend: backend.name,
      seed: opts.seed,
      command: trainingCommand(opts, judge.architecture),
      trainingStyles: opts.trainingStyles,
      heldOutStyle: opts.heldOut,
      metrics: {
        learningRate: opts.lr, warmupSteps: opts.warmup, labelSmoothing: opts.labelSmoothing, epochs: run.epochs, cpuSeconds: run.cpuSeconds, trainingImages: trainData.count,
        ...(opts.minutes !== undefined ? { minutesBudget: opts.minutes } : {}),
        ...(opts.cpuMinutes !== undefined ? { cpuMinutesBudget: opts.cpuMinutes } : {}),
        augmentMaxShift: DEFAULT_AUGMENT.maxShift, augmentScaleJitter: DEFAULT_AUGMENT.scaleJitter, augmentBrightness: DEFAULT_AUGMENT.brightness, augmentContrast: DEFAULT_AUGMENT.contrast,
      },
    }
    await atomicWriteFile(join(opts.out, 'training-curve.json'), JSON.stringify(run.curve) + '\n')
  }

  console.log('measuring...')
  const t0 = performance.now()
  const [heldTrain, heldVal] = [await measure(judge, sets[0]!), await measure(judge, sets[1]!)]
  const heldAll = await measure(judge, heldOutAll)
  const fit = await measure(judge, evalSet('training styles (seen images, no augmentation)', trainData))
  const blur = [1, 2].map((r) => ({ size: 2 * r + 1, summary: null as JudgeSummary | null }))
  for (const b of blur) b.summary = summarizeJudge(await score(judge, blurred(heldOutAll, (b.size - 1) / 2)))
  const measureSeconds = (performance.now() - t0) / 1000
  Object.assign(summary!.metrics, {
    heldOutTop1: heldAll.overall.top1, heldOutTop5: heldAll.overall.top5, heldOutMeanRank: heldAll.overall.meanRank, heldOutImages: heldAll.overall.images,
    heldOutTrainSplitTop1: heldTrain.overall.top1, heldOutTrainSplitTop5: heldTrain.overall.top5, heldOutTrainSplitImages: heldTrain.overall.images,
    heldOutValidationSplitTop1: heldVal.overall.top1, heldOutValidationSplitTop5: heldVal.overall.top5, heldOutValidationSplitImages: heldVal.overall.images,
    trainingStylesTop1: fit.overall.top1, trainingStylesTop5: fit.overall.top5,
    ...Object.fromEntries(blur.flatMap((b) => [[`heldOutBlur${b.size}Top1`, b.summary!.top1], [`heldOutBlur${b.size}Top5`, b.summary!.top5]])),
  })
  await judge.save(opts.out, summary!)
  await atomicWriteFile(join(opts.out, 'MODEL_CARD.md'), modelCard(judge, summary!, { heldTrain, heldVal, heldAll, fit, blur: blur.map((b) => ({ size: b.size, summary: b.summary! })) }, { trainImages: trainSplit.items.length, validationImages: validation.items.length, skipped: info.skipped.length }, measureSeconds))
  console.log(
    `done: ${summary!.steps} steps in ${formatDuration(summary!.wallTimeSeconds)} (training only), final loss ${summary!.finalLoss.toFixed(3)}; ` +
      `held-out ${opts.heldOut}: top-1 ${pct(heldAll.overall.top1)} / top-5 ${pct(heldAll.overall.top5)} ` +
      `(training-split emoji ${pct(heldTrain.overall.top1)} / ${pct(heldTrain.overall.top5)}, validation-split emoji ${pct(heldVal.overall.top1)} / ${pct(heldVal.overall.top5)}); ` +
      `training styles top-1 ${pct(fit.overall.top1)}. Saved to ${opts.out}`,
  )
  judge.dispose()
}

function row(label: string, s: JudgeSummary, classes: number): string {
  return `| ${label} | ${s.images} | **${pct(s.top1)}** | **${pct(s.top5)}** | ${Number.isFinite(s.meanRank) ? s.meanRank.toFixed(1) : '–'} | ${(100 / classes).toFixed(2)}% / ${(500 / classes).toFixed(2)}% |`
}

function modelCard(
  judge: JudgeModel,
  s: JudgeTrainingSummary,
  m: { heldTrain: Measured; heldVal: Measured; heldAll: Measured; fit: Measured; blur: { size: number; summary: JudgeSummary }[] },
  data: { trainImages: number; validationImages: number; skipped: number },
  measureSeconds: number,
): string {
  const a = judge.architecture
  const C = a.numClasses
  const held = s.heldOutStyle ?? '?'
  const name = (key: string) => judge.classes[judge.classIndex.get(key) ?? -1]?.name ?? key
  const categories = [...new Set(m.heldAll.byCategory.map((g) => g.group))]
  const catOf = (meas: Measured, g: string) => meas.byCategory.find((x) => x.group === g)?.summary
  const validationClasses = judge.classes.filter((c) => c.split === 'validation').length
  const stages = a.widths.map((w, i) => {
    const side = a.imageSize / a.stemStride / 2 ** i
    return `${w} channels at ${side}x${side}`
  })
  return `# The judge: an emoji classifier for scoring generated images

Trained by \`${s.command ?? 'npm run train-judge'}\`; this card was written by the same command (or \`-- --eval-only\`) from that run's measurements.

## What it is, and what it is not
A plain image classifier: a 32x32 image in, a score for each of **${C} emoji** out. \`npm run eval\` asks it
which emoji a generator drew, and reports how often the emoji the prompt asked for is its first choice (top-1)
or among its first five (top-5). It is **never a training reward**: no DI*, KL, distillation or preference
code reads it, so no generator is optimised against it, unlike the alignment model (the reward, which a
generator can learn to please with colour blobs). Its scores measure recognisability by an independent
observer; they can still be fooled by adversarial pixels, but nothing in this project searches for them.

## Data
- Styles it learned from (every image of each, both splits):
${s.trainingStyles.map((st) => `  - \`${st}\`: ${styleCredit(st)}`).join('\n')}
- Held-out style, never seen in training, used only to measure the ceiling below:
  - \`${held}\`: ${styleCredit(held)}
- The emoji-datasource packages (names, categories, the PNG sets) are MIT (Cal Henderson); every image is
  the base emoji without skin tones, 32x32 RGB on white, from the project's data module (\`src-main/ml/data/\`).
- Classes: every emoji with at least one image in the training styles: ${C - validationClasses} training-split emoji and
  ${validationClasses} validation-split emoji (the data set's split is by emoji; generators never see validation emoji, but the judge must
  know them to score validation prompts, so it learns them too, from the training styles only).
- ${s.metrics.trainingImages ?? '?'} training images (${data.trainImages} + ${data.validationImages} images loaded in all, the held-out style included${data.skipped ? `; ${data.skipped} SVGs could not be rasterised and are left out` : ''}).
- Augmentation, drawn afresh for every image of every batch: shift up to ±${s.metrics.augmentMaxShift ?? '?'} px per axis (bilinear, white border),
  scale ×(1 ± ${s.metrics.augmentScaleJitter ?? '?'}), brightness ±${s.metrics.augmentBrightness ?? '?'} (on the [-1, 1] scale), contrast ×(1 ± ${s.metrics.augmentContrast ?? '?'}) about the image mean.
  No flips (arrows and hands have a direction) and no hue changes (colour tells a red apple from a green one).

## Architecture (${judge.parameterCount.toLocaleString('en')} parameters)
Stages of 3x3 convolutions (${stages.join(', ')}; stage 0's first conv has stride ${a.stemStride}, each later stage starts
with a stride-2 conv), each followed by ${a.norm === 'layer' ? 'a LayerNorm over the channels of each pixel and ' : ''}${a.activation === 'silu' ? 'SiLU' : 'ReLU'}, then ${a.blocksPerStage}
residual conv3x3 block(s) per stage; global average pool, LayerNorm, linear to ${C} logits
(\`src-main/ml/judge/classifier.ts\`).

## Training
- Cross-entropy with label smoothing ${s.metrics.labelSmoothing ?? '?'}; Adam, peak learning rate ${s.metrics.learningRate ?? '?'}, ${s.metrics.warmupSteps ?? '?'} warm-up steps, cosine decay to 5%;
  batch ${s.batchSize}, each epoch a fresh shuffle; seed ${s.seed}.${s.metrics.minutesBudget !== undefined ? `\n  The step count was chosen by \`--minutes ${s.metrics.minutesBudget}\` from the warm-up's pace; the command above, with that count, is the same run.` : ''}${s.metrics.cpuMinutesBudget !== undefined ? `\n  The step count was chosen by \`--cpu-minutes ${s.metrics.cpuMinutesBudget}\` from the warm-up's CPU time per step; the command above, with that count, is the same run.` : ''}
- ${s.steps} steps (${(s.metrics.epochs ?? Number.NaN).toFixed(1)} epochs) in **${(s.wallTimeSeconds / 60).toFixed(1)} minutes** of training (periodic checks excluded${s.metrics.cpuSeconds !== undefined ? `; ${(s.metrics.cpuSeconds / 60).toFixed(1)} minutes of CPU time on its thread` : ''}) on the
  \`${s.backend}\` backend, one thread, on a ${cpus().length}-core machine (${cpus()[0]?.model ?? 'unknown CPU'}) shared with other work at the time;
  measuring the tables below took ${measureSeconds.toFixed(0)} s more.
- Final loss (mean of the last 20 steps): ${s.finalLoss.toFixed(3)} (uniform guess: ln ${C} = ${Math.log(C).toFixed(2)}). Per step: \`training-curve.json\`.
- How this recipe was chosen (short runs comparing the architecture, batch, learning rate and norm): \`docs/experiments/judge-recipe.md\`.

## The real-image ceiling: held-out style \`${held}\`
How often the judge names an emoji drawn by an artist it has never seen, among all ${C} classes. A generator
drawing a perfect emoji in a new style would score about this; one drawing in a training style could score
up to the "training styles" row. Rank: 1 = first choice (ties count against the image).

| Images | images | top-1 | top-5 | mean rank | chance (top-1 / top-5) |
|---|---|---|---|---|---|
${row(`**${held}, all**`, m.heldAll.overall, C)}
${row(`${held}, training-split emoji`, m.heldTrain.overall, C)}
${row(`${held}, validation-split emoji`, m.heldVal.overall, C)}
${row('training styles (images it learned from, no augmentation; for context)', m.fit.overall, C)}
${m.blur.map((b) => row(`${held}, all, blurred (${b.size}x${b.size} box)`, b.summary, C)).join('\n')}

The blurred rows say how much of the ceiling survives the loss of sharp detail that 32x32 generators
suffer: a blurry but correct drawing still scores most of it.

By category (held-out style):

| Category | images (train / val split) | top-1, training-split emoji | top-5, training-split emoji | top-1, validation-split emoji | top-5, validation-split emoji | top-1, all |
|---|---|---|---|---|---|---|
${categories.map((g) => {
    const t = catOf(m.heldTrain, g)
    const v = catOf(m.heldVal, g)
    const all = catOf(m.heldAll, g)!
    return `| ${g} | ${t?.images ?? 0} / ${v?.images ?? 0} | ${pct(t?.top1 ?? Number.NaN)} | ${pct(t?.top5 ?? Number.NaN)} | ${pct(v?.top1 ?? Number.NaN)} | ${pct(v?.top5 ?? Number.NaN)} | ${pct(all.top1)} |`
  }).join('\n')}

The validation-split rows rest on few images (${m.heldVal.overall.images}); read them as ±${(100 * Math.sqrt(Math.max(0.01, m.heldVal.overall.top1 * (1 - m.heldVal.overall.top1)) / Math.max(1, m.heldVal.overall.images))).toFixed(0)} points (one standard error).
${m.heldTrain.set.skipped + m.heldVal.set.skipped > 0 ? `${m.heldTrain.set.skipped + m.heldVal.set.skipped} held-out images show emoji the training styles never draw, so the judge has no class for them; they are left out.\n` : ''}
Training styles one by one (images it learned from):

| Style | images | top-1 | top-5 |
|---|---|---|---|
${m.fit.byStyle.map((g) => `| ${g.group} | ${g.summary.images} | ${pct(g.summary.top1)} | ${pct(g.summary.top5)} |`).join('\n')}

When wrong on the held-out style, the answers it gives most often (how many held-out images it gave it for; some of the emoji they showed):
${m.heldAll.attractors.map((a) => `- ${name(a.predicted)}: ${a.count} (${a.examples.map(name).join(', ')})`).join('\n')}

## Use
\`\`\`ts
const judge = await JudgeModel.load('resources/models/judge')
const scores = await scoreImages(judge, { pixels, count, size: 32 }, wantedKeys)   // ranks, top1, top5 per image
summarizeJudge(scores); summarizeByCategory(judge, scores, wantedKeys)
\`\`\`
\`npm run eval\` reports its top-1 and top-5 for every model, on training-emoji and validation prompts separately and by category.

## Limits
32x32 only; it knows the ${C} base emoji of its classes, nothing else (any image gets one of them as its
answer). Its ceiling on a new style is the table above, not 100%: a generated image's score should be
read against it. These are one training run's numbers (seed ${s.seed}).
`
}

main().catch((err) => {
  console.error(`train-judge failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  process.exit(1)
})
