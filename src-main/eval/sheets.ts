// Sample sheets: one per model (rows: prompts, columns: seeds) and one of every model side by side
// (rows: prompts, columns: models, first seed). Each row is labelled with its prompt, and the
// side-by-side sheet's columns with the model, in a small bitmap font (bitmap-font.ts).
import { PNG } from 'pngjs'
import { CHAR_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, LINE_HEIGHT, glyphInk, normaliseForFont, wrapText } from './bitmap-font.ts'
import type { ImageBatch } from './scoring.ts'

/** Prompts shown on a sheet: the first ones of the plan (images are prompt-major). */
export const SHEET_PROMPTS = 16
const SCALE = 3
const GAP = 2
/** Characters per line of a row's prompt label. */
const LABEL_CHARS = 22
const PAD = 4
const INK: readonly [number, number, number] = [40, 40, 40]

/** An RGBA canvas on white with the two things a sheet draws: image tiles and text. */
export class SheetCanvas {
  readonly png: PNG

  constructor(readonly width: number, readonly height: number) {
    this.png = new PNG({ width, height })
    this.png.data.fill(255)
  }

  /** Image `index` of an NHWC batch in [-1, 1], upscaled `scale` times (nearest), top-left at (x, y). */
  tile(pixels: Float32Array, index: number, size: number, x: number, y: number, scale: number): void {
    const base = index * size * size * 3
    for (let ty = 0; ty < size * scale; ty++) {
      for (let tx = 0; tx < size * scale; tx++) {
        const src = base + (Math.floor(ty / scale) * size + Math.floor(tx / scale)) * 3
        const dst = ((y + ty) * this.width + x + tx) * 4
        for (let c = 0; c < 3; c++) this.png.data[dst + c] = Math.round(Math.min(1, Math.max(-1, pixels[src + c]!)) * 127.5 + 127.5)
      }
    }
  }

  /** One line of text, font pixels `scale` screen pixels wide, top-left at (x, y); clipped to the canvas. */
  text(line: string, x: number, y: number, scale: number, colour: readonly [number, number, number] = INK): void {
    const chars = normaliseForFont(line)
    for (let i = 0; i < chars.length; i++) {
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (!glyphInk(chars[i]!, gx, gy)) continue
          for (let sy = 0; sy < scale; sy++) {
            for (let sx = 0; sx < scale; sx++) {
              const px = x + (i * CHAR_ADVANCE + gx) * scale + sx
              const py = y + gy * scale + sy
              if (px < 0 || py < 0 || px >= this.width || py >= this.height) continue
              const d = (py * this.width + px) * 4
              this.png.data[d] = colour[0]
              this.png.data[d + 1] = colour[1]
              this.png.data[d + 2] = colour[2]
            }
          }
        }
      }
    }
  }

  /** Wrapped text in a box of `maxChars` characters by `height` pixels. */
  textBox(text: string, x: number, y: number, maxChars: number, height: number, scale: number): void {
    const lines = wrapText(text, maxChars, Math.max(1, Math.floor((height + 2 * scale) / (LINE_HEIGHT * scale))))
    lines.forEach((line, i) => this.text(line, x, y + i * LINE_HEIGHT * scale, scale))
  }

  encode(): Buffer {
    return PNG.sync.write(this.png)
  }
}

/** Where a sheet puts things: a label column, an optional header row, then a grid of tiles. */
export interface SheetLayout {
  tile: number
  labelWidth: number
  headerHeight: number
  textScale: number
  width: number
  height: number
  /** top-left corner of the tile in row r, column c */
  at(r: number, c: number): { x: number; y: number }
}

export function sheetLayout(size: number, rows: number, columns: number, header: boolean): SheetLayout {
  const tile = size * SCALE
  // two-pixel font for tiles tall enough for two lines of it, else one-pixel
  const textScale = tile >= 2 * LINE_HEIGHT * 2 ? 2 : 1
  const labelWidth = LABEL_CHARS * CHAR_ADVANCE * textScale + 2 * PAD
  const headerHeight = header ? 3 * LINE_HEIGHT + PAD : 0
  const width = labelWidth + columns * tile + (columns + 1) * GAP
  const height = headerHeight + rows * tile + (rows + 1) * GAP
  return {
    tile, labelWidth, headerHeight, textScale, width, height,
    at: (r, c) => ({ x: labelWidth + GAP + c * (tile + GAP), y: headerHeight + GAP + r * (tile + GAP) }),
  }
}

function rowLabels(canvas: SheetCanvas, layout: SheetLayout, labels: readonly string[]): void {
  labels.forEach((label, r) => {
    const { y } = layout.at(r, 0)
    canvas.textBox(label, PAD, y + 1, LABEL_CHARS, layout.tile, layout.textScale)
  })
}

/**
 * One model's sheet: the first `maxPrompts` prompts of the plan as rows (labelled with `prompts[r]`,
 * the distinct prompts in plan order), their seeds as columns.
 */
export function modelSheet(images: ImageBatch, seedsPerPrompt: number, prompts: readonly string[], maxPrompts = SHEET_PROMPTS): Buffer {
  const rows = Math.min(maxPrompts, Math.floor(images.count / seedsPerPrompt), prompts.length)
  const layout = sheetLayout(images.size, rows, seedsPerPrompt, false)
  const canvas = new SheetCanvas(layout.width, layout.height)
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < seedsPerPrompt; c++) {
      const { x, y } = layout.at(r, c)
      canvas.tile(images.pixels, r * seedsPerPrompt + c, images.size, x, y, SCALE)
    }
  }
  rowLabels(canvas, layout, prompts.slice(0, rows))
  return canvas.encode()
}

/** Every model side by side (columns, headed by `models`), first seed of each prompt (rows, labelled). */
export function sideBySideSheet(sets: ImageBatch[], seedsPerPrompt: number, prompts: readonly string[], models: readonly string[], maxPrompts = SHEET_PROMPTS): Buffer {
  if (models.length !== sets.length) throw new Error(`sideBySideSheet: ${sets.length} image sets but ${models.length} model labels`)
  const size = sets[0]!.size
  const rows = Math.min(maxPrompts, Math.floor(sets[0]!.count / seedsPerPrompt), prompts.length)
  const layout = sheetLayout(size, rows, sets.length, true)
  const canvas = new SheetCanvas(layout.width, layout.height)
  models.forEach((label, c) => {
    const { x } = layout.at(0, c)
    canvas.textBox(label, x, 2, Math.max(4, Math.floor(layout.tile / CHAR_ADVANCE)), layout.headerHeight - 2, 1)
  })
  for (let r = 0; r < rows; r++) {
    sets.forEach((set, c) => {
      const { x, y } = layout.at(r, c)
      canvas.tile(set.pixels, r * seedsPerPrompt, size, x, y, SCALE)
    })
  }
  rowLabels(canvas, layout, prompts.slice(0, rows))
  return canvas.encode()
}
