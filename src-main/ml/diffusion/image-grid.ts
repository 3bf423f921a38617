// Writes a batch of NHWC images in [-1, 1] as one PNG contact sheet (pngjs), for sample grids.
import { PNG } from 'pngjs'
import { atomicWriteFile } from '../../util/atomic-write.ts'

export interface GridOptions {
  columns: number
  /** integer nearest-neighbour upscale of each tile (32 px tiles are tiny on screen) */
  scale?: number
  /** gap between tiles in output pixels, filled white */
  gap?: number
}

export function encodeImageGrid(images: Float32Array, count: number, size: number, opts: GridOptions): Buffer {
  const scale = opts.scale ?? 2
  const gap = opts.gap ?? 2
  const cols = Math.max(1, Math.min(opts.columns, count))
  const rows = Math.ceil(count / cols)
  if (images.length < count * size * size * 3) throw new Error(`image grid: ${images.length} values for ${count} images of ${size}x${size}x3`)
  const tile = size * scale
  const png = new PNG({ width: cols * tile + (cols + 1) * gap, height: rows * tile + (rows + 1) * gap })
  png.data.fill(255)
  for (let i = 0; i < count; i++) {
    const ox = gap + (i % cols) * (tile + gap)
    const oy = gap + Math.floor(i / cols) * (tile + gap)
    for (let y = 0; y < tile; y++) {
      for (let x = 0; x < tile; x++) {
        const src = ((i * size + Math.floor(y / scale)) * size + Math.floor(x / scale)) * 3
        const dst = ((oy + y) * png.width + ox + x) * 4
        for (let c = 0; c < 3; c++) png.data[dst + c] = Math.round(Math.min(1, Math.max(-1, images[src + c]!)) * 127.5 + 127.5)
        png.data[dst + 3] = 255
      }
    }
  }
  return PNG.sync.write(png)
}

export async function writeImageGrid(path: string, images: Float32Array, count: number, size: number, opts: GridOptions): Promise<void> {
  await atomicWriteFile(path, encodeImageGrid(images, count, size, opts))
}
