// npm run reliability -- crash [--trials 20] [--seed 1] [--backend cpu|wasm] [--out dir]
// npm run reliability -- soak [--steps 1000] [--every 20] [--backend cpu|wasm] [--out dir]
// The reliability trials of issue 8 (docs/reliability.md): crash safety under SIGKILL, and a long DI* run
// watched for leaks. Each prints a table and a verdict and writes its results (JSON; the soak also an
// SVG curve) to --out (default: a new folder under the system temp folder). Exit code 1 when a trial fails.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { initTf } from '../ml/backend/init.ts'
import { formatCrashTable, runCrashTrials, TRIAL_MODES, type TrialMode } from '../reliability/crash-trials.ts'
import { formatSoak, runSoak, soakSvg } from '../reliability/soak.ts'

const USAGE = `usage: npm run reliability -- crash [--trials 20] [--seed 1] [--modes train-child,train-in-write,job-worker,whole-process] [--backend cpu|wasm] [--out dir]
       npm run reliability -- soak [--steps 1000] [--every 20] [--backend cpu|wasm] [--out dir]`

function fail(message: string): never {
  console.error(`reliability: ${message}\n${USAGE}`)
  process.exit(2)
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${value}`)
  return n
}

let parsed
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      trials: { type: 'string' }, seed: { type: 'string' }, steps: { type: 'string' }, every: { type: 'string' },
      backend: { type: 'string', default: 'cpu' }, modes: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  })
} catch (err) {
  fail((err as Error).message)
}
const { values, positionals } = parsed
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
const command = positionals[0]
if (positionals.length !== 1 || (command !== 'crash' && command !== 'soak')) fail('give one command: crash or soak')
if (values.backend !== 'cpu' && values.backend !== 'wasm') fail('--backend must be cpu or wasm')
const backendName = values.backend as 'cpu' | 'wasm'
const outDir = values.out ? resolve(values.out) : await mkdtemp(join(tmpdir(), `di-studio-${command}-`))
await mkdir(outDir, { recursive: true })
const backend = await initTf({ prefer: backendName })
if (backend.name !== backendName) fail(`the ${backendName} backend is not available here (got ${backend.name})`)

if (command === 'crash') {
  const trials = positiveInt(values.trials, 'trials', 20)
  const seed = positiveInt(values.seed, 'seed', 1)
  const modes = (values.modes?.split(',') ?? [...TRIAL_MODES]) as TrialMode[]
  const unknown = modes.filter((m) => !(TRIAL_MODES as readonly string[]).includes(m))
  if (unknown.length > 0) fail(`unknown --modes ${unknown.join(', ')}; choose from ${TRIAL_MODES.join(', ')}`)
  console.error(`reliability crash: ${trials} trials (seed ${seed}, backend ${backendName}); results in ${outDir}`)
  const campaign = await runCrashTrials({
    trials, seed, modes, backend: backendName, workDir: join(outDir, 'workspace'),
    onLog: (m) => console.error(`reliability crash: ${m}`),
    onTrial: (r) => console.error(`trial ${r.trial}/${trials} ${r.mode} (${r.target}): ${r.passed ? 'pass' : 'FAIL'} in ${r.seconds.toFixed(1)} s${r.problems.length ? `\n  ${r.problems.join('\n  ')}` : ''}`),
  })
  console.log(formatCrashTable(campaign))
  await writeFile(join(outDir, 'crash.json'), JSON.stringify({ seed, trials, ...campaign }, null, 2) + '\n')
  console.log(`results: ${join(outDir, 'crash.json')}`)
  process.exit(campaign.results.every((r) => r.passed) ? 0 : 1)
}

if (command === 'soak') {
  const steps = positiveInt(values.steps, 'steps', 1000)
  const every = positiveInt(values.every, 'every', 20)
  console.error(`reliability soak: ${steps} DI* steps, memory every ${every} steps (backend ${backendName}); results in ${outDir}`)
  const result = await runSoak({
    steps, every, workDir: join(outDir, 'workspace'),
    onSample: (s) => console.error(`soak: step ${s.step}: ${s.numTensors} tensors, heap ${(s.heapUsed / 2 ** 20).toFixed(2)} MB, RSS ${(s.rss / 2 ** 20).toFixed(1)} MB`),
  })
  console.log(formatSoak(result))
  await writeFile(join(outDir, 'soak.json'), JSON.stringify(result, null, 2) + '\n')
  await writeFile(join(outDir, 'soak.svg'), soakSvg(result))
  console.log(`results: ${join(outDir, 'soak.json')}, curve: ${join(outDir, 'soak.svg')}`)
  const v = result.verdict
  process.exit(v.numTensors.flat && v.numBytes.flat && v.heapUsed.flat ? 0 : 1)
}
