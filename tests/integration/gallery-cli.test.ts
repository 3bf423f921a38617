// npm run generate as a user runs it: a real subprocess on a saved tiny model.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { ditParamShapes, paramsFromValues, type DitConfig } from '../../src-main/ml/diffusion/dit.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { DEFAULT_SCHEDULE } from '../../src-main/ml/diffusion/schedule.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { Gallery } from '../../src-main/core/gallery/gallery.ts'
import { parseSeeds } from '../../src-main/cli/generate.ts'
import { loadOnnxPackage } from '../../src-main/ml/onnx/model-package.ts'

const run = promisify(execFile)
const CLI = join(import.meta.dirname, '../../src-main/cli/generate.ts')
const TSX = join(import.meta.dirname, '../../node_modules/.bin/tsx')
let dir: string

before(async () => {
  await initTf()
  dir = await mkdtemp(join(tmpdir(), 'gallery-cli-'))
  const tokenizer = Tokenizer.build(['red apple', 'black cat'], { maxLength: 5 })
  const dit: DitConfig = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8, vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength }
  const rng = new Rng(2)
  const values: Record<string, Float32Array> = {}
  for (const [name, shape] of Object.entries(ditParamShapes(dit))) values[name] = Float32Array.from(rng.normals(shape.reduce((a, b) => a * b, 1)), (v) => v * 0.3)
  const model = new DiffusionModel(dit, DEFAULT_SCHEDULE, tokenizer, paramsFromValues(dit, values, false))
  await model.save(join(dir, 'model'))
  model.dispose()
  await writeFile(join(dir, 'prompts.txt'), '# emoji\nred apple\n\nblack cat\n')
})

after(async () => { await rm(dir, { recursive: true, force: true }) })

test('parseSeeds reads lists and ranges and refuses junk', () => {
  assert.deepEqual(parseSeeds('0-3,10, 12'), [0, 1, 2, 3, 10, 12])
  assert.throws(() => parseSeeds('5-1'), /backwards/)
  assert.throws(() => parseSeeds('a'), /not a number or a range/)
  assert.throws(() => parseSeeds(''), /no seeds/)
})

test('generate CLI writes PNGs with metadata and an index, with progress; bad arguments fail clearly', async () => {
  const out = join(dir, 'out')
  const { stdout, stderr } = await run(TSX, [CLI, '--model', join(dir, 'model'), '--prompts', join(dir, 'prompts.txt'), '--seeds', '0-2', '--out', out, '--steps', '3', '--cfg', '2', '--sampler', 'dpmpp-2m', '--batch', '4'])
  assert.match(stdout, /wrote 6 PNGs/)
  assert.match(stderr, /6\/6 100%/)
  assert.equal((await readdir(join(out, 'images'))).length, 6)
  const g = new Gallery(out)
  assert.equal((await g.open()).rebuilt, false)
  assert.deepEqual(g.list({ order: 'oldest' }).entries.map((e) => `${e.prompt}/${e.seed}/${e.sampler}/${e.steps}/${e.cfg}`),
    ['red apple/0/dpmpp-2m/3/2', 'red apple/1/dpmpp-2m/3/2', 'red apple/2/dpmpp-2m/3/2', 'black cat/0/dpmpp-2m/3/2', 'black cat/1/dpmpp-2m/3/2', 'black cat/2/dpmpp-2m/3/2'])

  // --export writes a standalone model folder that loads and verifies
  const exported = await run(TSX, [CLI, '--model', join(dir, 'model'), '--t-init', '399', '--export', join(dir, 'exported')])
  assert.match(exported.stdout, /exported model \(one-step generator, 8x8\)/)
  assert.equal((await loadOnnxPackage(join(dir, 'exported'))).manifest.tInit, 399)

  const fail = (args: string[]) => run(TSX, [CLI, ...args]).then(() => assert.fail('should have failed'), (e: { code: number; stderr: string }) => e)
  const noModel = await fail(['--prompts', join(dir, 'prompts.txt'), '--out', out])
  assert.equal(noModel.code, 1)
  assert.match(noModel.stderr, /--model is required/)
  assert.match((await fail(['--model', join(dir, 'nope'), '--prompts', join(dir, 'prompts.txt'), '--out', out])).stderr, /neither an ONNX model folder/)
  assert.match((await fail(['--model', join(dir, 'model'), '--prompts', join(dir, 'missing.txt'), '--out', out])).stderr, /--prompts: cannot read the prompt file .*missing\.txt \(ENOENT\)/i)
  assert.match((await fail(['--model', join(dir, 'model'), '--prompts', join(dir, 'prompts.txt'), '--out', out, '--sampler', 'euler'])).stderr, /--sampler must be ddim or dpmpp-2m/)
})
