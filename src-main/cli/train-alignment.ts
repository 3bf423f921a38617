// npm run train-alignment -- [--steps 400] [--batch 128] [--lr 1e-3] [--seed 1] [--out resources/models/alignment]
//
// Trains the image-text alignment model (the CLIP-score analogue used as a DI* reward) on the emoji
// training split, evaluates caption retrieval, and writes the checkpoint, MODEL_CARD.md and the
// loss curve into --out.
import { parseArgs } from 'node:util'
import { join, resolve } from 'node:path'
import { cpus } from 'node:os'
import * as tf from '@tensorflow/tfjs-core'
import { initTf, type TfBackendName } from '../ml/backend/init.ts'
import { loadEmojiDataset, type EmojiSplit } from '../ml/data/emoji-dataset.ts'
import { Tokenizer } from '../ml/text/tokenizer.ts'
import { Rng } from '../ml/util/rng.ts'
import { AlignmentModel, ALIGNMENT_SCORE_SCALE, type AlignmentTrainingSummary } from '../ml/rewards/alignment-model.ts'
import { AlignmentTrainer, captionRetrieval, sampleContrastiveBatch, type RetrievalResult } from '../ml/rewards/alignment-training.ts'
import { embedSplitImages, embedTextsChunked } from '../ml/rewards/alignment-training.ts'
import { atomicWriteFile } from '../util/atomic-write.ts'

const USAGE = `usage: npm run train-alignment -- [--steps N] [--batch B] [--lr LR] [--warmup N] [--seed S]
                                     [--eval-every N] [--out DIR] [--backend wasm|cpu|tensorflow|tensorflow-gpu]`

