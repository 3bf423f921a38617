// npm run bench [-- --only <substring>] [--repeats N] [--quick] [--list] [--prefer wasm|cpu|...] [--json file]
// Runs every benchmark entry found in src-main/bench/*.ts and prints one table under a machine header.
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { initTf, type TfBackendName } from '../ml/backend/init.ts'
import { discoverBenches } from '../bench/harness/discover.ts'
import { describeMachine, formatMachine } from '../bench/harness/machine.ts'
import type { BenchRow } from '../bench/harness/registry.ts'
import { formatTable } from '../bench/harness/table.ts'

const USAGE = `usage: npm run bench -- [--only <substring>]... [--repeats N] [--quick] [--list] [--prefer <backend>] [--json <file>]`
const BACKENDS: TfBackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']

function parse() {
  try {
    const { values } = parseArgs({
      options: {
        only: { type: 'string', multiple: true },
        repeats: { type: 'string', default: '5' },
        quick: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        prefer: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    })
    const repeats = Number(values.repeats)
    if (!Number.isInteger(repeats) || repeats < 1 || repeats > 1000) throw new Error(`--repeats must be an integer 1..1000, got "${values.repeats}"`)
    if (values.prefer !== undefined && !BACKENDS.includes(values.prefer as TfBackendName)) {
      throw new Error(`--prefer must be one of ${BACKENDS.join(', ')}, got "${values.prefer}"`)
    }
    return { ...values, repeats, prefer: values.prefer as TfBackendName | undefined }
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`)
    process.exit(2)
  }
}

const args = parse()
if (args.help) {
  console.log(USAGE)
  process.exit(0)
}

const { entries, problems } = await discoverBenches()
const filters = (args.only ?? []).map((s) => s.toLowerCase())
const selected = entries.filter(
  ({ area, entry }) => filters.length === 0 || filters.some((f) => entry.name.toLowerCase().includes(f) || area.toLowerCase() === f),
)
for (const p of problems) console.error(`bench: warning: ${p}`)

if (args.list) {
  for (const { area, entry } of entries) console.log(`${area.padEnd(12)} ${entry.name}`)
  process.exit(0)
}
if (selected.length === 0) {
  console.error(`bench: no entry matches ${filters.map((f) => `"${f}"`).join(', ')}; see --list`)
  process.exit(2)
}

const backend = await initTf({ prefer: args.prefer })
const machineBefore = describeMachine(backend)
const log = (m: string) => console.error(`  ${m}`)
const rows: BenchRow[] = []
for (const { area, entry } of selected) {
  console.error(`bench: ${area} / ${entry.name}`)
  try {
    rows.push(...(await entry.run({ backend, repeats: args.repeats, quick: args.quick, log })).map((r) => ({ area, ...r })))
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    console.error(`bench: ${entry.name} failed: ${message}`)
    rows.push({ area, name: entry.name, value: Number.NaN, unit: '', notes: `FAILED: ${message}` })
  }
}
const machineAfter = describeMachine(backend)

const header = formatMachine(machineBefore)
header.push(`load average after the run: ${machineAfter.loadAverage.map((l) => l.toFixed(2)).join(' / ')}; timings are medians of ${args.repeats}${args.quick ? ' (quick mode)' : ''}`)
console.log(['', ...header, '', formatTable(rows)].join('\n'))

if (args.json) {
  await writeFile(args.json, JSON.stringify({ date: new Date().toISOString(), machine: machineBefore, loadAfter: machineAfter.loadAverage, rows }, null, 2))
  console.error(`bench: wrote ${args.json}`)
}
