// A single terminal line for a DI* step: bar, step count, ETA and the numbers a user watches.
import { formatDuration } from '../../util/format-duration.ts'
import type { RunStepEvent } from './run-engine.ts'

const num = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 100 || Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(3)) : String(v))

/** e.g. "[#####.....] 50/100 ETA 1m20s 1.21s/step reward alignment=12.3 reg=0.012 fake=0.08" */
export function renderProgressLine(e: RunStepEvent, width = 100): string {
  const done = e.step + 1
  const barWidth = 20
  const filled = Math.round((done / e.totalSteps) * barWidth)
  const rewards = Object.entries(e.losses.rewards).map(([k, v]) => `${k}=${num(v)}`).join(' ')
  const flag = e.status === 'ok' ? '' : ` [${e.status}]`
  const line = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${done}/${e.totalSteps} ETA ${formatDuration(e.etaMs / 1000)} ` +
    `${(e.wallMs / 1000).toFixed(2)}s/step ${rewards} reg=${num(e.losses.regulariser)} fake=${num(e.losses.fakeScore)} ratio=${num(e.gradNorms.ratio)}${flag}`
  return line.length > width - 1 ? line.slice(0, width - 1) : line.padEnd(width - 1)
}
