// npm run eval [-- --out eval-out] [--prompts N] [--seeds 0-3] [--train-steps N] [--batch N] [--retrain]
//              [--quick] [--write-docs] [--cfg 4.5] [--sampler ddim] [--ref-steps 25,50] [--repeats 3] ...
// The paper's headline in miniature: the reference's multi-step sampler (25 and 50 steps, CFG) against
// the one-step generator at initialisation, after DI* and after KL with the same training budget, on the
// held-out validation captions with fixed seeds. The judge (an emoji classifier no model trains against)
// also scores every model on those and on prompts of training emoji. Writes results.md, results.json,
// figure.png and sample sheets into the output folder; trained generators are kept there, so a re-run only re-scores.
import { readFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { initTf, type TfBackendName } from '../ml/backend/init.ts'
import { loadEmojiDataset } from '../ml/data/emoji-dataset.ts'
import { shippedAlignmentModelDir } from '../ml/rewards/alignment-reward.ts'
import { resourcePath } from '../util/resource-path.ts'
import { readPromptFile } from '../util/prompt-file.ts'
import { renderProgressLine } from '../core/runs/progress-line.ts'
import { formatDuration } from '../util/format-duration.ts'
import type { RunStepEvent } from '../core/runs/run-engine.ts'
import { parseSeeds } from './generate.ts'
import { promptSubset, readResults, runEvaluation, type RealImages } from '../eval/pipeline.ts'
import { writeDocsResults } from '../eval/report.ts'
import { OUTPUT_FILES } from '../eval/pipeline.ts'
import { copyFile, mkdir } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { jobTrainingThreads } from '../core/jobs/job-engines.ts'
import type { RegulariserChoice } from '../eval/training.ts'
import { buildCatalog, ALL_STYLES } from '../ml/data/emoji-catalog.ts'
import { captionKeyMap, TRAINING_EMOJI_PROMPT_FILE } from '../ml/judge/prompts.ts'

const USAGE = `usage: npm run eval -- [options]
  --out <dir>           output folder (default eval-out, or eval-out-quick with --quick)
  --prompts <N>         validation captions evaluated, spread evenly over the list (default: all)
  --seeds <list>        seeds per prompt, e.g. 0-3 (default 0-3; --quick 0-1)
  --train-steps <N>     DI* and KL training steps (default: resources/configs/default-run.json's, 300)
  --batch <N>           training batch (default: the run config's, 16)
  --train-seed <N>      training seed (default 0)
  --run-config <file>   the run config DI* and KL train from (default resources/configs/default-run.json)
  --regularisers <list> which one-step generators to train: score,kl (default), score or kl
  --cfg <scale>         the reference sampler's CFG scale (default: the run config's cfgScale, 4.5)
  --sampler ddim|dpmpp-2m   the reference's sampler (default ddim)
  --ref-steps <list>    the reference's sampler steps (default 25,50)
  --repeats <N>         extra timed passes of one-step generators (default 3)
  --no-tfjs             skip the TensorFlow.js timing of one-step generators
  --threads <N>         onnxruntime intra-op threads (default: onnxruntime's choice)
  --training-threads <N>  threads each training step's gradients use (data-parallel; default: every core on wasm/cpu)
  --retrain             train the DI* and KL generators again even if cached
  --quick               smoke run: 8 prompts (+ 8 training-emoji prompts), 2 seeds, 4 training steps at batch 4
  --write-docs          also refresh docs/results.md (the generated part between its markers)
  --docs-only           only refresh docs/results.md from the results.json already in --out
  --reference <dir>     reference model folder (default resources/models/reference)
  --alignment <dir>     alignment model folder (default resources/models/alignment)
  --judge <dir>         judge (emoji classifier) folder (default resources/models/judge; missing: no judge columns)
  --train-prompts <N>   training-emoji prompts generated and scored by the judge, spread evenly over
                        resources/prompts/judge-training-emoji.txt (default: all 150; --quick 8; 0: none)
  --backend <name>      TensorFlow.js backend: tensorflow-gpu, tensorflow, wasm or cpu`
const BACKENDS: TfBackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']
const PROMPT_FILE = resourcePath('resources', 'prompts', 'validation-captions.txt')
const TRAINING_PROMPT_FILE = resourcePath('resources', 'prompts', TRAINING_EMOJI_PROMPT_FILE)
const DEFAULT_RUN_CONFIG = resourcePath('resources', 'configs', 'default-run.json')
const DOCS_PATH = resourcePath('docs', 'results.md')

function fail(message: string, code = 2): never {
  console.error(`eval: ${message}`)
  process.exit(code)
}

function int(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${value}'`)
  return n
}

function parse() {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      prompts: { type: 'string' },
      seeds: { type: 'string' },
      'train-steps': { type: 'string' },
      batch: { type: 'string' },
      'train-seed': { type: 'string' },
      'run-config': { type: 'string' },
      regularisers: { type: 'string', default: 'score,kl' },
      cfg: { type: 'string' },
      sampler: { type: 'string', default: 'ddim' },
      'ref-steps': { type: 'string', default: '25,50' },
      repeats: { type: 'string' },
      'no-tfjs': { type: 'boolean', default: false },
      threads: { type: 'string' },
      'training-threads': { type: 'string' },
      retrain: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'write-docs': { type: 'boolean', default: false },
      'docs-only': { type: 'boolean', default: false },
      reference: { type: 'string' },
      alignment: { type: 'string' },
      judge: { type: 'string' },
      'train-prompts': { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  if (values.sampler !== 'ddim' && values.sampler !== 'dpmpp-2m') throw new Error(`--sampler must be ddim or dpmpp-2m, got '${values.sampler}'`)
  if (values.backend !== undefined && !BACKENDS.includes(values.backend as TfBackendName)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}`)
  const refSteps = values['ref-steps']!.split(',').map((s) => int(s.trim(), 'ref-steps', 0, 1))
  const regularisers = values.regularisers!.split(',').map((s) => s.trim())
  for (const r of regularisers) if (r !== 'score' && r !== 'kl') throw new Error(`--regularisers takes score and/or kl, got '${r}'`)
  if (regularisers.length === 0 || new Set(regularisers).size !== regularisers.length) throw new Error(`--regularisers needs score and/or kl once each, got '${values.regularisers!}'`)
  const cfg = values.cfg === undefined ? undefined : Number(values.cfg)
  if (cfg !== undefined && !Number.isFinite(cfg)) throw new Error(`--cfg must be a number, got '${values.cfg}'`)
  return { ...values, refSteps, cfg, regularisers: regularisers as RegulariserChoice[], sampler: values.sampler as 'ddim' | 'dpmpp-2m', backend: values.backend as TfBackendName | undefined }
}

async function loadRealImages(imageSize: number): Promise<RealImages> {
  const { train, validation } = await loadEmojiDataset({ imageSize })
  return {
    validation: { pixels: validation.images, count: validation.items.length, size: imageSize },
    train: { pixels: train.images, count: train.items.length, size: imageSize },
  }
}

/** Figures and sheets next to docs/results.md, so the committed page shows them. */
async function refreshDocs(outDir: string): Promise<void> {
  const results = await readResults(outDir)
  const assetsDir = resourcePath('docs', 'results')
  await mkdir(join(assetsDir, OUTPUT_FILES.samples), { recursive: true })
  await copyFile(join(outDir, OUTPUT_FILES.figurePng), join(assetsDir, OUTPUT_FILES.figurePng))
  for (const m of results.models) await copyFile(join(outDir, m.sampleSheet), join(assetsDir, m.sampleSheet))
  await copyFile(join(outDir, OUTPUT_FILES.samples, 'all-models.png'), join(assetsDir, OUTPUT_FILES.samples, 'all-models.png'))
  if (results.settings.trainingPrompts) {
    const sheet = join(OUTPUT_FILES.samples, OUTPUT_FILES.trainingEmojiSheet)
    await copyFile(join(outDir, sheet), join(assetsDir, sheet))
  }
  await writeDocsResults(DOCS_PATH, results, 'results/')
  console.error(`eval: refreshed ${relative(process.cwd(), DOCS_PATH)} and ${relative(process.cwd(), assetsDir)}/`)
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parse>
  try {
    args = parse()
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`)
  }
  if (args.help) {
    console.log(USAGE)
    return
  }
  const outDir = resolve(args.out ?? (args.quick ? 'eval-out-quick' : 'eval-out'))
  if (args['docs-only']) return refreshDocs(outDir)

  const allPrompts = readPromptFile(PROMPT_FILE)
  const allTrainingPrompts = readPromptFile(TRAINING_PROMPT_FILE)
  const runConfigPath = resolve(args['run-config'] ?? DEFAULT_RUN_CONFIG)
  let baseRunConfig: Record<string, unknown>
  try {
    baseRunConfig = JSON.parse(await readFile(runConfigPath, 'utf8')) as Record<string, unknown>
  } catch (err) {
    fail(`cannot read the run config ${runConfigPath}: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (baseRunConfig === null || typeof baseRunConfig !== 'object' || Array.isArray(baseRunConfig)) fail(`the run config ${runConfigPath} must be a JSON object`)
  const baseControls = (baseRunConfig.controls ?? {}) as { cfgScale?: number }
  let settings
  try {
    settings = {
      prompts: promptSubset(allPrompts, int(args.prompts, 'prompts', args.quick ? 8 : allPrompts.length, 1)),
      trainingPrompts: promptSubset(allTrainingPrompts, int(args['train-prompts'], 'train-prompts', args.quick ? 8 : allTrainingPrompts.length, 0)),
      seeds: parseSeeds(args.seeds ?? (args.quick ? '0-1' : '0-3')),
      budget: {
        steps: int(args['train-steps'], 'train-steps', args.quick ? 4 : Number(baseRunConfig.steps ?? 300), 1),
        batchSize: int(args.batch, 'batch', args.quick ? 4 : Number(baseRunConfig.batchSize ?? 16), 1),
        seed: int(args['train-seed'], 'train-seed', 0),
      },
      repeats: int(args.repeats, 'repeats', args.quick ? 1 : 3),
      threads: args.threads === undefined ? undefined : int(args.threads, 'threads', 1, 1),
      trainingThreads: args['training-threads'] === undefined ? undefined : int(args['training-threads'], 'training-threads', 1, 1),
    }
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`)
  }
  const backend = await initTf(args.backend ? { prefer: args.backend } : {})
  console.error(`eval: backend ${backend.name} (${backend.package}); output ${outDir}`)
  console.error(`eval: ${settings.prompts.length} prompts${settings.trainingPrompts.length ? ` (+ ${settings.trainingPrompts.length} training-emoji prompts for the judge)` : ''} x ${settings.seeds.length} seeds; training ${settings.budget.steps} steps x batch ${settings.budget.batchSize} for ${args.regularisers.map((r) => (r === 'score' ? 'DI*' : 'KL')).join(' and ')} from ${relative(process.cwd(), runConfigPath)}`)

  // which emoji each prompt asks for, from the canonical captions of every style (for the judge)
  const promptKeys = captionKeyMap(buildCatalog({ styles: ALL_STYLES }).map((e) => e.item))

  const tty = process.stderr.isTTY === true
  const started = Date.now()
  const stamp = () => formatDuration((Date.now() - started) / 1000)
  let lastLine = 0
  const log = (m: string) => {
    if (tty) process.stderr.write('\r\x1b[K')
    console.error(`[${stamp()}] ${m}`)
  }
  const progress = (line: string, final: boolean) => {
    if (tty) process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`)
    else if (final || Date.now() - lastLine > 10_000) {
      lastLine = Date.now()
      console.error(line)
    }
    if (final && tty) process.stderr.write('\n')
  }
  const { results, files } = await runEvaluation({
    outDir,
    referenceDir: resolve(args.reference ?? resourcePath('resources', 'models', 'reference')),
    alignmentDir: resolve(args.alignment ?? shippedAlignmentModelDir()),
    prompts: settings.prompts,
    promptsAvailable: allPrompts.length,
    promptFile: relative(resourcePath(), PROMPT_FILE),
    trainingPrompts: settings.trainingPrompts,
    trainingPromptsAvailable: allTrainingPrompts.length,
    trainingPromptFile: relative(resourcePath(), TRAINING_PROMPT_FILE),
    judgeDir: resolve(args.judge ?? resourcePath('resources', 'models', 'judge')),
    promptKeys,
    seeds: settings.seeds,
    sampler: args.sampler,
    cfg: args.cfg ?? baseControls.cfgScale ?? 4.5,
    referenceSteps: args.refSteps,
    baseRunConfig,
    budget: settings.budget,
    regularisers: args.regularisers,
    retrain: args.retrain,
    timingRepeats: settings.repeats,
    tfjsTiming: !args['no-tfjs'],
    ...(settings.threads !== undefined ? { threads: settings.threads } : {}),
    trainingThreads: jobTrainingThreads(settings.trainingThreads !== undefined ? { trainingThreads: settings.trainingThreads } : {}, backend.name, availableParallelism()),
    quick: args.quick,
    command: `npm run eval${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    backend,
    loadRealImages,
    log,
    onTrainingStep: (e: RunStepEvent) => progress(renderProgressLine(e, tty ? process.stderr.columns ?? 100 : 100), e.step + 1 === e.totalSteps),
    onGenerationProgress: (model, done, total) => progress(`[${stamp()}] ${model}: ${done}/${total} images`, done === total),
  })
  console.log(`\n${(await readFile(files.markdown, 'utf8')).split('\n').filter((l) => l.startsWith('|')).join('\n')}\n`)
  console.error(`eval: done in ${formatDuration(results.wallMs / 1000)}; wrote ${files.markdown}, ${files.json}, ${files.figurePng} and ${files.sheets.length} sample sheets`)
  if (args['write-docs']) await refreshDocs(outDir)
}

main().catch((err: unknown) => fail(err instanceof Error ? err.stack ?? err.message : String(err), 1))
