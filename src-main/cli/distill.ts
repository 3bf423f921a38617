// npm run distill -- --out <dir> [--steps N] [--pairs N] [--batch B] [--lr X] [--seed S] [--t-init T]
//                    [--pair-steps N] [--guidance W] [--base-model dir] [--threads N] [--workers N]
//                    [--checkpoint-every N] [--sample-every N] [--stop-at STEP] [--resume] [--no-card]
// Distils the reference into a one-step generator by regression (ml/distill/regression.ts): pairs drawn
// by the reference in onnxruntime, then the generator fitted in TF.js, resumable. At the end it writes
// <out>/model (a run's generatorInit), scores it and the raw init on the validation captions, and writes
// <out>/model/MODEL_CARD.md and samples.png. Ctrl-C saves a checkpoint; --resume continues.
// Two separate thread settings, one per phase:
//   --threads N   onnxruntime's threads for drawing the pairs (default: all cores)
//   --workers N   worker threads besides the main one for the TF.js regression steps, each step's batch
//                 split across them (data-parallel, regression-parallel.ts); default 0 = one thread.
//                 --workers 1 uses both cores of a 2-core machine. A run may resume with another count.
import { copyFile, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import * as tf from '@tensorflow/tfjs-core'
import { defaultReferenceModelDir, resolveTrainPrompts, showcasePromptList } from '../core/runs/run-session.ts'
import { formatDuration } from '../util/format-duration.ts'
import { DEFAULT_T_INIT } from '../core/runs/run-config.ts'
import { initTf } from '../ml/backend/init.ts'
import { loadCheckpoint } from '../ml/checkpoint/checkpoint.ts'
import { DiffusionModel } from '../ml/diffusion/model.ts'
import { Distillation, distillPaths, type DistillOptions, type DistillResult } from '../ml/distill/distill-run.ts'
import { OnnxInference } from '../ml/onnx/inference.ts'
import { resolveModelFolder } from '../ml/onnx/model-package.ts'
import { AlignmentModel } from '../ml/rewards/alignment-model.ts'
import { shippedAlignmentModelDir } from '../ml/rewards/alignment-reward.ts'
import { checkpointGeneratorValues } from '../core/runs/run-files.ts'
import { scoreOneStep, validationSet } from '../eval/one-step-score.ts'
import { ditParamShapes } from '../ml/diffusion/dit.ts'

const USAGE = `usage: npm run distill -- --out <dir> [--steps 1000] [--pairs 8192] [--batch 32] [--lr 1e-4] [--seed 0]
       [--t-init ${DEFAULT_T_INIT}] [--pair-steps 25] [--guidance 4.5] [--base-model dir] [--threads N] [--workers 0]
       [--checkpoint-every 100] [--sample-every 250] [--stop-at STEP] [--resume] [--no-card]
  --threads N   onnxruntime threads for drawing the pairs (default: all cores)
  --workers N   extra TF.js threads for the regression steps (data-parallel; default 0 = one thread)`

function fail(message: string, code = 2): never {
  console.error(`distill: ${message}\n${USAGE}`)
  process.exit(code)
}

let parsed: ReturnType<typeof parseCli>
function parseCli() {
  return parseArgs({
    options: {
      out: { type: 'string' }, steps: { type: 'string' }, pairs: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' },
      seed: { type: 'string' }, 't-init': { type: 'string' }, 'pair-steps': { type: 'string' }, guidance: { type: 'string' },
      'base-model': { type: 'string' }, threads: { type: 'string' }, workers: { type: 'string' }, 'checkpoint-every': { type: 'string' },
      'sample-every': { type: 'string' }, 'stop-at': { type: 'string' }, resume: { type: 'boolean' }, 'no-card': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  }).values
}
try {
  parsed = parseCli()
} catch (err) {
  fail((err as Error).message)
}
if (parsed.help) {
  console.log(USAGE)
  process.exit(0)
}
const args = parsed
if (!args.out) fail('--out <dir> is required')
const int = (name: keyof typeof args, fallback: number, min = 0): number => {
  const v = args[name]
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got '${String(v)}'`)
  return n
}
const positive = (name: keyof typeof args, fallback: number): number => {
  const v = args[name]
  if (v === undefined) return fallback
  const n = Number(v)
  if (!(n > 0) || !Number.isFinite(n)) fail(`--${name} must be a positive number, got '${String(v)}'`)
  return n
}

const outDir = resolve(args.out)
const referenceDir = resolve(args['base-model'] ?? defaultReferenceModelDir())
const showcasePrompts = showcasePromptList().slice(0, 16)
const opts: DistillOptions = {
  outDir, referenceDir,
  trainPrompts: resolveTrainPrompts('emoji-train-captions'),
  pairs: { count: int('pairs', 8192, 1), seed: int('seed', 0), sampler: 'ddim', steps: int('pair-steps', 25, 1), guidance: positive('guidance', 4.5) },
  regression: { tInit: int('t-init', DEFAULT_T_INIT), batch: int('batch', 32, 1), lr: positive('lr', 1e-4), seed: int('seed', 0) },
  steps: int('steps', 1000, 1),
  checkpointEvery: int('checkpoint-every', 100, 1),
  sampleEvery: int('sample-every', 250),
  showcase: { prompts: showcasePrompts, seeds: showcasePrompts.map((_, i) => i), columns: 8 },
  resume: args.resume === true,
  workers: int('workers', 0),
  ...(args['stop-at'] !== undefined ? { stopAtStep: int('stop-at', 0, 1) } : {}),
}
const threads = int('threads', availableParallelism(), 1)

const backend = await initTf()
console.error(`distill: backend ${backend.name}; reference ${referenceDir}; out ${outDir}`)
let reference: DiffusionModel
try {
  reference = await DiffusionModel.load(referenceDir)
} catch (err) {
  fail(`cannot load the reference model: ${(err as Error).message}`, 1)
}
if (!(opts.regression.tInit < reference.schedule.T)) fail(`--t-init must be below the reference's ${reference.schedule.T} timesteps`)

const inference = new OnnxInference({ threads })
const sampler = async (prompts: string[], seeds: number[], onProgress: (done: number) => void) => {
  const pkg = await resolveModelFolder(referenceDir, { cacheDir: join(outDir, 'onnx'), name: 'reference' })
  const res = await inference.generate(pkg, {
    prompts, seeds, batchSize: 64,
    sampling: { sampler: opts.pairs.sampler, steps: opts.pairs.steps, guidance: opts.pairs.guidance },
    onProgress: (done) => onProgress(done),
  })
  return res.pixels
}

const tty = process.stderr.isTTY === true
let lastPrinted = 0
const say = (line: string, final = false) => {
  if (tty) process.stderr.write(`\r${line.padEnd(100).slice(0, (process.stderr.columns ?? 100) - 1)}`)
  else if (final || Date.now() - lastPrinted > 10_000) {
    lastPrinted = Date.now()
    process.stderr.write(`${line}\n`)
  }
}
const pairsStarted = Date.now()
const run = new Distillation(reference, opts, {
  sampler,
  onProgress: (p) => {
    if (p.phase === 'pairs') {
      const elapsed = (Date.now() - pairsStarted) / 1000
      say(`pairs ${p.done}/${p.total}  ETA ${formatDuration(elapsed / p.done * (p.total - p.done))}`, p.done === p.total)
    } else {
      say(`step ${p.step}/${p.total}  mse ${p.loss.toFixed(4)}  smoothed ${p.smoothedLoss.toFixed(4)}  ${p.stepSeconds.toFixed(2)} s/step  ETA ${formatDuration(p.etaSeconds)}`, p.step === p.total)
    }
  },
  onLog: (m) => { if (tty) process.stderr.write('\n'); console.error(`distill: ${m}`) },
})
let signals = 0
const onSignal = (name: string) => {
  if (++signals > 1) process.exit(130)
  console.error(`\ndistill: ${name}: finishing this step and saving a checkpoint (again to quit without saving)`)
  run.requestStop()
}
process.on('SIGINT', () => onSignal('SIGINT'))
process.on('SIGTERM', () => onSignal('SIGTERM'))

let result: DistillResult
try {
  result = await run.run()
} catch (err) {
  if (tty) process.stderr.write('\n')
  fail(err instanceof Error ? err.message : String(err), 1)
} finally {
  await inference.dispose()
}
if (tty) process.stderr.write('\n')
console.error(`distill: ${result.state} at step ${result.step}, smoothed mse ${result.smoothedLoss.toFixed(4)}; pairs ${formatDuration(result.pairsSeconds)}, regression ${formatDuration(result.regressionSeconds)}`)
if (result.state === 'completed' && args['no-card'] !== true) await writeCard(result)
console.log(JSON.stringify({ outDir, state: result.state, step: result.step, model: result.modelDir ?? null }))
process.exit(0)

/** How many threads the regression ran on, e.g. "one thread" or "2 threads (data-parallel: the main thread + 1 worker)". */
function threadsText(counts: number[]): string {
  const one = (n: number) => (n === 1 ? 'one thread' : `${n} threads (data-parallel: the main thread + ${n - 1} worker${n > 2 ? 's' : ''})`)
  if (counts.length <= 1) return one(counts[0] ?? 1)
  return `${counts.map(one).join(', then ')} (resumed with another --workers)`
}

/** Scores the distilled generator and the raw init (the reference read at t_init) on the validation captions, and writes the card. */
async function writeCard(r: DistillResult): Promise<void> {
  const modelDir = distillPaths(outDir).model
  console.error('distill: scoring on the validation captions (alignment model; FD against the real validation images)')
  const ck = await loadCheckpoint(modelDir)
  const values = checkpointGeneratorValues(ck.tensors, ditParamShapes(reference.dit))
  if ('bad' in values) throw new Error(`the written generator lacks '${values.bad}'`)
  const alignment = await AlignmentModel.load(shippedAlignmentModelDir())
  const set = await validationSet(alignment, reference.dit.imageSize)
  const distilled = reference.cloneParams(false)
  tf.tidy(() => { for (const [k, v] of Object.entries(distilled)) v.assign(tf.tensor(values.values[k]!, v.shape)) })
  const score = (params: typeof distilled) => scoreOneStep(reference, params, opts.regression.tInit, alignment, set)
  const before = await score(reference.params)
  const after = await score(distilled)
  const samplesPng = join(modelDir, 'samples.png')
  await copyFile(join(distillPaths(outDir).samples, `step-${r.step}.png`), samplesPng)
  await copyFile(join(outDir, 'training-curve.json'), join(modelDir, 'training-curve.json'))
  const first = r.curve[0]?.loss
  const command = `npm run distill -- ${process.argv.slice(2).filter((a) => a !== '--resume').join(' ')}`
  await writeFile(join(modelDir, 'MODEL_CARD.md'), `# One-step generator, distilled from the reference, for DI Studio

Made by \`${command}\` (resumed runs continue the same distillation); this card was written by the same
command from the numbers of that run.

## What it is
The starting generator of the embedded default DI* run (\`resources/configs/default-run.json\`,
\`"generatorInit": "embedded"\`). DI* in the paper post-trains a one-step generator that is already a
distillation of its teacher (DMD2's); this is that stage for the embedded reference model.
- Network: the reference's own DiT (same architecture and parameter names), read as a one-step generator
  g(z, c) = (z - sigma eps(z, t_init, c)) / alpha at t_init ${opts.regression.tInit}, exactly as DI* reads its generator.
- It belongs to one reference: config.json records the sha256 of the reference's model.safetensors
  (\`${ck.config && (ck.config as { reference?: { sha256?: string } }).reference?.sha256}\`); a run on another base model refuses it.

## How it was made
Regression distillation (Luhman & Luhman 2021; the regression loss of DMD):
- **Pairs:** ${opts.pairs.count} (noise, prompt) pairs, prompts drawn uniformly from the ${opts.trainPrompts.length} training captions,
  each noise the sampler noise of its seed. Target: the reference's ${opts.pairs.sampler.toUpperCase()} sample from that noise, ${opts.pairs.steps} steps,
  classifier-free guidance ${opts.pairs.guidance}, drawn in onnxruntime-node on ${threads} thread(s) in **${formatDuration(r.pairsSeconds)}**.
- **Regression:** the generator starts as the reference at t_init and is fitted by mean squared error to the
  targets: ${r.step} steps of batch ${opts.regression.batch}, Adam (beta1 0.9, beta2 0.99), learning rate ${opts.regression.lr}, seed ${opts.regression.seed},
  TF.js ${backend.name} on ${threadsText(r.regressionThreads)}, **${formatDuration(r.regressionSeconds)}**.
- Training MSE: ${first !== undefined ? first.toFixed(4) : '?'} over the first ${r.curve[0]?.step ?? '?'} steps, **${r.smoothedLoss.toFixed(4)}** at the end (smoothed).
  Per-step curve: \`training-curve.json\`.

## Results on the validation captions
${set.prompts.length / 2} validation captions (emoji never seen in training) x 2 seeds, scored with the shipped alignment model;
FD is the Frechet distance of its image embeddings to the ${set.real.count} real validation images.

| generator | alignment (100 cos) | FD |
|---|---|---|
| the reference read at t_init ${opts.regression.tInit} (DI*'s own init without this model) | ${before.alignment.toFixed(1)} | ${before.fd.toFixed(3)} |
| **this distilled generator** | **${after.alignment.toFixed(1)}** | **${after.fd.toFixed(3)}** |

Sample grid (the showcase prompts, seeds 0-15): \`samples.png\`.

## Limits
Regression copies the reference's layouts and colours, and the reference's own 4x4 patch mosaic with them;
docs/experiments/regression-warm-start.md measured that longer regression plateaus. Its alignment is the
reference's: raising it is what DI* post-training is for.
`)
  console.error(`distill: alignment ${before.alignment.toFixed(1)} -> ${after.alignment.toFixed(1)}, FD ${before.fd.toFixed(3)} -> ${after.fd.toFixed(3)}; card: ${join(modelDir, 'MODEL_CARD.md')}`)
  tf.dispose(Object.values(distilled))
  alignment.dispose?.()
}
