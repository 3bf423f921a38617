// Runs every tests/**/*.test.ts file (unit, integration, e2e, and any other folder) with node's test runner
// through tsx, one file at a time by default: the machine has two cores and ML tests are heavy.
//   tsx tests/run.ts                 all tiers
//   tsx tests/run.ts unit e2e        only those tiers
//   TEST_CONCURRENCY=2 tsx tests/run.ts
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const testsDir = dirname(fileURLToPath(import.meta.url))
const repoRoot = join(testsDir, '..')
const TIERS = ['unit', 'integration', 'e2e'] as const

function findTests(dir: string): string[] {
  const found: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) found.push(...findTests(path))
    else if (name.endsWith('.test.ts')) found.push(path)
  }
  return found
}

const wanted = process.argv.slice(2)
const unknown = wanted.filter((w) => !(TIERS as readonly string[]).includes(w))
if (unknown.length) {
  console.error(`Unknown test tier(s): ${unknown.join(', ')}. Tiers: ${TIERS.join(', ')}`)
  process.exit(2)
}
const tiers = wanted.length ? TIERS.filter((t) => wanted.includes(t)) : TIERS
// Files anywhere else under tests/ still run, after the known tiers, so none is ever skipped.
const all = findTests(testsDir)
const inTiers = tiers.flatMap((tier) => all.filter((f) => relative(testsDir, f).startsWith(`${tier}/`)))
const elsewhere = wanted.length ? [] : all.filter((f) => !TIERS.some((tier) => relative(testsDir, f).startsWith(`${tier}/`)))
const files = [...inTiers, ...elsewhere]
if (files.length === 0) {
  console.error('No test files found')
  process.exit(1)
}

const concurrency = Number(process.env.TEST_CONCURRENCY ?? 1)
console.log(`Running ${files.length} test files (concurrency ${concurrency})`)
const child = spawn(
  process.execPath,
  [
    '--import', 'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    // A hung test fails after 10 minutes instead of stalling CI.
    '--test-timeout=600000',
    '--test-reporter=spec',
    ...files.map((f) => relative(repoRoot, f)),
  ],
  { cwd: repoRoot, stdio: 'inherit' },
)
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
