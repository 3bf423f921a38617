// npm run train -- --config run.json [--workspace dir] [--run-id id] [--backend wasm|cpu|...] [--threads N]
// npm run train -- --resume <runId> [--workspace dir] [--threads N]
// Headless DI* post-training: the same run directory as the studio (runs/<id>/ in the workspace), a
// one-line progress bar with ETA, and a clean stop with a checkpoint on Ctrl-C / SIGTERM (a second
// signal exits at once; the run then resumes from its last checkpoint).
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { initTf, type TfBackendName } from '../ml/backend/init.ts'
import { locateWorkspace, Workspace } from '../core/workspace.ts'
import { DiStarRun, type RunStepEvent } from '../core/runs/run-engine.ts'
import { renderProgressLine } from '../core/runs/progress-line.ts'
import { formatDuration } from '../util/format-duration.ts'
import { jobTrainingThreads } from '../core/jobs/job-engines.ts'
import { MAX_TRAINING_THREADS } from '../contract/settings.ts'
import { availableParallelism } from 'node:os'

const USAGE = `usage: npm run train -- --config run.json [--workspace dir] [--run-id id] [--backend wasm|cpu|tensorflow|tensorflow-gpu] [--threads N]
       npm run train -- --resume <runId> [--workspace dir] [--backend ...] [--threads N]
  --threads N  threads each step's gradients are computed on (data-parallel); default: every core on wasm/cpu, 1 on tfjs-node`
const BACKENDS: TfBackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']

function fail(message: string, code = 2): never {
  console.error(`train: ${message}`)
  process.exit(code)
}

function parse() {
  try {
    const { values } = parseArgs({
      options: {
        config: { type: 'string' },
        resume: { type: 'string' },
        workspace: { type: 'string' },
        'run-id': { type: 'string' },
        backend: { type: 'string' },
        threads: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    })
    if (values.help) {
      console.log(USAGE)
      process.exit(0)
    }
    if (!values.config === !values.resume) throw new Error('give exactly one of --config <file> and --resume <runId>')
    if (values.backend !== undefined && !BACKENDS.includes(values.backend as TfBackendName)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}`)
    const threads = values.threads === undefined ? undefined : Number(values.threads)
    if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > MAX_TRAINING_THREADS)) throw new Error(`--threads must be an integer 1..${MAX_TRAINING_THREADS}`)
    return { ...values, backend: values.backend as TfBackendName | undefined, threads }
  } catch (err) {
    return fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`)
  }
}

const args = parse()
const workspace = await Workspace.open(locateWorkspace({ argv: args.workspace ? ['--workspace', args.workspace] : [], env: process.env }))
const backend = await initTf(args.backend ? { prefer: args.backend } : {})
const trainingThreads = jobTrainingThreads(args.threads !== undefined ? { trainingThreads: args.threads } : {}, backend.name, availableParallelism())
console.error(`train: backend ${backend.name} (${backend.package}), gradients on ${trainingThreads} thread(s); workspace ${workspace.root}`)

let run: DiStarRun
try {
  if (args.config) {
    const path = resolve(args.config)
    let json: unknown
    try {
      json = JSON.parse(await readFile(path, 'utf8'))
    } catch (err) {
      fail(`cannot read the run config ${path}: ${(err as Error).message}`)
    }
    run = await DiStarRun.start(workspace.root, json, { baseDir: dirname(path), trainingThreads, ...(args['run-id'] ? { runId: args['run-id'] } : {}) })
  } else {
    run = await DiStarRun.resume(workspace.root, args.resume!, { trainingThreads })
  }
} catch (err) {
  fail(err instanceof Error ? err.message : String(err), 1)
}
console.error(`train: run ${run.id} in ${run.dir} (${run.config.steps} steps, batch ${run.config.batchSize})`)

let signals = 0
const onSignal = (name: string) => {
  signals++
  if (signals > 1) {
    console.error(`\ntrain: ${name} again, exiting without a checkpoint (resume with --resume ${run.id})`)
    process.exit(130)
  }
  console.error(`\ntrain: ${name}: stopping after this step and saving a checkpoint (again to exit at once)`)
  run.stop()
}
process.on('SIGINT', () => onSignal('SIGINT'))
process.on('SIGTERM', () => onSignal('SIGTERM'))

const tty = process.stderr.isTTY === true
let lastPrinted = 0
const started = Date.now()
const show = (e: RunStepEvent) => {
  const line = renderProgressLine(e, tty ? process.stderr.columns ?? 100 : 100)
  if (tty) process.stderr.write(`\r${line}`)
  else if (Date.now() - lastPrinted > 10_000 || e.step + 1 === e.totalSteps) {
    lastPrinted = Date.now()
    process.stderr.write(line + '\n')
  }
}
const newline = () => { if (tty) process.stderr.write('\n') }

try {
  const status = await run.run({
    onStep: show,
    onLog: (m, level) => { newline(); console.error(`train: ${level}: ${m}`) },
    onSamples: (e) => { if (!tty) console.error(`train: samples at step ${e.step}: ${e.png}`) },
    onStatus: (s) => { if (s.state === 'paused' && s.message) { newline(); console.error(`train: paused: ${s.message}`) } },
  })
  newline()
  console.error(`train: ${status.state} at step ${status.step}/${status.totalSteps} in ${formatDuration((Date.now() - started) / 1000)}; last checkpoint: step ${status.checkpointStep ?? 'none'}${status.message ? `; ${status.message}` : ''}`)
  if (status.state === 'stopped') console.error(`train: resume with: npm run train -- --resume ${run.id}${args.workspace ? ` --workspace ${args.workspace}` : ''}`)
  console.log(JSON.stringify({ dir: run.dir, ...status }))
  run.dispose()
  process.exit(status.state === 'failed' ? 1 : 0) // a diverged run is not a success
} catch (err) {
  newline()
  fail(`run ${run.id} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, 1)
}
