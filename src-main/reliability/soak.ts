// Long-run stability (issue 8): a DI* run of many steps at a small size through the real run engine
// (checkpoints, sample grids, metrics log and all), sampling TensorFlow.js memory (tensor count, bytes)
// and the process heap (after a full GC) and RSS every N steps, with a verdict per curve: flat or
// growing, and the slope. Used by `npm run reliability -- soak` and, shorter, by the suite.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { DiStarRun } from '../core/runs/run-engine.ts'
import { ensureTinyReference, SOAK_MODEL, tinyRunConfig } from './tiny-run.ts'

export interface SoakSample {
  /** steps completed */
  step: number
  numTensors: number
  numBytes: number
  /** V8 heap in use after a full garbage collection */
  heapUsed: number
  rss: number
}

export interface CurveVerdict {
  /** least-squares slope after warm-up, per step */
  slopePerStep: number
  min: number
  max: number
  /** slope x the measured span: what the run added */
  growthOverRun: number
  flat: boolean
}

export interface SoakResult {
  steps: number
  every: number
  warmupSteps: number
  backend: string
  model: typeof SOAK_MODEL
  batchSize: number
  seconds: number
  samples: SoakSample[]
  verdict: { numTensors: CurveVerdict; numBytes: CurveVerdict; heapUsed: CurveVerdict; rss: CurveVerdict }
}

export interface SoakOptions {
  steps: number
  /** sample memory every this many steps */
  every: number
  /** samples before this many steps are not judged (first checkpoint, grids, kernel caches) */
  warmupSteps?: number
  workDir?: string
  onSample?(s: SoakSample): void
}

/** A full GC when the process allows it (needed for a heap curve that is not GC noise). */
function garbageCollector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed) return exposed
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

/**
 * Heap and RSS may wobble by GC and allocator noise: they count as growing only when the run added more
 * than 2 MB and more than 5 % of their mean. Tensor count and bytes must be exactly constant.
 */
function judge(points: { step: number; value: number }[], exact: boolean): CurveVerdict {
  const n = points.length
  const mx = points.reduce((a, p) => a + p.step, 0) / n
  const my = points.reduce((a, p) => a + p.value, 0) / n
  const sxx = points.reduce((a, p) => a + (p.step - mx) ** 2, 0)
  const slope = sxx > 0 ? points.reduce((a, p) => a + (p.step - mx) * (p.value - my), 0) / sxx : 0
  const values = points.map((p) => p.value)
  const min = Math.min(...values)
  const max = Math.max(...values)
  const growthOverRun = slope * (points[n - 1]!.step - points[0]!.step)
  const flat = exact ? min === max : growthOverRun < Math.max(2 * 2 ** 20, 0.05 * my)
  return { slopePerStep: slope, min, max, growthOverRun, flat }
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const warmupSteps = opts.warmupSteps ?? Math.min(100, Math.floor(opts.steps / 5))
  const ws = opts.workDir ?? (await fs.mkdtemp(join(tmpdir(), 'di-studio-soak-')))
  await fs.mkdir(ws, { recursive: true })
  await ensureTinyReference(ws, SOAK_MODEL)
  const batchSize = 4
  const every100 = Math.max(1, Math.min(100, Math.floor(opts.steps / 4)))
  const config = tinyRunConfig({
    steps: opts.steps, batchSize, seed: 5,
    samples: { every: every100, prompts: ['red apple', 'black cat'], columns: 2 },
    checkpoints: { every: every100, keep: 2 },
  })
  const gc = garbageCollector()
  const run = await DiStarRun.start(ws, config, { runId: `soak-${Date.now().toString(36)}`, baseDir: ws })
  const samples: SoakSample[] = []
  const started = performance.now()
  const sample = (step: number) => {
    gc()
    const mem = tf.memory()
    const s: SoakSample = { step, numTensors: mem.numTensors, numBytes: mem.numBytes, heapUsed: process.memoryUsage().heapUsed, rss: process.memoryUsage.rss() }
    samples.push(s)
    opts.onSample?.(s)
  }
  try {
    sample(0)
    const status = await run.run({ onStep: (e) => { if ((e.step + 1) % opts.every === 0) sample(e.step + 1) } })
    if (status.state !== 'completed') throw new Error(`the soak run ended ${status.state} at step ${status.step}: ${status.message ?? ''}`)
  } finally {
    run.dispose()
  }
  const judged = samples.filter((s) => s.step >= warmupSteps)
  if (judged.length < 2) throw new Error(`too few samples after the ${warmupSteps}-step warm-up; lower --every`)
  const curve = (k: keyof Omit<SoakSample, 'step'>) => judged.map((s) => ({ step: s.step, value: s[k] }))
  return {
    steps: opts.steps, every: opts.every, warmupSteps, backend: tf.getBackend(), model: SOAK_MODEL, batchSize,
    seconds: (performance.now() - started) / 1000, samples,
    verdict: { numTensors: judge(curve('numTensors'), true), numBytes: judge(curve('numBytes'), true), heapUsed: judge(curve('heapUsed'), false), rss: judge(curve('rss'), false) },
  }
}

