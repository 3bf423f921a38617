// Where each sample sits in a run's sample grid (ml/diffusion/image-grid.ts draws them: tiles of equal
// size in reading order, `gap` white pixels around each), so a click on a grid opens that one sample.

/** A rectangle of the image in its own pixels (a sample grid's cell). */
export interface ZoomCrop {
  x: number
  y: number
  width: number
  height: number
}

/**
 * The cell of a sample grid (ml/diffusion/image-grid.ts: tiles of equal size, `gap` white pixels around
 * each) at a point of the image, in the image's own pixels; null between cells or past the last image.
 */
export function gridCellAt(
  point: { x: number; y: number },
  grid: { width: number; count: number; columns: number; gap?: number },
): { index: number; crop: ZoomCrop } | null {
  const gap = grid.gap ?? 2
  const cols = Math.max(1, Math.min(grid.columns, grid.count))
  const tile = (grid.width - (cols + 1) * gap) / cols
  if (!(tile > 0)) return null
  const col = Math.floor((point.x - gap / 2) / (tile + gap))
  const row = Math.floor((point.y - gap / 2) / (tile + gap))
  if (col < 0 || col >= cols || row < 0) return null
  const index = row * cols + col
  if (index >= grid.count) return null
  return { index, crop: gridCellCrop(index, grid)! }
}

/** The rectangle of a sample grid's cell `index` (reading order), in the image's own pixels; null past the last. */
export function gridCellCrop(index: number, grid: { width: number; count: number; columns: number; gap?: number }): ZoomCrop | null {
  const gap = grid.gap ?? 2
  const cols = Math.max(1, Math.min(grid.columns, grid.count))
  const tile = (grid.width - (cols + 1) * gap) / cols
  if (!(tile > 0) || index < 0 || index >= grid.count) return null
  return { x: gap + (index % cols) * (tile + gap), y: gap + Math.floor(index / cols) * (tile + gap), width: tile, height: tile }
}
