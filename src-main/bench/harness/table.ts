// Plain-text table for the terminal (and Markdown-compatible, so it pastes into docs).
import type { BenchRow } from './registry.ts'

export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  const abs = Math.abs(value)
  if (abs >= 1000) return value.toFixed(0)
  if (abs >= 100) return value.toFixed(1)
  if (abs >= 1) return value.toFixed(2)
  return value.toPrecision(3)
}

/** One table of every row; an 'area' column leads when rows carry their area. */
export function formatTable(rows: BenchRow[]): string {
  const withArea = rows.some((r) => r.area !== undefined)
  const header = [...(withArea ? ['area'] : []), 'name', 'value', 'unit', 'notes']
  const valueColumn = withArea ? 2 : 1
  const cells = rows.map((r) => [...(withArea ? [r.area ?? ''] : []), r.name, formatValue(r.value), r.unit, r.notes ?? ''])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c: string[]) =>
    '| ' + c.map((s, i) => (i === valueColumn ? s.padStart(widths[i]) : s.padEnd(widths[i]))).join(' | ') + ' |'
  const rule = '|' + widths.map((w, i) => (i === valueColumn ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|'
  return [line(header), rule, ...cells.map(line)].join('\n')
}
