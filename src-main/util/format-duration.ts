/** Seconds as "7m05s" or "42s" ("?" for a non-finite value), for the training commands' progress lines. */
export function formatMinSec(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?'
  const total = Math.round(seconds)
  const m = Math.floor(total / 60)
  const s = total % 60
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`
}
