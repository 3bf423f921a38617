// The eval's sample sheets: rows labelled with their prompt in the bitmap font, tiles where the layout
// says, the side-by-side sheet's model headers; and the font's normalisation and wrapping.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PNG } from 'pngjs'
import { glyphInk, normaliseForFont, wrapText } from '../../src-main/eval/bitmap-font.ts'
import { modelSheet, sheetLayout, sideBySideSheet, SheetCanvas } from '../../src-main/eval/sheets.ts'

const SIZE = 32

/** count solid-colour images: image i has value (i * 0.3 - 0.9) in every channel... per channel distinct */
function solid(count: number, seed = 0) {
  const pixels = new Float32Array(count * SIZE * SIZE * 3)
  for (let i = 0; i < count; i++) {
    const v = [((i + seed) % 5) * 0.4 - 0.9, -0.5, 0.2]
    for (let p = 0; p < SIZE * SIZE; p++) for (let c = 0; c < 3; c++) pixels[(i * SIZE * SIZE + p) * 3 + c] = v[c]!
  }
  return { pixels, count, size: SIZE }
}

const byte = (v: number) => Math.round(v * 127.5 + 127.5)

/** dark pixels in a rectangle of a decoded PNG */
function ink(png: PNG, x0: number, y0: number, w: number, h: number): number {
  let n = 0
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (png.data[(y * png.width + x) * 4]! < 128) n++
  return n
}

describe('bitmap font', () => {
  it('draws capitals for lower case, strips accents and marks unknown characters', () => {
    assert.equal(normaliseForFont('piñata, café & crème: 1/2'), 'PINATA, CAFE & CREME: 1/2')
    assert.equal(normaliseForFont('“ok” – ✈'), '"OK" - ?')
    assert.ok(glyphInk('A', 2, 0) && !glyphInk('A', 0, 0))
    assert.ok(!glyphInk(' ', 2, 3))
  })

  it('wraps at spaces, cuts long words and ends truncated text with "..."', () => {
    assert.deepEqual(wrapText('red apple, twitter style', 10, 3), ['red apple,', 'twitter', 'style'])
    assert.deepEqual(wrapText('abcdefghijklmno', 6, 3), ['abcdef', 'ghijkl', 'mno'])
    assert.deepEqual(wrapText('one two three four five six', 9, 2), ['one two', 'three...'])
    assert.deepEqual(wrapText('', 8, 2), [])
  })
})

describe('sample sheets', () => {
  it('puts each prompt label beside its row and the images where the layout says', () => {
    const seeds = 2
    const prompts = ['red apple, twitter style', 'grinning face, google style', 'flag: japan']
    const images = solid(prompts.length * seeds)
    const png = PNG.sync.read(modelSheet(images, seeds, prompts))
    const layout = sheetLayout(SIZE, prompts.length, seeds, false)
    assert.deepEqual([png.width, png.height], [layout.width, layout.height])
    for (let r = 0; r < prompts.length; r++) {
      const { y } = layout.at(r, 0)
      assert.ok(ink(png, 0, y, layout.labelWidth, layout.tile) > 50, `row ${r} has a label`)
      for (let c = 0; c < seeds; c++) {
        const at = layout.at(r, c)
        const i = r * seeds + c
        const d = ((at.y + 5) * png.width + at.x + 5) * 4
        assert.deepEqual([png.data[d], png.data[d + 1], png.data[d + 2]], [byte(images.pixels[i * SIZE * SIZE * 3]!), byte(-0.5), byte(0.2)], `tile ${r},${c}`)
      }
    }
    // different text, different pixels in the label column
    const other = PNG.sync.read(modelSheet(images, seeds, ['x', 'y', 'z']))
    assert.notDeepEqual(png.data, other.data)
  })

  it('shows at most the first prompts, and all models side by side under their names', () => {
    const prompts = Array.from({ length: 20 }, (_, i) => `prompt ${i}`)
    const sets = [solid(40, 0), solid(40, 1), solid(40, 2)]
    const png = PNG.sync.read(sideBySideSheet(sets, 2, prompts, ['Reference 50 steps', 'One-step, init', 'One-step, DI*']))
    const layout = sheetLayout(SIZE, 16, 3, true)
    assert.deepEqual([png.width, png.height], [layout.width, layout.height])
    for (let c = 0; c < 3; c++) assert.ok(ink(png, layout.at(0, c).x, 0, layout.tile, layout.headerHeight) > 20, `column ${c} has a header`)
    // row 1 shows prompt 1's first seed (image 2) of each model
    const at = layout.at(1, 2)
    assert.equal(png.data[((at.y + 3) * png.width + at.x + 3) * 4], byte(sets[2]!.pixels[2 * SIZE * SIZE * 3]!))
    assert.throws(() => sideBySideSheet(sets, 2, prompts, ['only one']), /model labels/)
  })

  it('clips text at the canvas edge', () => {
    const canvas = new SheetCanvas(20, 10)
    canvas.text('WWWWWWWW', 5, 5, 2)
    assert.ok(PNG.sync.read(canvas.encode()).width === 20)
  })
})
