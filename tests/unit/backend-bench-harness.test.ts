// The npm run bench harness: discovery of area files, medians, the table, and the CLI's argument errors.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { discoverBenches } from '../../src-main/bench/harness/discover.ts'
import { summarise } from '../../src-main/bench/harness/timing.ts'
import { formatTable, formatValue } from '../../src-main/bench/harness/table.ts'

describe('bench harness', () => {
  it('takes the median, min and max of repeated timings', () => {
    assert.deepEqual(summarise([5, 1, 3]), { medianMs: 3, minMs: 1, maxMs: 5, runs: 3 })
    assert.equal(summarise([4, 1, 3, 2]).medianMs, 2.5)
  })

  it('prints one aligned table with right-aligned values', () => {
    const table = formatTable([
      { name: 'a', value: 1234.5, unit: 'ms' },
      { name: 'longer name', value: 0.01234, unit: 'x', notes: 'n' },
    ])
    const lines = table.split('\n')
    assert.equal(lines.length, 4)
    assert.ok(lines.every((l) => l.length === lines[0].length), 'all lines equally wide')
    assert.match(lines[2], /\|\s+1235 \| ms/)
    assert.equal(formatValue(0.01234), '0.0123')
    assert.equal(formatValue(Number.NaN), 'NaN')
  })

  it('discovers area files and reports broken ones without failing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-discover-'))
    try {
      await writeFile(join(dir, 'good.ts'), `export const benches = [{ name: 'one', run: async () => [] }]\n`)
      await writeFile(join(dir, 'wrong-shape.ts'), `export const benches = 3\n`)
      await writeFile(join(dir, 'throws.ts'), `throw new Error('cannot load')\n`)
      await writeFile(join(dir, 'dup.ts'), `export const benches = [{ name: 'one', run: async () => [] }]\n`)
      const { entries, problems } = await discoverBenches(dir)
      assert.deepEqual(entries.map((e) => `${e.area}:${e.entry.name}`), ['dup:one', 'good:one'])
      assert.ok(problems.some((p) => p.startsWith('wrong-shape.ts') && p.includes('does not export')))
      assert.ok(problems.some((p) => p.startsWith('throws.ts') && p.includes('cannot load')))
      assert.ok(problems.some((p) => p.includes('duplicate bench name "one"')))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('finds the backend entries in the real bench folder', async () => {
    const { entries } = await discoverBenches()
    assert.ok(entries.some((e) => e.area === 'backend' && e.entry.name.startsWith('matMul')))
  })

  it('the CLI refuses bad arguments with usage and exit code 2', async () => {
    const run = promisify(execFile)
    const cli = new URL('../../src-main/cli/bench.ts', import.meta.url).pathname
    for (const args of [['--repeats', '0'], ['--only', 'no-such-bench-anywhere'], ['--bogus']]) {
      await assert.rejects(run(process.execPath, ['--import', 'tsx', cli, ...args]), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 2, `exit code for ${args.join(' ')}`)
        assert.match(err.stderr ?? '', /bench: /)
        return true
      })
    }
  })
})
