// npm run fuzz: the contract fuzzers with many more payloads than the test suite runs (default 5,000 per
// channel through the core dispatch and over the WebSocket). FUZZ_RUNS and FUZZ_SEED override.
//   npm run fuzz                      FUZZ_RUNS=20000 FUZZ_SEED=7 npm run fuzz
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { repoRoot } from './fuzz-kit.ts'

const env: NodeJS.ProcessEnv = { ...process.env, FUZZ_RUNS: process.env.FUZZ_RUNS ?? '5000' }
const files = ['tests/unit/reliability-fuzz-dispatch.test.ts', 'tests/integration/reliability-fuzz-websocket.test.ts']
console.log(`Fuzzing with ${env.FUZZ_RUNS} payloads per channel, seed ${env.FUZZ_SEED ?? '(default)'}`)
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files.map((f) => join(repoRoot, f))], { cwd: repoRoot, env, stdio: 'inherit' })
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
