// Import of a user's ONNX one-step generator: the documented signature is accepted (with and without
// a tokens input), and every kind of wrong file is refused with a message naming what differs.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OnnxGraphBuilder, type Dim, type ElemType } from '../../src-main/ml/onnx/graph-builder.ts'
import { importOnnxGenerator, loadOnnxPackage } from '../../src-main/ml/onnx/model-package.ts'
import { OnnxInference } from '../../src-main/ml/onnx/inference.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'

let dir: string
const inference = new OnnxInference({ threads: 1 })
const tokenizer = Tokenizer.build(['red apple', 'black cat'], { maxLength: 4 })

before(async () => { dir = await mkdtemp(join(tmpdir(), 'onnx-import-')) })
after(async () => {
  await inference.dispose()
  await rm(dir, { recursive: true, force: true })
})

interface GraphSpec {
  z?: { name?: string; type?: ElemType; shape?: Dim[] }
  tokens?: { type?: ElemType; shape?: Dim[] } | false
  outName?: string
  /** reshape the output to this shape (wrong shapes show up only at run time) */
  outReshape?: number[]
}

/** x0 = tanh(z) + 0.1 * mean(tokens) (so both inputs are used), with optional mistakes. */
function graph(spec: GraphSpec = {}): Uint8Array {
  const g = new OnnxGraphBuilder('user_generator')
  const z = g.input(spec.z?.name ?? 'z', spec.z?.type ?? 'float32', spec.z?.shape ?? ['B', 8, 8, 3])
  let x0 = g.op1('Tanh', [z])
  if (spec.tokens !== false) {
    const tokens = g.input('tokens', spec.tokens?.type ?? 'int32', spec.tokens?.shape ?? ['B', 4])
    const mean = g.op1('ReduceMean', [g.op1('Cast', [tokens], { to: 1 })], { keepdims: 0 })
    x0 = g.op1('Add', [x0, g.op1('Mul', [mean, g.scalar(0.1)])])
  }
  if (spec.outReshape) x0 = g.op1('Reshape', [x0, g.int64s(spec.outReshape)])
  g.output(x0, spec.outName ?? 'x0', 'float32', ['B', 8, 8, 3])
  return g.encode()
}

async function importBytes(name: string, bytes: Uint8Array | string, withTokenizer = true) {
  const path = join(dir, `${name}.onnx`)
  await writeFile(path, bytes)
  return importOnnxGenerator(path, join(dir, `pkg-${name}`), { name, ...(withTokenizer ? { tokenizer } : {}) })
}

test('a generator with z and tokens imports and generates seeded images in [-1, 1]', async () => {
  const { manifest, signature } = await importBytes('good', graph())
  assert.deepEqual(signature, { imageSize: 8, textLength: 4 })
  assert.equal(manifest.kind, 'generator')
  assert.equal(manifest.source.imported, true)
  const pkg = await loadOnnxPackage(join(dir, 'pkg-good'))
  const a = await inference.generate(pkg, { prompts: ['red apple', 'black cat'], seeds: [1, 2] })
  const b = await inference.generate(pkg, { prompts: ['red apple', 'black cat'], seeds: [1, 2] })
  assert.deepEqual(a.pixels, b.pixels)
  assert.ok(a.pixels.every((v) => v >= -1 && v <= 1))
  assert.ok(a.pixels.some((v) => v !== a.pixels[0]))
})

test('a prompt-free generator (z only) imports without a tokenizer', async () => {
  const { signature, manifest } = await importBytes('free', graph({ tokens: false }), false)
  assert.deepEqual(signature, { imageSize: 8 })
  assert.equal(manifest.tokenizer, undefined)
  const pkg = await loadOnnxPackage(join(dir, 'pkg-free'))
  assert.equal((await inference.generate(pkg, { prompts: ['anything'], seeds: [0] })).count, 1)
})

test('wrong signatures are refused with a message naming the difference', async () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['name', graph({ z: { name: 'noise' } }), /no input named 'z' \(inputs: noise, tokens\).*unexpected input\(s\) 'noise'/],
    ['dtype', graph({ tokens: { type: 'int64' } }), /input 'tokens' is int64, expected int32/],
    ['nchw', graph({ z: { shape: ['B', 3, 8, 8] } }), /input 'z' has 8 channels in its last axis, expected 3 \(NHWC\)/],
    ['dynamic-size', graph({ z: { shape: ['B', 'H', 'W', 3] } }), /fixed square image size/],
    ['output-name', graph({ outName: 'image' }), /no output named 'x0' \(outputs: image\)/],
    ['run-shape', graph({ outReshape: [-1, 4, 16, 3] }), /output 'x0' has shape \[1, 4, 16, 3\], expected \[1, 8, 8, 3\]/],
  ]
  for (const [name, bytes, message] of cases) {
    await assert.rejects(importBytes(name, bytes), message, name)
  }
  // tokens length must match the tokenizer
  await assert.rejects(importBytes('length', graph({ tokens: { shape: ['B', 7] } })), /'tokens' has length 7, but the tokenizer produces 4/)
  await assert.rejects(importBytes('no-tokenizer', graph(), false), /needs a tokenizer/)
})

test('garbage, truncated and missing files give clear errors', async () => {
  await assert.rejects(importBytes('garbage', 'this is not a model'), /not a valid ONNX model/)
  const good = graph()
  await assert.rejects(importBytes('truncated', good.subarray(0, Math.floor(good.length / 2))), /not a valid ONNX model/)
  await assert.rejects(importOnnxGenerator(join(dir, 'absent.onnx'), join(dir, 'pkg-absent'), { name: 'x' }), /cannot read .*ENOENT/)
})

test('a package whose model.onnx was altered after export is refused', async () => {
  await importBytes('altered', graph())
  const path = join(dir, 'pkg-altered', 'model.onnx')
  const bytes = await readFile(path)
  bytes[bytes.length - 3] ^= 1
  await writeFile(path, bytes)
  await assert.rejects(loadOnnxPackage(join(dir, 'pkg-altered')), /damaged or was replaced/)
  await writeFile(join(dir, 'pkg-altered', 'manifest.json'), '{')
  await assert.rejects(loadOnnxPackage(join(dir, 'pkg-altered')), /no readable manifest\.json/)
})