interface Options {
  steps: number
  batch: number
  lr: number
  warmup: number
  seed: number
  evalEvery: number
  out: string
  backend?: TfBackendName
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '400' },
      batch: { type: 'string', default: '128' },
      lr: { type: 'string', default: '0.001' },
      warmup: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      'eval-every': { type: 'string', default: '100' },
      out: { type: 'string', default: 'resources/models/alignment' },
      backend: { type: 'string' },
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
  return {
    steps: int('steps', values.steps, 1),
    batch: int('batch', values.batch, 2),
    lr,
    warmup: int('warmup', values.warmup, 0),
    seed: int('seed', values.seed, 0),
    evalEvery: int('eval-every', values['eval-every'], 1),
    out: resolve(values.out),
    ...(values.backend ? { backend: values.backend as TfBackendName } : {}),
  }
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?'
  const total = Math.round(seconds)
  const m = Math.floor(total / 60)
  const s = total % 60
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`
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

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const backend = await initTf(opts.backend ? { prefer: opts.backend } : {})
  console.log(`backend: ${backend.name} (${backend.detail})`)

  const { train, validation } = await loadEmojiDataset({ imageSize: 32 })
  const tokenizer = Tokenizer.build(train.items.flatMap((it) => it.captions))
  const model = AlignmentModel.create(tokenizer, opts.seed)
  console.log(
    `data: ${train.items.length} training images, ${validation.items.length} validation images; vocabulary ${tokenizer.vocabSize}; ` +
      `model ${model.parameterCount.toLocaleString('en')} parameters`,
  )
  const trainer = new AlignmentTrainer(model, {
    batchSize: opts.batch,
    learningRate: opts.lr,
    warmupSteps: opts.warmup,
    totalSteps: opts.steps,
  })

  const rng = new Rng(opts.seed + 1)
  const curve: { step: number; loss: number; lr: number; seconds: number; valTop1?: number; valTop5?: number }[] = []
  const started = performance.now()
  let smoothed = Number.NaN
  for (let step = 0; step < opts.steps; step++) {
    const lr = trainer.learningRateAt(step)
    const loss = trainer.trainStep(sampleContrastiveBatch(train, rng, opts.batch))
    if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}; try a lower --lr`)
    smoothed = Number.isNaN(smoothed) ? loss : 0.95 * smoothed + 0.05 * loss
    const seconds = (performance.now() - started) / 1000
    const point: (typeof curve)[number] = { step: step + 1, loss, lr, seconds }
    const last = step + 1 === opts.steps
    if ((step + 1) % opts.evalEvery === 0 || last) {
      const val = captionRetrieval(model, validation)
      point.valTop1 = val.top1
      point.valTop5 = val.top5
      console.log(`  validation retrieval at step ${step + 1}: top-1 ${pct(val.top1)}, top-5 ${pct(val.top5)}, mean rank ${val.meanRank.toFixed(1)} of ${val.candidates}`)
    }
    curve.push(point)
    const perStep = seconds / (step + 1)
    process.stdout.write(
      `step ${step + 1}/${opts.steps}  loss ${loss.toFixed(3)} (avg ${smoothed.toFixed(3)})  lr ${lr.toExponential(2)}  ` +
        `${perStep.toFixed(2)} s/step  elapsed ${formatDuration(seconds)}  ETA ${formatDuration(perStep * (opts.steps - step - 1))}  tensors ${tf.memory().numTensors}\n`,
    )
  }
  const wallTimeSeconds = (performance.now() - started) / 1000
  trainer.dispose()

  console.log('evaluating...')
  const val = captionRetrieval(model, validation)
  const trn = captionRetrieval(model, train)
  const valPairs = pairwiseCheck(model, validation, 7)
  const tail = curve.slice(-20)
  const finalLoss = tail.reduce((s, p) => s + p.loss, 0) / tail.length

  const summary: AlignmentTrainingSummary = {
    steps: opts.steps,
    batchSize: opts.batch,
    wallTimeSeconds,
    finalLoss,
    backend: backend.name,
    seed: opts.seed,
    metrics: {
      validationTop1: val.top1,
      validationTop5: val.top5,
      validationMeanRank: val.meanRank,
      validationCandidates: val.candidates,
      trainTop1: trn.top1,
      trainTop5: trn.top5,
      trainCandidates: trn.candidates,
      validationPairwiseAccuracy: valPairs.accuracy,
      validationMatchedScore: valPairs.matched,
      validationMismatchedScore: valPairs.mismatched,
      learningRate: opts.lr,
    },
  }
  await model.save(opts.out, summary)
  await atomicWriteFile(join(opts.out, 'training-curve.json'), JSON.stringify(curve) + '\n')
  await atomicWriteFile(join(opts.out, 'MODEL_CARD.md'), modelCard(model, summary, val, trn, valPairs, train, validation, opts))
  console.log(
    `done in ${formatDuration(wallTimeSeconds)}: final loss ${finalLoss.toFixed(3)}; validation top-1 ${pct(val.top1)}, top-5 ${pct(val.top5)} ` +
      `of ${val.candidates}; train top-1 ${pct(trn.top1)} of ${trn.candidates}; pairwise ${pct(valPairs.accuracy)}. Saved to ${opts.out}`,
  )
  model.dispose()
}

