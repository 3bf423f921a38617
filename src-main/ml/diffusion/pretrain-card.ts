// The model card of a pretraining run, written from what the run recorded (pretrain-run.ts's output
// folder): state/config.json (options, step, times), metrics.jsonl (loss per logged step),
// eval.jsonl (the judge's score of the EMA model's 50-step samples during training) and the newest
// sample grid. `npm run pretrain-card -- --run <dir>` writes MODEL_CARD.md, curves.png and
// samples.png into <dir>/model, so the card of a shipped reference is regenerated, never hand-edited.
import { existsSync } from 'node:fs'
import { copyFile, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Resvg } from '@resvg/resvg-js'
import { styleCredit } from '../judge/credits.ts'
import { countParams, type DitConfig } from './dit.ts'

export interface MetricsLine { step: number; smoothedLoss: number; trainSeconds?: number; trainCpuSeconds?: number }
export interface EvalLine { step: number; trainSeconds: number; trainCpuSeconds?: number; judgeTop1?: number; judgeTop5?: number; judgeImages?: number }

export interface PretrainRunRecord {
  options: Record<string, unknown> & { steps: number; batch: number; seed: number; styles?: string[]; hyper?: Record<string, unknown>; textInit?: string }
  dit: DitConfig
  step: number
  trainSeconds: number
  trainCpuSeconds?: number
  smoothedLoss: number
  metrics: MetricsLine[]
  evals: EvalLine[]
  /** newest samples/step-N.png, if any */
  samplesPng?: string
}

async function readJsonl<T>(path: string): Promise<T[]> {
  if (!existsSync(path)) return []
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim()).flatMap((l) => {
    try {
      return [JSON.parse(l) as T]
    } catch {
      return [] // a line cut by a kill mid-write
    }
  })
}

