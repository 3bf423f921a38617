// One DI* step as flat metric names: what the job streams live (ctx.metrics) and what a reopened run
// plots from metrics.jsonl, so both look the same:
//   loss/<name>  reward/<reward>  grad/<name>  time/<name>  skipped (0|1)  control/<name>
//   control/tMin, control/tMax, control/rewardMix.<reward>
// Non-finite values (a skipped step's NaN losses) are left out. Free of TensorFlow.js, so the main
// process can use it on metrics.jsonl lines.

/** Accepts a RunStepEvent or a parsed metrics.jsonl step line (whose non-finite numbers are strings). */
export function stepMetrics(line: object): Record<string, number> {
  const l = line as Record<string, unknown>
  const out: Record<string, number> = {}
  const put = (name: string, value: unknown) => {
    if (typeof value === 'number' && Number.isFinite(value)) out[name] = value
  }
  const group = (value: unknown): Record<string, unknown> =>
    value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
  const losses = group(l.losses)
  for (const [k, v] of Object.entries(losses)) put(`loss/${k}`, v)
  for (const [k, v] of Object.entries(group(losses.rewards))) put(`reward/${k}`, v)
  for (const [k, v] of Object.entries(group(l.gradNorms))) put(`grad/${k}`, v)
  for (const [k, v] of Object.entries(group(l.timings))) put(`time/${k}`, v)
  put('time/wallMs', l.wallMs)
  put('time/etaMs', l.etaMs)
  out.skipped = l.status === 'ok' ? 0 : 1
  const controls = group(l.controls)
  for (const [k, v] of Object.entries(controls)) put(`control/${k}`, v)
  if (Array.isArray(controls.tRange)) {
    put('control/tMin', controls.tRange[0])
    put('control/tMax', controls.tRange[1])
  }
  for (const [k, v] of Object.entries(group(controls.rewardMix))) put(`control/rewardMix.${k}`, v)
  return out
}
