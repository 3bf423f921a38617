// npm run pretrain -- --out <dir> --steps N --batch B [--resume] [--seed S] [--config file.json]
//                     [--sample-every N] [--checkpoint-minutes M] [--stop-at STEP] [--workers N]
//                     [--text-init <alignment model dir>]
// Trains the reference text-to-image diffusion model on the emoji data (see ml/diffusion/pretrain-run.ts).
// Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and exits; --resume continues.
// --workers N splits each step's batch over the main thread + N worker threads (0, the default, is
// single-thread; 1 uses both cores of a 2-core machine); a run may resume with another count.
// --text-init starts the DiT's word embeddings from an alignment model's (ml/diffusion/text-init.ts).
// --judge <dir> scores the EMA model every --eval-every steps (and at the end) with the emoji judge:
// DDIM 50-step samples of 64 fixed training-emoji prompts, top-1/top-5 of the asked-for emoji, to
// eval.jsonl with the training time (wall and CPU) so far.
// --cpu-budget-minutes M stops (and saves) once the steps have used M minutes of CPU, summed over
// threads: a time box that other work on the machine does not shrink.
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parsePromptText } from '../util/prompt-file.ts'
import { initTf } from '../ml/backend/init.ts'
import { EMOJI_STYLES, loadEmojiDatasetWithInfo } from '../ml/data/emoji-dataset.ts'
import { DEFAULT_PRETRAIN, Pretraining, type PretrainOptions } from '../ml/diffusion/pretrain-run.ts'
import { formatDuration } from '../util/format-duration.ts'
import type { DiffusionModel } from '../ml/diffusion/model.ts'
import type { EmojiSplit } from '../ml/data/emoji-dataset.ts'
import { JudgeModel } from '../ml/judge/classifier.ts'
import { scoreImages, summarizeJudge } from '../ml/judge/score.ts'
import { Rng } from '../ml/util/rng.ts'

const SHOWCASE_FILE = resolve(import.meta.dirname, '../../resources/prompts/showcase.txt')
const USAGE = 'usage: npm run pretrain -- --out <dir> [--steps N] [--batch B] [--seed S] [--resume] [--config file.json] [--sample-every N] [--checkpoint-minutes M] [--stop-at STEP] [--cpu-budget-minutes M] [--workers N] [--text-init <alignment model dir>] [--judge <judge model dir>] [--eval-every N]'
/** How many training-emoji prompts the judge scores during pretraining (one seed each). */
const JUDGE_PROMPTS = 64
const JUDGE_SAMPLE_STEPS = 50

interface CliOptions extends PretrainOptions {
  judge?: string
}

function fail(message: string): never {
  console.error(`pretrain: ${message}\n${USAGE}`)
  process.exit(2)
}

