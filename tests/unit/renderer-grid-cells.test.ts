// A click on a run's sample grid opens the sample under it: the renderer's cell geometry must match the
// grids ml/diffusion/image-grid.ts writes. Checked on a real encoded grid whose tiles each have a colour.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PNG } from 'pngjs'
import { encodeImageGrid } from '../../src-main/ml/diffusion/image-grid.ts'
import { gridCellAt, gridCellCrop } from '../../src-renderer/src/lib/grid-cells.ts'

describe('sample grid cells', () => {
  const size = 4
  const count = 11
  const columns = 4
  // tile i is filled with the grey level -1 + i * 0.15 (distinct for every tile)
  const images = new Float32Array(count * size * size * 3)
  for (let i = 0; i < count; i++) images.fill(-1 + i * 0.15, i * size * size * 3, (i + 1) * size * size * 3)
  const png = PNG.sync.read(encodeImageGrid(images, count, size, { columns }))
  const grid = { width: png.width, count, columns }
  const pixel = (x: number, y: number) => png.data[(y * png.width + x) * 4]!

  it('finds every tile exactly where the grid drew it', () => {
    for (let i = 0; i < count; i++) {
      const crop = gridCellCrop(i, grid)!
      const expected = Math.round(images[i * size * size * 3]! * 127.5 + 127.5)
      for (const [dx, dy] of [[0, 0], [crop.width - 1, 0], [0, crop.height - 1], [crop.width - 1, crop.height - 1]]) {
        assert.equal(pixel(crop.x + dx!, crop.y + dy!), expected, `tile ${i} corner ${dx},${dy}`)
      }
      // the white gap just outside the tile
      assert.equal(pixel(crop.x - 1, crop.y), 255)
    }
  })

  it('maps a click to the tile under it, and past the last image to nothing', () => {
    const third = gridCellCrop(6, grid)!
    assert.equal(gridCellAt({ x: third.x + 3, y: third.y + 2 }, grid)?.index, 6)
    const last = gridCellCrop(count - 1, grid)!
    assert.equal(gridCellAt({ x: last.x + last.width + 4, y: last.y + 1 }, grid), null, 'the empty place after the last sample')
    assert.equal(gridCellCrop(count, grid), null)
  })
})