const MB = 2 ** 20

export function formatSoak(r: SoakResult): string {
  const rows = r.samples.map((s) => `${String(s.step).padStart(6)}  ${String(s.numTensors).padStart(10)}  ${(s.numBytes / MB).toFixed(3).padStart(9)}  ${(s.heapUsed / MB).toFixed(2).padStart(9)}  ${(s.rss / MB).toFixed(1).padStart(8)}`)
  const v = (name: string, c: CurveVerdict, scale: number, unit: string) =>
    `${name.padEnd(11)} ${c.flat ? 'flat   ' : 'GROWING'}  slope ${(c.slopePerStep / scale).toPrecision(3)} ${unit}/step, over the run ${(c.growthOverRun / scale).toPrecision(3)} ${unit} (min ${(c.min / scale).toFixed(2)}, max ${(c.max / scale).toFixed(2)})`
  return [
    `  step  numTensors  numBytes MB  heap MB   RSS MB`,
    ...rows, '',
    `${r.steps} DI* steps, DiT ${r.model.imageSize}x${r.model.imageSize} width ${r.model.width} depth ${r.model.depth}, batch ${r.batchSize}, ${r.backend}, ${r.seconds.toFixed(0)} s; judged after the ${r.warmupSteps}-step warm-up:`,
    v('numTensors', r.verdict.numTensors, 1, 'tensors'),
    v('numBytes', r.verdict.numBytes, MB, 'MB'),
    v('heapUsed', r.verdict.heapUsed, MB, 'MB'),
    v('rss', r.verdict.rss, MB, 'MB'),
  ].join('\n')
}

/** Four small line charts (tensor count, tensor MB, heap MB, RSS MB against steps) as one SVG. */
export function soakSvg(r: SoakResult): string {
  const W = 360
  const H = 200
  const pad = { left: 58, right: 12, top: 26, bottom: 30 }
  const panels: { title: string; key: keyof Omit<SoakSample, 'step'>; scale: number }[] = [
    { title: 'tf.memory().numTensors', key: 'numTensors', scale: 1 },
    { title: 'tf.memory().numBytes (MB)', key: 'numBytes', scale: MB },
    { title: 'heap used after GC (MB)', key: 'heapUsed', scale: MB },
    { title: 'RSS (MB)', key: 'rss', scale: MB },
  ]
  const maxStep = Math.max(...r.samples.map((s) => s.step), 1)
  const parts = panels.map((p, i) => {
    const x0 = (i % 2) * W
    const y0 = Math.floor(i / 2) * H
    const values = r.samples.map((s) => s[p.key] / p.scale)
    let lo = Math.min(...values)
    let hi = Math.max(...values)
    if (hi - lo < 1e-9) { // a flat curve: draw it mid-height with a 1 % band
      const band = Math.max(Math.abs(hi) * 0.01, 1e-6)
      lo -= band
      hi += band
    }
    const px = (step: number) => x0 + pad.left + (step / maxStep) * (W - pad.left - pad.right)
    const py = (v: number) => y0 + pad.top + (1 - (v - lo) / (hi - lo)) * (H - pad.top - pad.bottom)
    const points = r.samples.map((s, k) => `${px(s.step).toFixed(1)},${py(values[k]!).toFixed(1)}`).join(' ')
    const warm = px(r.warmupSteps)
    const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4))
    return [
      `<text x="${x0 + pad.left}" y="${y0 + 16}" font-size="12" font-weight="bold">${p.title}</text>`,
      `<rect x="${x0 + pad.left}" y="${y0 + pad.top}" width="${W - pad.left - pad.right}" height="${H - pad.top - pad.bottom}" fill="none" stroke="#ccc"/>`,
      `<line x1="${warm.toFixed(1)}" y1="${y0 + pad.top}" x2="${warm.toFixed(1)}" y2="${y0 + H - pad.bottom}" stroke="#aaa" stroke-dasharray="3,3"/>`,
      `<polyline points="${points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>`,
      `<text x="${x0 + pad.left - 4}" y="${y0 + pad.top + 4}" font-size="10" text-anchor="end">${fmt(hi)}</text>`,
      `<text x="${x0 + pad.left - 4}" y="${y0 + H - pad.bottom}" font-size="10" text-anchor="end">${fmt(lo)}</text>`,
      `<text x="${x0 + W - pad.right}" y="${y0 + H - pad.bottom + 14}" font-size="10" text-anchor="end">step ${maxStep}</text>`,
      `<text x="${x0 + pad.left}" y="${y0 + H - pad.bottom + 14}" font-size="10">0 (dashed: end of warm-up)</text>`,
    ].join('\n')
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${2 * H}" viewBox="0 0 ${2 * W} ${2 * H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
}