function parseArgs(argv: string[]): CliOptions {
  const flags = new Map<string, string | true>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) fail(`unexpected argument '${a}'`)
    const name = a.slice(2)
    if (name === 'resume' || name === 'help') flags.set(name, true)
    else {
      const v = argv[++i]
      if (v === undefined || v.startsWith('--')) fail(`--${name} needs a value`)
      flags.set(name, v)
    }
  }
  if (flags.has('help')) {
    console.log(USAGE)
    process.exit(0)
  }
  const known = new Set(['out', 'steps', 'batch', 'seed', 'resume', 'config', 'sample-every', 'checkpoint-minutes', 'stop-at', 'cpu-budget-minutes', 'workers', 'text-init', 'judge', 'eval-every'])
  for (const k of flags.keys()) if (!known.has(k)) fail(`unknown option --${k}`)
  const out = flags.get('out')
  if (typeof out !== 'string') fail('--out <dir> is required')

  let fromFile: Partial<PretrainOptions> = {}
  const configPath = flags.get('config')
  if (typeof configPath === 'string') {
    try {
      fromFile = JSON.parse(readFileSync(configPath, 'utf8')) as Partial<PretrainOptions>
    } catch (err) {
      fail(`cannot read --config ${configPath}: ${(err as Error).message}`)
    }
    if (!fromFile || typeof fromFile !== 'object' || Array.isArray(fromFile)) fail(`--config ${configPath} must hold a JSON object`)
  }
  const int = (name: string): number | undefined => {
    const v = flags.get(name)
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got '${String(v)}'`)
    return n
  }
  const num = (name: string): number | undefined => {
    const v = flags.get(name)
    if (v === undefined) return undefined
    const n = Number(v)
    if (!(n > 0)) fail(`--${name} must be a positive number, got '${String(v)}'`)
    return n
  }
  const opts: CliOptions = {
    ...DEFAULT_PRETRAIN,
    ...fromFile,
    architecture: { ...DEFAULT_PRETRAIN.architecture, ...(fromFile.architecture ?? {}) },
    hyper: { ...DEFAULT_PRETRAIN.hyper, ...(fromFile.hyper ?? {}) },
    outDir: resolve(out),
    resume: flags.has('resume'),
  }
  opts.steps = int('steps') ?? opts.steps
  opts.batch = int('batch') ?? opts.batch
  opts.seed = int('seed') ?? opts.seed
  opts.sampleEvery = int('sample-every') ?? opts.sampleEvery
  opts.checkpointEveryMinutes = num('checkpoint-minutes') ?? opts.checkpointEveryMinutes
  opts.workers = int('workers') ?? opts.workers
  const textInit = flags.get('text-init')
  if (typeof textInit === 'string') opts.textInit = resolve(textInit)
  const stopAt = int('stop-at')
  if (stopAt !== undefined) opts.stopAtStep = stopAt
  const cpuMinutes = num('cpu-budget-minutes')
  if (cpuMinutes !== undefined) opts.stopAtCpuSeconds = cpuMinutes * 60
  const evalEvery = int('eval-every')
  if (evalEvery !== undefined) opts.evalEvery = evalEvery
  const judge = flags.get('judge')
  if (typeof judge === 'string') opts.judge = resolve(judge)
  return opts
}

function showcasePrompts(fallback: string[]): string[] {
  if (existsSync(SHOWCASE_FILE)) {
    const lines = parsePromptText(readFileSync(SHOWCASE_FILE, 'utf8'))
    if (lines.length > 0) return lines.slice(0, 16)
  }
  return fallback
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  const backend = await initTf()
  console.log(`backend: ${backend.name} (${backend.detail})`)
  const load = await loadEmojiDatasetWithInfo({ imageSize: opts.imageSize, ...(opts.styles ? { styles: opts.styles } : {}) })
  const { train } = load
  console.log(`data: ${train.items.length} training images of ${new Set(train.items.map((i) => i.key)).size} emoji in ${(opts.styles ?? EMOJI_STYLES).join(', ')}` +
    (load.info.skipped.length > 0 ? ` (${load.info.skipped.length} drawings resvg cannot draw left out)` : ''))
  // Without the showcase file: 16 training captions spread over the data set.
  const step = Math.max(1, Math.floor(train.items.length / 16))
  const fallback = Array.from({ length: 16 }, (_, i) => train.items[(i * step) % train.items.length]!.canonicalCaption)
  const evaluate = opts.judge ? await judgeEvaluation(opts.judge, train, opts) : undefined
  const run = new Pretraining(opts, { train, showcasePrompts: showcasePrompts(fallback), ...(evaluate ? { evaluate } : {}) })
  let signals = 0
  const onSignal = (sig: string) => {
    if (++signals > 1) process.exit(130)
    console.log(`${sig}: finishing this step and saving a checkpoint (again to quit without saving)`)
    run.requestStop()
  }
  process.on('SIGINT', () => onSignal('SIGINT'))
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  const started = performance.now()
  const result = await run.run()
  console.log(`done: ${result.stopped} at step ${result.step}, smoothed loss ${result.smoothedLoss.toFixed(4)}, ` +
    `training time ${formatDuration(result.trainSeconds)} (this session ${formatDuration((performance.now() - started) / 1000)})`)
}

/**
 * The judge's score of a model's 50-step samples for JUDGE_PROMPTS training emoji, chosen by a fixed
 * seed (the same prompts for every run and every evaluation), one seed each.
 */
async function judgeEvaluation(judgeDir: string, train: EmojiSplit, opts: CliOptions): Promise<(model: DiffusionModel) => Promise<Record<string, number>>> {
  const judge = await JudgeModel.load(judgeDir)
  const byKey = new Map<string, string>()
  for (const it of train.items) if (!byKey.has(it.key) && judge.classIndex.has(it.key)) byKey.set(it.key, it.name)
  const keys = new Rng(20261208).shuffle([...byKey.keys()].sort()).slice(0, JUDGE_PROMPTS)
  const prompts = keys.map((k) => byKey.get(k)!)
  console.log(`judge: ${judge.classes.length} emoji; scoring ${prompts.length} training-emoji prompts (bare names) at ${JUDGE_SAMPLE_STEPS} DDIM steps, CFG ${opts.guidance}`)
  return async (model) => {
    const images = model.generate(prompts, { steps: JUDGE_SAMPLE_STEPS, sampler: 'ddim', guidance: opts.guidance, seeds: prompts.map((_, i) => 1000 + i) })
    const pixels = (await images.data()) as Float32Array
    images.dispose()
    const scores = await scoreImages(judge, { pixels, count: prompts.length, size: opts.imageSize }, keys)
    const s = summarizeJudge(scores)
    return { judgeTop1: s.top1, judgeTop5: s.top5, judgeImages: prompts.length }
  }
}

main().catch((err: unknown) => {
  console.error(`pretrain failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
