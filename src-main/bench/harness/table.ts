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

export function formatTable(rows: BenchRow[]): string {
  const header = ['name', 'value', 'unit', 'notes']
  const cells = rows.map((r) => [r.name, formatValue(r.value), r.unit, r.notes ?? ''])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c: string[]) =>
    '| ' + c.map((s, i) => (i === 1 ? s.padStart(widths[i]) : s.padEnd(widths[i]))).join(' | ') + ' |'
  const rule = '|' + widths.map((w, i) => (i === 1 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|'
  return [line(header), rule, ...cells.map(line)].join('\n')
}
