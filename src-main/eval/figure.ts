// The eval's figure: alignment (higher is better) and Frechet distance (lower is better) against time per
// image on a log axis, one point per model. Written as SVG by hand and rendered to PNG by resvg
// (@resvg/resvg-js, prebuilt, no browser); text uses the system's fonts when it has any.
import { Resvg } from '@resvg/resvg-js'
import type { EvalResults, ModelResult } from './results.ts'

const WIDTH = 1040
const HEIGHT = 470
const PANEL = { width: 420, height: 300, top: 50, left: [80, 590] as const }
/** one colour per model, in table order: references in greys, one-step models in colours */
const REFERENCE_COLOURS = ['#222222', '#777777', '#aaaaaa']
const ONE_STEP_COLOURS = ['#e08a00', '#1f6fd1', '#c0392b', '#27ae60', '#8e44ad']

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

interface Point { x: number; y: number; label: string; colour: string; err?: number }


/** Nice linear ticks covering [lo, hi]. */
export function linearTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo]
  const span = hi - lo
  const mag = 10 ** Math.floor(Math.log10(span / count))
  // the 1-2-5 step whose tick count comes closest to `count`
  const step = [1, 2, 5, 10].map((m) => m * mag).reduce((best, s) => (Math.abs(span / s - count) < Math.abs(span / best - count) ? s : best))
  const ticks: number[] = []
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)) + 0)
  return ticks
}

function panel(left: number, title: string, yLabel: string, points: Point[]): string {
  const { width: w, height: h, top } = PANEL
  const xs = points.map((p) => p.x).filter((x) => x > 0)
  const lx0 = Math.floor(Math.log10(Math.min(...xs)))
  const lx1 = Math.max(lx0 + 1, Math.ceil(Math.log10(Math.max(...xs))))
  const ys = points.flatMap((p) => [p.y - (p.err ?? 0), p.y + (p.err ?? 0)])
  let y0 = Math.min(...ys)
  let y1 = Math.max(...ys)
  const pad = (y1 - y0) * 0.12 || Math.abs(y1) * 0.1 || 1
  y0 -= pad
  y1 += pad
  const px = (x: number) => left + ((Math.log10(x) - lx0) / (lx1 - lx0)) * w
  const py = (y: number) => top + h - ((y - y0) / (y1 - y0)) * h
  const parts: string[] = [
    `<text x="${left + w / 2}" y="${top - 16}" font-size="15" font-weight="bold" text-anchor="middle">${esc(title)}</text>`,
    `<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#222"/>`,
  ]
  for (let e = lx0; e <= lx1; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e
      if (Math.log10(v) > lx1 + 1e-9) continue
      const x = px(v)
      parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + h}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`)
      if (m === 1 || lx1 - lx0 <= 2) parts.push(`<text x="${x}" y="${top + h + 18}" font-size="12" text-anchor="middle">${v >= 1 ? v : v.toPrecision(1)}</text>`)
    }
  }
  for (const v of linearTicks(y0, y1)) {
    const y = py(v)
    parts.push(`<line x1="${left}" y1="${y}" x2="${left + w}" y2="${y}" stroke="#eee"/>`)
    parts.push(`<text x="${left - 6}" y="${y + 4}" font-size="12" text-anchor="end">${v}</text>`)
  }
  parts.push(`<text x="${left + w / 2}" y="${top + h + 40}" font-size="13" text-anchor="middle">ms per image (onnxruntime, log scale)</text>`)
  parts.push(`<text x="${left - 48}" y="${top + h / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 ${left - 48} ${top + h / 2})">${esc(yLabel)}</text>`)
  for (const p of points) {
    const x = px(p.x)
    const y = py(p.y)
    if (p.err) parts.push(`<line x1="${x}" y1="${py(p.y - p.err)}" x2="${x}" y2="${py(p.y + p.err)}" stroke="${p.colour}" stroke-width="2"/>`)
    parts.push(`<circle cx="${x}" cy="${y}" r="5" fill="${p.colour}"/>`)
  }
  return parts.join('\n')
}

export function modelColours(models: readonly ModelResult[]): string[] {
  let ref = 0
  let oneStep = 0
  return models.map((m) => (m.kind === 'reference' ? REFERENCE_COLOURS[ref++ % REFERENCE_COLOURS.length]! : ONE_STEP_COLOURS[oneStep++ % ONE_STEP_COLOURS.length]!))
}

/** Points overlap at this scale (the one-step models sit together), so a legend names them. */
function legend(models: readonly ModelResult[], colours: string[]): string {
  const y = PANEL.top + PANEL.height + 72
  const slot = (WIDTH - 2 * PANEL.left[0]) / models.length
  return models.map((m, i) => {
    const x = PANEL.left[0] + i * slot
    return `<circle cx="${x + 6}" cy="${y - 4}" r="5" fill="${colours[i]}"/><text x="${x + 16}" y="${y}" font-size="12">${esc(m.label)}</text>`
  }).join('\n')
}

export function figureSvg(r: EvalResults): string {
  const models = r.models.filter((m) => m.time.ortMsPerImage > 0)
  const colours = modelColours(models)
  const alignment: Point[] = models.map((m, i) => ({ x: m.time.ortMsPerImage, y: m.alignment.mean, err: m.alignment.sd / Math.sqrt(m.alignment.n), label: m.label, colour: colours[i]! }))
  const fd: Point[] = models.map((m, i) => ({ x: m.time.ortMsPerImage, y: m.frechet, label: m.label, colour: colours[i]! }))
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    panel(PANEL.left[0], 'Alignment vs time per image', 'alignment (mean ± s.e.) ↑', alignment),
    panel(PANEL.left[1], 'Fréchet distance vs time per image', 'FD to real validation images ↓', fd),
    legend(models, colours),
    `<text x="${WIDTH / 2}" y="${HEIGHT - 8}" font-size="11" text-anchor="middle" fill="#666">${esc(`${r.models[0]!.images} images per model; ${r.quick ? 'QUICK SMOKE RUN; ' : ''}${r.createdAt.slice(0, 16).replace('T', ' ')} UTC`)}</text>`,
    '</svg>',
  ].join('\n')
}

export function renderSvgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' })
  return resvg.render().asPng()
}
