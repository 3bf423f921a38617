// The benchmark registry: each area adds a file src-main/bench/<area>.ts that exports
// `benches: BenchEntry[]`; `npm run bench` discovers those files, runs the entries and prints one table.
import type { TfBackendInfo } from '../../ml/backend/init.ts'

export interface BenchRow {
  /** what was measured, e.g. "matMul 1024^3" */
  name: string
  value: number
  /** e.g. "ms", "images/s", "x" (a ratio), "MB" */
  unit: string
  /** how it was measured or what it means (batch, repeats, spread) */
  notes?: string
  /** the area file it came from (set by the bench CLI, so one table can hold every area) */
  area?: string
}

export interface BenchContext {
  backend: TfBackendInfo
  /** timed repetitions per measurement (the median is reported) */
  repeats: number
  /** true for `--quick`: entries should shrink their work (CI smoke runs) */
  quick: boolean
  /** print a progress line (goes to stderr, so the table on stdout stays clean) */
  log(message: string): void
}

export interface BenchEntry {
  /** unique, human-readable; `--only <substring>` matches it */
  name: string
  run(ctx: BenchContext): Promise<BenchRow[]>
}

/** Area files export this; the harness checks the shape at load time. */
export type BenchModule = { benches: BenchEntry[] }

export function isBenchModule(value: unknown): value is BenchModule {
  const benches = (value as { benches?: unknown } | null)?.benches
  return (
    Array.isArray(benches) &&
    benches.every((b) => typeof (b as BenchEntry)?.name === 'string' && typeof (b as BenchEntry)?.run === 'function')
  )
}
