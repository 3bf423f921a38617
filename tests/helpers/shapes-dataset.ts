// A dataset the tests draw themselves: coloured circles, squares and triangles on the left, in the
// middle or on the right of a 64x64 picture, captioned "a red circle on the left" and so on, written as
// PNG, JPEG, WebP and GIF with sharp in either import layout (kohya .txt files or imagefolder metadata).
// Each shape's size varies with its index, so no two files are the same bytes.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'

export const SHAPE_COLOURS = { red: [220, 30, 30], green: [30, 170, 60], blue: [30, 60, 220], yellow: [240, 200, 20] } as const
export const SHAPES = ['circle', 'square', 'triangle'] as const
export const POSITIONS = { left: 18, middle: 32, right: 46 } as const
export const SHAPE_FORMATS = ['png', 'jpg', 'webp', 'gif'] as const
export const SHAPE_SIZE = 64

export type ShapeColour = keyof typeof SHAPE_COLOURS
export type Shape = (typeof SHAPES)[number]
export type Position = keyof typeof POSITIONS
export type ShapeFormat = (typeof SHAPE_FORMATS)[number]

export interface DrawnShape {
  /** File name relative to the folder. */
  file: string
  caption: string
  colour: ShapeColour
  shape: Shape
  position: Position
  format: ShapeFormat
  /** A pixel well inside the shape (x, y in the 64x64 picture). */
  inside: { x: number; y: number }
  /** The shape's half-size in pixels. */
  radius: number
  /** Its centre's row. */
  cy: number
}

/** RGBA pixels of one shape on a white (or, with `transparent`, see-through) background. */
export function drawShape(shape: Shape, colour: ShapeColour, position: Position, radius: number, transparent = false, cy = 32): Buffer {
  const size = SHAPE_SIZE
  const out = Buffer.alloc(size * size * 4)
  const cx = POSITIONS[position]
  const [r, g, b] = SHAPE_COLOURS[colour]
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = x + 0.5 - cx
      const dy = y + 0.5 - cy
      let on: boolean
      if (shape === 'circle') on = dx * dx + dy * dy <= radius * radius
      else if (shape === 'square') on = Math.abs(dx) <= radius && Math.abs(dy) <= radius
      else on = dy >= -radius && dy <= radius && Math.abs(dx) <= ((dy + radius) / (2 * radius)) * radius
      const p = (y * size + x) * 4
      if (on) out.set([r, g, b, 255], p)
      else out.set(transparent ? [0, 0, 0, 0] : [255, 255, 255, 255], p)
    }
  }
  return out
}

export function shapeCaption(s: { colour: ShapeColour; shape: Shape; position: Position }): string {
  return s.position === 'middle' ? `a ${s.colour} ${s.shape}` : `a ${s.colour} ${s.shape} on the ${s.position}`
}

export async function encodeShape(rgba: Buffer, format: ShapeFormat): Promise<Buffer> {
  const img = sharp(rgba, { raw: { width: SHAPE_SIZE, height: SHAPE_SIZE, channels: 4 } })
  if (format === 'png') return img.png().toBuffer()
  if (format === 'jpg') return img.flatten({ background: '#ffffff' }).jpeg({ quality: 95 }).toBuffer()
  if (format === 'webp') return img.webp({ lossless: true }).toBuffer()
  return img.gif().toBuffer()
}

/** The shapes of a dataset of `count` images: every colour, shape and position in turn, formats cycling. */
export function planShapes(count: number): DrawnShape[] {
  const colours = Object.keys(SHAPE_COLOURS) as ShapeColour[]
  const positions = Object.keys(POSITIONS) as Position[]
  const out: DrawnShape[] = []
  for (let i = 0; i < count; i++) {
    const colour = colours[i % colours.length]!
    const shape = SHAPES[Math.floor(i / colours.length) % SHAPES.length]!
    const position = positions[Math.floor(i / (colours.length * SHAPES.length)) % positions.length]!
    const format = SHAPE_FORMATS[i % SHAPE_FORMATS.length]!
    // sizes 8..13 and rows 30..36 (no shape leaves the picture): with colour, shape and position, every file differs
    const radius = 8 + (Math.floor(i / 36) % 6)
    const cy = 30 + 2 * (Math.floor(i / 216) % 4)
    const file = `shape-${String(i).padStart(4, '0')}.${format}`
    out.push({ file, caption: shapeCaption({ colour, shape, position }), colour, shape, position, format, inside: { x: POSITIONS[position], y: cy + 2 }, radius, cy })
  }
  return out
}

/** Writes the shapes into `folder` in a layout; returns what was drawn. */
export async function writeShapesDataset(folder: string, count: number, layout: 'kohya' | 'imagefolder-jsonl' | 'imagefolder-csv', opts: { transparent?: boolean } = {}): Promise<DrawnShape[]> {
  await mkdir(folder, { recursive: true })
  const shapes = planShapes(count)
  for (const s of shapes) {
    await writeFile(join(folder, s.file), await encodeShape(drawShape(s.shape, s.colour, s.position, s.radius, opts.transparent, s.cy), s.format))
    if (layout === 'kohya') await writeFile(join(folder, s.file.replace(/\.\w+$/, '.txt')), `${s.caption}\n`)
  }
  if (layout === 'imagefolder-jsonl') await writeFile(join(folder, 'metadata.jsonl'), shapes.map((s) => JSON.stringify({ file_name: s.file, text: s.caption })).join('\n') + '\n')
  if (layout === 'imagefolder-csv') await writeFile(join(folder, 'metadata.csv'), ['file_name,text', ...shapes.map((s) => `${s.file},"${s.caption.replace(/"/g, '""')}"`)].join('\r\n') + '\r\n')
  return shapes
}
