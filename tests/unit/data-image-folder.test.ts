// Importing a folder of captioned images (ml/data/image-folder.ts) on a dataset the test draws itself:
// coloured shapes as PNG, JPEG, WebP and GIF, in the kohya layout and as a Hugging Face imagefolder
// (metadata.jsonl and metadata.csv). Counts, captions, the split and decoded pixels are checked against
// what was drawn; bad files are skipped with the report's reasons; nothing is written into the source
// folder; a cancelled or failed import leaves no dataset.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { splitDataset } from '../../src-main/ml/data/dataset.ts'
import {
  IMPORT_LIMITS, chooseValidation, importImageFolder, openImportedDataset, parseCsv, readDatasetManifest, readDatasetReport,
} from '../../src-main/ml/data/image-folder.ts'
import { SHAPE_COLOURS, drawShape, encodeShape, writeShapesDataset, type DrawnShape } from '../helpers/shapes-dataset.ts'
import { tempDir } from '../helpers/studio-fixtures.ts'

/** Every file below a folder with its size, mtime and content hash: to show an import changed nothing. */
async function snapshot(folder: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      const name = rel ? `${rel}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        out.set(`${name}/`, 'dir')
        await visit(path, name)
      } else {
        const info = await stat(path)
        out.set(name, `${info.size}:${info.mtimeMs}:${createHash('sha256').update(await readFile(path)).digest('hex')}`)
      }
    }
  }
  await visit(folder, '')
  return out
}

/** The decoded RGB (0..255) of one pixel of item `index`. */
function pixelOf(pixels: Float32Array, size: number, index: number, x: number, y: number): number[] {
  const at = index * size * size * 3 + (y * size + x) * 3
  return [0, 1, 2].map((c) => Math.round((pixels[at + c]! + 1) * 127.5))
}

function assertColour(actual: number[], expected: readonly number[], tolerance: number, what: string): void {
  const off = Math.max(...actual.map((v, c) => Math.abs(v - expected[c]!)))
  assert.ok(off <= tolerance, `${what}: got rgb(${actual.join(', ')}), drew rgb(${expected.join(', ')}) (off by ${off}, tolerance ${tolerance})`)
}

describe('importing a folder of captioned images', { timeout: 600_000 }, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>
  before(async () => (tmp = await tempDir('di-image-folder-')))
  after(() => tmp.remove())

  it('imports 240 drawn shapes in the kohya layout at 64 px: counts, captions, split and the pixels drawn', async () => {
    const source = join(tmp.path, 'kohya-shapes')
    const drawn = await writeShapesDataset(source, 240, 'kohya')
    const before = await snapshot(source)
    const target = join(tmp.path, 'workspace', 'datasets', 'shapes-64')
    const progress: number[] = []
    const { manifest, report } = await importImageFolder(source, target, { id: 'shapes-64', name: 'shapes', imageSize: 64, fit: 'crop', background: '#ffffff' }, {
      progress: (done) => progress.push(done),
    })
    assert.deepEqual(report.skipped, [])
    assert.equal(manifest.source.layout, 'kohya')
    assert.equal(manifest.counts.items, 240)
    assert.equal(manifest.counts.validation, 24) // 10 %
    assert.equal(manifest.counts.train, 216)
    assert.deepEqual(manifest.items.map((i) => i.file), drawn.map((d) => d.file)) // sorted by name, as drawn
    assert.deepEqual(manifest.items.map((i) => i.captions), drawn.map((d) => [d.caption]))
    assert.equal(manifest.sheets.count, 1) // 240 items fit one 16x16 sheet
    assert.ok(progress.length >= 240)
    // the statistics: "a red circle on the left" has 6 words; "a red circle" 3
    assert.equal(manifest.stats.words.min, 3)
    assert.equal(manifest.stats.words.max, 6)
    // the words, leaving out "a", "on" and "the": 'left' and 'right' are in two thirds of the captions
    assert.deepEqual(manifest.stats.topWords.map((w) => w.word).sort(), ['blue', 'circle', 'green', 'left', 'red', 'right', 'square', 'triangle', 'yellow'])
    assert.equal(manifest.stats.topWords.find((w) => w.word === 'left')!.count, drawn.filter((d) => d.position === 'left').length)

    const dataset = await openImportedDataset(target)
    const pixels = await dataset.loadPixels()
    for (const [i, d] of drawn.entries()) {
      // lossless formats keep the drawn colour exactly; JPEG (quality 95) within a few levels
      assertColour(pixelOf(pixels, 64, i, d.inside.x, d.inside.y), SHAPE_COLOURS[d.colour], d.format === 'jpg' ? 12 : 0, `${d.file} inside its ${d.shape}`)
      assertColour(pixelOf(pixels, 64, i, 2, 2), [255, 255, 255], d.format === 'jpg' ? 12 : 0, `${d.file} corner`)
    }
    // one data path: the splits hold each item once, in the manifest's split
    const { train, validation } = await splitDataset(dataset)
    assert.equal(train.items.length, 216)
    assert.equal(validation.items.length, 24)
    assert.equal(train.images.length, 216 * 64 * 64 * 3)
    assert.deepEqual(await snapshot(source), before, 'the import wrote nothing into the source folder')
    assert.deepEqual((await readdir(join(tmp.path, 'workspace', 'datasets'))).sort(), ['shapes-64'], 'no temporary folder is left')
  })

  it('imports the same shapes as an imagefolder (metadata.jsonl and metadata.csv) at 32 px with padding, transparency on the background colour', async () => {
    for (const layout of ['imagefolder-jsonl', 'imagefolder-csv'] as const) {
      const source = join(tmp.path, layout)
      const drawn = await writeShapesDataset(source, 48, layout, { transparent: true })
      const target = join(tmp.path, 'workspace', 'datasets', `${layout}-32`)
      const { manifest, report } = await importImageFolder(source, target, { id: layout, name: layout, imageSize: 32, fit: 'pad', background: '#000080' })
      assert.deepEqual(report.skipped, [], layout)
      assert.equal(manifest.source.layout, 'imagefolder')
      assert.equal(manifest.counts.items, 48)
      assert.equal(manifest.counts.validation, 5)
      assert.equal(manifest.notes.hadAlpha, drawn.filter((d) => d.format !== 'jpg').length, 'JPEG has no alpha; the others were drawn see-through')
      assert.deepEqual(manifest.items.map((i) => i.captions[0]), drawn.map((d) => d.caption))
      const pixels = await (await openImportedDataset(target)).loadPixels()
      for (const [i, d] of drawn.entries()) {
        // halved (Lanczos-3 reaches a few pixels out, so the shape's edges shift its inside a little)
        assertColour(pixelOf(pixels, 32, i, d.inside.x / 2, d.inside.y / 2), SHAPE_COLOURS[d.colour], d.format === 'jpg' ? 20 : 10, `${layout} ${d.file}`)
        // transparent pixels take the background colour (JPEG was flattened on white when drawn)
        assertColour(pixelOf(pixels, 32, i, 1, 1), d.format === 'jpg' ? [255, 255, 255] : [0, 0, 128], d.format === 'jpg' ? 16 : 3, `${layout} ${d.file} corner`)
      }
    }
  })

  it('crops non-square images to their centre, or pads them with the background colour', async () => {
    const source = join(tmp.path, 'wide')
    await mkdir(source, { recursive: true })
    // 128x64: left half red, right half blue, with a green band in the middle quarter
    const raw = Buffer.alloc(128 * 64 * 3)
    for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) raw.set(x >= 48 && x < 80 ? [0, 200, 0] : x < 64 ? [200, 0, 0] : [0, 0, 200], (y * 128 + x) * 3)
    const sharp = (await import('sharp')).default
    await writeFile(join(source, 'wide.png'), await sharp(raw, { raw: { width: 128, height: 64, channels: 3 } }).png().toBuffer())
    await writeFile(join(source, 'wide.txt'), 'a wide picture')
    const crop = await importImageFolder(source, join(tmp.path, 'ws2', 'crop'), { id: 'crop', name: 'crop', imageSize: 32, fit: 'crop', background: '#ffffff' })
    const pad = await importImageFolder(source, join(tmp.path, 'ws2', 'pad'), { id: 'pad', name: 'pad', imageSize: 32, fit: 'pad', background: '#ffffff' })
    assert.equal(crop.manifest.notes.nonSquare, 1)
    const cropped = await (await openImportedDataset(join(tmp.path, 'ws2', 'crop'))).loadPixels()
    const padded = await (await openImportedDataset(join(tmp.path, 'ws2', 'pad'))).loadPixels()
    // crop keeps the middle 64x64 (x 32..95): red, green, blue across; top and bottom rows are picture
    assertColour(pixelOf(cropped, 32, 0, 2, 0), [200, 0, 0], 3, 'crop, left edge')
    assertColour(pixelOf(cropped, 32, 0, 16, 16), [0, 200, 0], 3, 'crop, centre')
    assertColour(pixelOf(cropped, 32, 0, 29, 31), [0, 0, 200], 3, 'crop, right edge')
    // pad keeps the whole picture in the middle 32x16, white above and below
    assertColour(pixelOf(padded, 32, 0, 16, 0), [255, 255, 255], 0, 'pad, top margin')
    assertColour(pixelOf(padded, 32, 0, 16, 31), [255, 255, 255], 0, 'pad, bottom margin')
    assertColour(pixelOf(padded, 32, 0, 2, 16), [200, 0, 0], 3, 'pad, left')
    assertColour(pixelOf(padded, 32, 0, 16, 16), [0, 200, 0], 3, 'pad, centre')
  })

  it('skips bad files with their reasons and imports the rest', async () => {
    const source = join(tmp.path, 'bad')
    const drawn = await writeShapesDataset(source, 12, 'kohya')
    const png = (d: DrawnShape) => readFile(join(source, d.file))
    const good = drawn.filter((d) => d.format === 'png')
    // a truncated PNG (the first half of a good one, with its own caption)
    await writeFile(join(source, 'truncated.png'), (await encodeShape(drawShape('circle', 'red', 'left', 11), 'png')).subarray(0, 200))
    await writeFile(join(source, 'truncated.txt'), 'a red circle on the left')
    // a text file named .png
    await writeFile(join(source, 'not-really.png'), 'this is a text file, not a picture\n')
    await writeFile(join(source, 'not-really.txt'), 'a picture that is not one')
    // an empty caption (whitespace only)
    await writeFile(join(source, 'empty-caption.png'), await encodeShape(drawShape('square', 'blue', 'right', 9, false), 'png'))
    await writeFile(join(source, 'empty-caption.txt'), '  \n\n')
    // a duplicate of a good image under another name
    await writeFile(join(source, 'zz-copy.png'), await png(good[0]!))
    await writeFile(join(source, 'zz-copy.txt'), 'the same picture again')
    // a file over the size limit
    await writeFile(join(source, 'huge.png'), Buffer.alloc(IMPORT_LIMITS.maxFileBytes + 1, 7))
    await writeFile(join(source, 'huge.txt'), 'a big one')
    // an image without a caption, a caption without an image, a file that is no image, a hidden file
    await writeFile(join(source, 'no-caption.png'), await encodeShape(drawShape('triangle', 'green', 'middle', 12), 'png'))
    await writeFile(join(source, 'orphan.txt'), 'a caption for nothing')
    await writeFile(join(source, 'notes.pdf'), '%PDF-1.4')
    await writeFile(join(source, '.DS_Store'), 'mac')
    const before = await snapshot(source)

    const target = join(tmp.path, 'ws3', 'bad')
    const { manifest, report } = await importImageFolder(source, target, { id: 'bad', name: 'bad', imageSize: 32, fit: 'crop', background: '#ffffff' })
    assert.equal(manifest.counts.items, 12, 'the 12 good images')
    const reasons = Object.fromEntries(report.skipped.map((s) => [s.file, s.reason]))
    assert.match(reasons['truncated.png']!, /^corrupt or truncated image/)
    assert.match(reasons['not-really.png']!, /^not an image: the contents are not PNG, JPEG, WebP or GIF/)
    assert.equal(reasons['empty-caption.png'], 'empty caption (empty-caption.txt)')
    assert.equal(reasons['zz-copy.png'], `duplicate of ${good[0]!.file} (same bytes)`)
    assert.equal(reasons['huge.png'], 'file is 20 MB, over the 20 MB limit')
    assert.equal(reasons['no-caption.png'], 'no caption: no-caption.txt is missing')
    assert.equal(reasons['orphan.txt'], 'caption file without an image of the same name')
    assert.equal(reasons['notes.pdf'], 'not an image file (.pdf); PNG, JPEG, WebP and GIF are read')
    assert.equal(reasons['.DS_Store'], 'hidden file (ignored)')
    assert.equal(report.skipped.length, 9)
    assert.equal(manifest.counts.skipped, 9)
    assert.deepEqual(await readDatasetReport(target), report, 'report.json holds the same report')
    assert.deepEqual(await snapshot(source), before, 'the import wrote nothing into the source folder')
  })

  it('reports imagefolder metadata problems: a row naming no file, a bad line, an image no row names', async () => {
    const source = join(tmp.path, 'meta-bad')
    const drawn = await writeShapesDataset(source, 6, 'imagefolder-jsonl')
    const lines = (await readFile(join(source, 'metadata.jsonl'), 'utf8')).trim().split('\n').slice(0, 5) // the 6th image loses its row
    lines.push('{"file_name": "gone.png", "text": "a file that is not there"}', '{not json', '{"file_name": "../outside.png", "text": "x"}', JSON.stringify({ file_name: drawn[0]!.file, text: 'a second caption' }))
    await writeFile(join(source, 'metadata.jsonl'), lines.join('\n'))
    const { manifest, report } = await importImageFolder(source, join(tmp.path, 'ws4', 'm'), { id: 'm', name: 'm', imageSize: 32, fit: 'crop', background: '#ffffff' })
    assert.equal(manifest.counts.items, 5)
    assert.deepEqual(manifest.items[0]!.captions, [drawn[0]!.caption, 'a second caption'], 'a file on two rows has two captions')
    const reasons = Object.fromEntries(report.skipped.map((s) => [s.file, s.reason]))
    assert.equal(reasons[drawn[5]!.file], 'no caption: not named in metadata.jsonl')
    assert.equal(reasons['gone.png'], 'named in metadata.jsonl (line 6) but there is no such file')
    assert.equal(reasons['metadata.jsonl:7'], 'line is not valid JSON')
    assert.equal(reasons['metadata.jsonl:8'], 'file_name "../outside.png" points outside the folder')
  })

  it('a cancelled import, or one with no usable image, leaves no dataset and no temporary folder', async () => {
    const source = join(tmp.path, 'cancel')
    await writeShapesDataset(source, 20, 'kohya')
    const root = join(tmp.path, 'ws5', 'datasets')
    let seen = 0
    await assert.rejects(
      importImageFolder(source, join(root, 'c'), { id: 'c', name: 'c', imageSize: 32, fit: 'crop', background: '#ffffff' }, {
        checkpoint: async () => {
          if (++seen > 10) throw new Error('Job cancelled')
        },
      }),
      /Job cancelled/,
    )
    assert.deepEqual(await readdir(root), [])
    const junk = join(tmp.path, 'junk')
    await mkdir(junk)
    await writeFile(join(junk, 'a.png'), 'not a png')
    await writeFile(join(junk, 'a.txt'), 'caption')
    await assert.rejects(importImageFolder(junk, join(root, 'j'), { id: 'j', name: 'j', imageSize: 32, fit: 'crop', background: '#ffffff' }), /No usable image in .*1 file skipped \(not an image: the contents are not PNG, JPEG, WebP or GIF\)/)
    assert.deepEqual(await readdir(root), [])
    await rm(junk, { recursive: true })
  })

  it('parses CSV with quotes, and splits by content hash whatever the order', async () => {
    assert.deepEqual(parseCsv('file_name,text\r\na.png,"a ""red"", round\nthing"\nb.png,plain\n'), [['file_name', 'text'], ['a.png', 'a "red", round\nthing'], ['b.png', 'plain']])
    const hashes = Array.from({ length: 50 }, (_, i) => createHash('sha256').update(String(i)).digest('hex'))
    const splits = chooseValidation(hashes)
    assert.equal(splits.filter((s) => s === 'validation').length, 5)
    const reversed = chooseValidation([...hashes].reverse()).reverse()
    assert.deepEqual(reversed, splits)
    assert.deepEqual(chooseValidation(['a']), ['train'])
    assert.deepEqual(chooseValidation(['b', 'a']), ['train', 'validation'])
  })

  it('the manifest is read back with its schema', async () => {
    const manifest = await readDatasetManifest(join(tmp.path, 'workspace', 'datasets', 'shapes-64'))
    assert.equal(manifest.format, 'di-studio-dataset')
    assert.equal(manifest.pixels.bytes, 240 * 64 * 64 * 3)
  })
})