export async function readPretrainRun(runDir: string): Promise<PretrainRunRecord> {
  const statePath = join(runDir, 'state', 'config.json')
  if (!existsSync(statePath)) throw new Error(`${runDir}: no state/config.json (not a pretraining run folder)`)
  const state = JSON.parse(await readFile(statePath, 'utf8')) as Omit<PretrainRunRecord, 'metrics' | 'evals'> & { kind?: string }
  if (state.kind !== 'di-studio-pretrain-state') throw new Error(`${statePath} is not a pretraining state`)
  const samplesDir = join(runDir, 'samples')
  const grids = existsSync(samplesDir) ? (await readdir(samplesDir)).filter((f) => /^step-\d+\.png$/.test(f)).sort() : []
  return {
    ...state,
    metrics: await readJsonl<MetricsLine>(join(runDir, 'metrics.jsonl')),
    evals: await readJsonl<EvalLine>(join(runDir, 'eval.jsonl')),
    ...(grids.length > 0 ? { samplesPng: join(samplesDir, grids[grids.length - 1]!) } : {}),
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const hours = (s: number) => s / 3600
export function formatHours(seconds: number): string {
  const m = Math.round(seconds / 60)
  return m >= 60 ? `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min` : `${m} min`
}

/** Two panels against hours of step time: smoothed loss, and the judge's top-1 / top-5 (%). */
export function curvesSvg(r: PretrainRunRecord): string {
  const W = 980, H = 380, P = { top: 46, w: 380, h: 260, left: [70, 560] }
  const lossPts = r.metrics.filter((m) => m.trainSeconds !== undefined && Number.isFinite(m.smoothedLoss)).map((m) => ({ x: hours(m.trainSeconds!), y: m.smoothedLoss }))
  const evalPts = r.evals.filter((e) => e.judgeTop1 !== undefined)
  const series: { pts: { x: number; y: number }[]; colour: string; label: string }[][] = [
    [{ pts: lossPts, colour: '#1f6fd1', label: 'smoothed loss' }],
    [
      { pts: evalPts.map((e) => ({ x: hours(e.trainSeconds), y: 100 * e.judgeTop1! })), colour: '#c0392b', label: 'judge top-1 %' },
      { pts: evalPts.map((e) => ({ x: hours(e.trainSeconds), y: 100 * (e.judgeTop5 ?? 0) })), colour: '#e08a00', label: 'judge top-5 %' },
    ],
  ]
  const titles = ['Training loss', 'Judge score of 50-step samples (training emoji)']
  const xMax = Math.max(0.1, hours(r.trainSeconds), ...series.flat().flatMap((l) => l.pts.map((p) => p.x)))
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">`, `<rect width="${W}" height="${H}" fill="white"/>`]
  series.forEach((lines, k) => {
    const left = P.left[k]!
    const ys = lines.flatMap((l) => l.pts.map((p) => p.y))
    const y0 = k === 1 ? 0 : Math.min(...ys, Infinity)
    const y1 = k === 1 ? Math.max(10, ...ys) * 1.1 : Math.max(...ys, -Infinity)
    const [lo, hi] = Number.isFinite(y0) && Number.isFinite(y1) && y1 > y0 ? [y0, y1] : [0, 1]
    const px = (x: number) => left + (x / xMax) * P.w
    const py = (y: number) => P.top + P.h - ((y - lo) / (hi - lo)) * P.h
    parts.push(`<text x="${left + P.w / 2}" y="${P.top - 16}" font-size="14" font-weight="bold" text-anchor="middle">${esc(titles[k]!)}</text>`)
    parts.push(`<rect x="${left}" y="${P.top}" width="${P.w}" height="${P.h}" fill="none" stroke="#222"/>`)
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4
      parts.push(`<text x="${left - 6}" y="${py(v) + 4}" font-size="11" text-anchor="end">${k === 1 ? v.toFixed(0) : v.toFixed(3)}</text>`)
      const xv = (xMax * i) / 4
      parts.push(`<text x="${px(xv)}" y="${P.top + P.h + 16}" font-size="11" text-anchor="middle">${xv.toFixed(xMax < 2 ? 2 : 1)}</text>`)
    }
    parts.push(`<text x="${left + P.w / 2}" y="${P.top + P.h + 34}" font-size="12" text-anchor="middle">hours of step time</text>`)
    lines.forEach((l, j) => {
      if (l.pts.length > 0) parts.push(`<polyline fill="none" stroke="${l.colour}" stroke-width="2" points="${l.pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`)
      for (const p of k === 1 ? l.pts : []) parts.push(`<circle cx="${px(p.x)}" cy="${py(p.y)}" r="3" fill="${l.colour}"/>`)
      parts.push(`<text x="${left + 10}" y="${P.top + 16 + 15 * j}" font-size="12" fill="${l.colour}">${esc(l.label)}</text>`)
    })
  })
  parts.push('</svg>')
  return parts.join('\n')
}

export interface CardContext {
  /** the command that reproduces the run */
  command: string
  /** the judge's real-image top-1 on the held-out style (its ceiling), if known */
  judgeCeilingTop1?: number
  /** a short title, e.g. "Reference model v2 (candidate, training in progress)" */
  title: string
  /** extra markdown after the status (how to resume, caveats) */
  notes?: string
}

export function pretrainCard(r: PretrainRunRecord, ctx: CardContext): string {
  const d = r.dit
  const o = r.options
  const last = r.evals.filter((e) => e.judgeTop1 !== undefined).at(-1)
  const pct = (x: number | undefined) => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`)
  const ceiling = ctx.judgeCeilingTop1
  const styles = o.styles ?? ['twitter', 'google']
  const arch = d.arch === 'unet'
    ? `convolutional U-Net: base width ${d.width}, channel multipliers [${(d.channelMults ?? [1, 2, 2]).join(', ')}], ${d.depth} residual block(s) per level, self- and cross-attention (to the caption's word embeddings) at levels [${(d.attentionLevels ?? []).join(', ')}], GroupNorm (${d.normGroups ?? 8} groups), FiLM conditioning on time + pooled caption`
    : `DiT: patch ${d.patch}, width ${d.width}, depth ${d.depth}, ${d.heads} heads, MLP ratio ${d.mlpRatio}, adaLN-zero${d.textTokens ? ', caption tokens in the attention' : ''}`
  return `# ${ctx.title}

Written by \`npm run pretrain-card\` from the run's own records (state, metrics.jsonl, eval.jsonl, samples).

## Status
- **${r.step.toLocaleString('en')} of ${o.steps.toLocaleString('en')} steps** at batch ${o.batch}, seed ${o.seed}: ${formatHours(r.trainSeconds)} of step time${r.trainCpuSeconds ? ` (${formatHours(r.trainCpuSeconds)} of CPU time summed over threads)` : ''}; smoothed loss ${r.smoothedLoss.toFixed(4)}.
- **Judge score** (an emoji classifier that is never a training reward; \`src-main/ml/judge/\`) of the EMA model's DDIM 50-step samples for ${last?.judgeImages ?? '-'} fixed training-emoji prompts: top-1 **${pct(last?.judgeTop1)}**, top-5 ${pct(last?.judgeTop5)} at step ${last?.step ?? '-'}${ceiling !== undefined ? `; the judge's real-image ceiling (held-out style) is ${pct(ceiling)} top-1, so the issue's bar (half the ceiling) is ${pct(ceiling / 2)}: **${last?.judgeTop1 !== undefined && last.judgeTop1 >= ceiling / 2 ? 'met' : 'not met'}** on this sample` : ''}. \`npm run eval\` gives the full measurement (150 prompts x seeds, by category).
${ctx.notes ? `\n${ctx.notes}\n` : ''}
## Data
${styles.map((s) => `- ${s}: ${styleCredit(s)}`).join('\n')}
- Base emoji without skin tones, 32x32 RGB on white in [-1, 1]; split by emoji (validation emoji never trained). Captions: the loader's variants (name, short names, category, "<style> style"); ${Math.round(100 * Number((o.hyper as { captionDropout?: number } | undefined)?.captionDropout ?? 0.1))}% empty for classifier-free guidance.

## Architecture (\`config.json\` → \`dit\`, ${countParams(d).toLocaleString('en')} parameters)
- ${arch}.
- Text encoder trained jointly: word embeddings (${d.textWidth}) + positions, masked mean, MLP; ${d.textLength} tokens, vocabulary ${d.vocabSize}.${o.textInit ? ' Word embeddings started from the alignment model\'s (`--text-init`).' : ''}
- Output: ${d.output === 'v' ? 'v-prediction (converted to epsilon for every consumer)' : 'epsilon'}; schedule VP ${d.schedule?.kind ?? 'cosine'}, T = ${d.schedule?.T ?? 1000}.

## Training
| | |
|---|---|
| steps | ${r.step.toLocaleString('en')} of ${o.steps.toLocaleString('en')} at batch ${o.batch} |
| hyper-parameters | \`${JSON.stringify(o.hyper ?? {})}\` |
| time | ${formatHours(r.trainSeconds)} of step time${r.trainCpuSeconds ? `, ${formatHours(r.trainCpuSeconds)} CPU` : ''} |
| reproduce | \`${ctx.command}\` |

![curves](curves.png)

| step | hours | judge top-1 | judge top-5 |
|---|---|---|---|
${r.evals.filter((e) => e.judgeTop1 !== undefined).map((e) => `| ${e.step} | ${hours(e.trainSeconds).toFixed(2)} | ${pct(e.judgeTop1)} | ${pct(e.judgeTop5)} |`).join('\n') || '| - | - | - | - |'}

## Samples
${r.samplesPng ? `\`samples.png\`: the showcase prompts (\`resources/prompts/showcase.txt\`), DDIM 25 steps, CFG 3, at step ${/step-(\d+)/.exec(r.samplesPng)?.[1]?.replace(/^0+/, '')}.\n\n![samples](samples.png)` : 'No sample grid yet.'}
`
}

/** Writes MODEL_CARD.md, curves.png and samples.png into `modelDir`. */
export async function writePretrainCard(runDir: string, modelDir: string, ctx: CardContext): Promise<PretrainRunRecord> {
  const { writeFile } = await import('node:fs/promises')
  const r = await readPretrainRun(runDir)
  await writeFile(join(modelDir, 'MODEL_CARD.md'), pretrainCard(r, ctx))
  const png = new Resvg(curvesSvg(r), { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' }).render().asPng()
  await writeFile(join(modelDir, 'curves.png'), png)
  if (r.samplesPng) await copyFile(r.samplesPng, join(modelDir, 'samples.png'))
  return r
}