function modelCard(
  model: AlignmentModel,
  s: AlignmentTrainingSummary,
  val: RetrievalResult,
  trn: RetrievalResult,
  pairs: { accuracy: number; matched: number; mismatched: number },
  train: EmojiSplit,
  validation: EmojiSplit,
  opts: Options,
): string {
  const a = model.architecture
  return `# Alignment model (CLIP-score analogue) for DI Studio

Generated by \`npm run train-alignment -- --steps ${opts.steps} --batch ${opts.batch} --lr ${opts.lr} --warmup ${opts.warmup} --seed ${opts.seed}\`
on ${new Date().toISOString().slice(0, 10)}. Numbers below are from that run.

## What it is
A small contrastive image-text model trained from scratch on this project's emoji data. Its score,
**100 x cosine(image embedding, prompt embedding)** (CLIPScore's scale, without CLIPScore's clamp at 0),
is the \`alignment\` reward of DI* (\`src-main/ml/rewards/alignment-reward.ts\`); its normalised image
embedding is the feature space for the Frechet distance and the preference model.

## Data
- emoji-datasource-twitter (Twemoji, CC-BY-4.0) and emoji-datasource-google (Noto Emoji, Apache-2.0) 16.0.0,
  base emoji without skin tones, 32x32 RGB on white, split by emoji (the data module's deterministic split).
- Training: ${train.items.length} images; each step draws ${opts.batch} distinct images and one random caption
  variant per image (canonical "name, style style", bare name, with category, with subcategory, short names).
- Validation: ${validation.items.length} images (${validation.items.length / 2} emoji never seen in training, in both styles).
- Its own word tokenizer, built from all training captions: ${model.tokenizer.vocabSize} ids (pad, ${model.tokenizer.oovBuckets} hashed buckets for unknown words, words), ${model.tokenizer.maxLength} words max.

## Architecture (${model.parameterCount.toLocaleString('en')} parameters)
Matmul-only, because on tfjs-wasm flag-free 2-D matMuls are ~10x faster than convolutions and attention runs on a slow loop.
- Image: ${a.patchSize}x${a.patchSize} patches (${(a.imageSize / a.patchSize) ** 2} tokens) by reshape + dense to width ${a.imageWidth};
  ${a.imageBlocks} MLP-Mixer blocks (token-mixing MLP ${(a.imageSize / a.patchSize) ** 2}->${a.tokenMixHidden}->${(a.imageSize / a.patchSize) ** 2}, channel MLP ${a.imageWidth}->${a.channelMixHidden}->${a.imageWidth}, pre-LayerNorm, GELU);
  LayerNorm, mean over patches, linear to ${a.embedDim}, L2 normalisation.
- Text: bag of words (mean of word embeddings, width ${a.textWidth}; word order ignored); ${a.textBlocks} residual MLP block(s) ${a.textWidth}->${a.textHidden}->${a.textWidth};
  LayerNorm, linear to ${a.embedDim}, L2 normalisation.
- Learned temperature (CLIP's logit scale, initialised at 1/0.07, clamped to at most 100).

## Training
- Symmetric InfoNCE (image->text and text->image cross-entropy); captions that occur twice in a batch count as positives for each other.
- Adam (beta2 0.98, eps 1e-6), peak learning rate ${opts.lr}, ${opts.warmup} warm-up steps, cosine decay to 10%; batch ${opts.batch}; seed ${opts.seed}.
- ${s.steps} steps in ${(s.wallTimeSeconds / 60).toFixed(1)} minutes on the \`${s.backend}\` backend (one thread, 2-core machine shared with other jobs).
- Final loss (mean of the last 20 steps): **${s.finalLoss.toFixed(3)}** (chance level ln(${opts.batch}) = ${Math.log(opts.batch).toFixed(3)}). Curve: \`training-curve.json\`.

## Results
| Evaluation | images | candidate captions | top-1 | top-5 | mean rank |
|---|---|---|---|---|---|
| Validation emoji (unseen), image -> canonical caption | ${val.images} | ${val.candidates} | **${pct(val.top1)}** | **${pct(val.top5)}** | ${val.meanRank.toFixed(1)} |
| Training emoji, image -> canonical caption (for context) | ${trn.images} | ${trn.candidates} | ${pct(trn.top1)} | ${pct(trn.top5)} | ${trn.meanRank.toFixed(1)} |

Chance level: top-1 ${pct(1 / val.candidates)} and top-5 ${pct(5 / val.candidates)} on validation.
Validation pairs: the right caption scores above a random other validation caption for **${pct(pairs.accuracy)}** of images;
mean score ${pairs.matched.toFixed(1)} for matched pairs vs ${pairs.mismatched.toFixed(1)} for mismatched ones.

Reading: validation emoji are new concepts, many named with words the tokenizer never saw (about 13% of
their canonical-caption words), so top-1 among all validation captions measures generalisation from
shared words ("face", "flag", "cat", colours, the style) rather than memorisation. The canonical captions
also name the style, so a correct top-1 needs the right style as well as the right emoji.

## Files
- \`model.safetensors\` + \`config.json\`: the checkpoint (src-main/ml/checkpoint), with architecture, tokenizer and this summary in the config.
- \`training-curve.json\`: loss, learning rate and periodic validation retrieval per step.

## Use
\`\`\`ts
const model = await AlignmentModel.load('resources/models/alignment')
const reward = alignmentReward(model)            // Reward: score(images [-1,1] NHWC, prompts) -> 100 x cos
const features = alignmentImageFeatures(model)   // [B, ${a.embedDim}] normalised image embedding
\`\`\`

## Limits
Trained on ${train.items.length} flat emoji images only: it knows emoji names, categories and the two styles, not
photographs or compositions; word order is ignored; scores are comparable within this model only.
Hardware: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}).
`
}

main().catch((err) => {
  console.error(`train-alignment failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
