// Sample sheets: one per model (rows: prompts, columns: seeds) and one of every model side by side
// (rows: prompts, columns: models, first seed), written with the sample-grid PNG helper.
import { encodeImageGrid } from '../ml/diffusion/image-grid.ts'
import type { ImageBatch } from './scoring.ts'

/** Prompts shown on a sheet: the first ones of the plan (images are prompt-major). */
export const SHEET_PROMPTS = 16
const SCALE = 3

export function modelSheet(images: ImageBatch, seedsPerPrompt: number, prompts = SHEET_PROMPTS): Buffer {
  const rows = Math.min(prompts, Math.floor(images.count / seedsPerPrompt))
  return encodeImageGrid(images.pixels, rows * seedsPerPrompt, images.size, { columns: seedsPerPrompt, scale: SCALE })
}

export function sideBySideSheet(sets: ImageBatch[], seedsPerPrompt: number, prompts = SHEET_PROMPTS): Buffer {
  const size = sets[0]!.size
  const per = size * size * 3
  const rows = Math.min(prompts, Math.floor(sets[0]!.count / seedsPerPrompt))
  const out = new Float32Array(rows * sets.length * per)
  for (let r = 0; r < rows; r++) {
    sets.forEach((set, c) => {
      const src = r * seedsPerPrompt * per
      out.set(set.pixels.subarray(src, src + per), (r * sets.length + c) * per)
    })
  }
  return encodeImageGrid(out, rows * sets.length, size, { columns: sets.length, scale: SCALE })
}
