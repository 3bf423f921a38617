// npm run pretrain -- --out <dir> --steps N --batch B [--resume] [--seed S] [--config file.json]
//                     [--sample-every N] [--checkpoint-minutes M] [--stop-at STEP] [--workers N]
//                     [--text-init <alignment model dir>]
// Trains the reference text-to-image diffusion model on the emoji data (see ml/diffusion/pretrain-run.ts).
// Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and exits; --resume continues.
// --workers N splits each step's batch over the main thread + N worker threads (0, the default, is
// single-thread; 1 uses both cores of a 2-core machine); a run may resume with another count.
// --text-init starts the DiT's word embeddings from an alignment model's (ml/diffusion/text-init.ts).
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parsePromptText } from '../util/prompt-file.ts'
import { initTf } from '../ml/backend/init.ts'
import { EMOJI_STYLES, loadEmojiDatasetWithInfo } from '../ml/data/emoji-dataset.ts'
import { DEFAULT_PRETRAIN, Pretraining, formatDuration, type PretrainOptions } from '../ml/diffusion/pretrain-run.ts'

const SHOWCASE_FILE = resolve(import.meta.dirname, '../../resources/prompts/showcase.txt')
const USAGE = 'usage: npm run pretrain -- --out <dir> [--steps N] [--batch B] [--seed S] [--resume] [--config file.json] [--sample-every N] [--checkpoint-minutes M] [--stop-at STEP] [--workers N] [--text-init <alignment model dir>]'

function fail(message: string): never {
  console.error(`pretrain: ${message}\n${USAGE}`)
  process.exit(2)
}

function parseArgs(argv: string[]): PretrainOptions {
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
  const known = new Set(['out', 'steps', 'batch', 'seed', 'resume', 'config', 'sample-every', 'checkpoint-minutes', 'stop-at', 'workers', 'text-init'])
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
  const opts: PretrainOptions = {
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
  const run = new Pretraining(opts, { train, showcasePrompts: showcasePrompts(fallback) })
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

main().catch((err: unknown) => {
  console.error(`pretrain failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
