import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile, rename, readdir, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { saveCheckpoint, loadCheckpoint, CheckpointError, MODEL_FILE, CONFIG_FILE, type NamedTensor } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { encodeSafetensors, decodeSafetensors } from '../../src-main/ml/checkpoint/safetensors.ts'

let root: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ckpt-test-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

const specials = new Float32Array([0, -0, Infinity, -Infinity, 1.401298464324817e-45, -3.4028234663852886e38, 1 / 3, NaN])
function sampleTensors(): Record<string, NamedTensor> {
  return {
    'blocks.0.attn.q': { dtype: 'float32', shape: [2, 4], data: specials },
    'embed.table': { dtype: 'float32', shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => Math.sin(i) * 1e3) },
    step: { dtype: 'int32', shape: [], data: new Int32Array([123456]) },
    'token.ids': { dtype: 'int32', shape: [4], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
    empty: { dtype: 'float32', shape: [0, 7], data: new Float32Array(0) },
  }
}
const sampleConfig = { arch: 'dit', width: 128, schedule: { T: 1000 }, tokenizer: { words: ['red', 'apple'] } }
const expectShapes = { 'blocks.0.attn.q': [2, 4], 'embed.table': [3, 5], step: [], 'token.ids': [4], empty: [0, 7] }

const bytesOf = (t: NamedTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)

async function freshCheckpoint(name: string): Promise<string> {
  const dir = join(root, name)
  await saveCheckpoint(dir, { config: sampleConfig, tensors: sampleTensors() })
  return dir
}

/** Rewrites the JSON header of a safetensors file, keeping its data section byte for byte. */
function withHeader(file: Uint8Array, edit: (h: Record<string, any>) => void): Uint8Array {
  const len = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true))
  const header = JSON.parse(Buffer.from(file.subarray(8, 8 + len)).toString('utf8'))
  edit(header)
  const json = Buffer.from(JSON.stringify(header), 'utf8')
  const out = new Uint8Array(8 + json.length + file.length - 8 - len)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  out.set(file.subarray(8 + len), 8 + json.length)
  return out
}

async function assertRefused(dir: string, message: RegExp, opts?: Parameters<typeof loadCheckpoint>[1]) {
  await assert.rejects(loadCheckpoint(dir, opts), (err: unknown) => {
    assert.ok(err instanceof CheckpointError, `expected CheckpointError, got ${String(err)}`)
    assert.match(err.message, message)
    return true
  })
}

test('round trip is bit-exact, including -0, infinities, denormals, NaN and int32 extremes', async () => {
  const dir = await freshCheckpoint('roundtrip')
  const loaded = await loadCheckpoint(dir, { expectShapes })
  assert.deepEqual(loaded.config, sampleConfig)
  const original = sampleTensors()
  assert.deepEqual(Object.keys(loaded.tensors).sort(), Object.keys(original).sort())
  for (const [name, t] of Object.entries(original)) {
    const back = loaded.tensors[name]!
    assert.equal(back.dtype, t.dtype, name)
    assert.deepEqual(back.shape, t.shape, name)
    assert.equal(back.data.constructor, t.data.constructor, name)
    assert.deepEqual(bytesOf(back), bytesOf(t), `${name} bytes`)
  }
  assert.ok(Object.is(loaded.tensors['blocks.0.attn.q']!.data[1], -0))
  assert.deepEqual(await readdir(root).then((e) => e.filter((n) => n.startsWith('roundtrip'))), ['roundtrip'], 'no temp dirs left behind')
})

test('encoding is deterministic and decodes without the checkpoint wrapper', () => {
  const a = encodeSafetensors(sampleTensors(), { note: 'x' })
  const b = encodeSafetensors(sampleTensors(), { note: 'x' })
  assert.deepEqual(a, b)
  const headerLen = Number(new DataView(a.buffer).getBigUint64(0, true))
  assert.equal(headerLen % 8, 0, 'header padded to 8 bytes')
  const decoded = decodeSafetensors(a)
  assert.deepEqual(decoded.metadata, { note: 'x' })
  assert.deepEqual(bytesOf(decoded.tensors['token.ids']!), bytesOf(sampleTensors()['token.ids']!))
})

test('missing directory or files are refused', async () => {
  await assertRefused(join(root, 'nothing-here'), /No checkpoint at/)
  const dir = await freshCheckpoint('missing-files')
  await rm(join(dir, CONFIG_FILE))
  await assertRefused(dir, /config\.json is missing/)
  await rm(join(dir, MODEL_FILE))
  await assertRefused(dir, /model\.safetensors is missing/)
})

test('truncated files are refused at every cut point', async () => {
  const dir = await freshCheckpoint('truncated')
  const good = await readFile(join(dir, MODEL_FILE))
  for (const cut of [0, 5, 8, 20, good.length - 40, good.length - 1]) {
    await writeFile(join(dir, MODEL_FILE), good.subarray(0, cut))
    await assertRefused(dir, /truncated|past the end|data section|header/i)
  }
})

test('header length out of range and malformed header JSON are refused', async () => {
  const dir = await freshCheckpoint('header')
  const good = await readFile(join(dir, MODEL_FILE))
  for (const len of [0n, 1n, 2n ** 40n, 2n ** 64n - 1n]) {
    const bad = Buffer.from(good)
    bad.writeBigUInt64LE(len, 0)
    await writeFile(join(dir, MODEL_FILE), bad)
    await assertRefused(dir, /header length .* out of range/)
  }
  const bad = Buffer.from(good)
  bad[8] = 'x'.charCodeAt(0) // '{' -> 'x'
  await writeFile(join(dir, MODEL_FILE), bad)
  await assertRefused(dir, /header is not valid JSON/)
  await writeFile(join(dir, MODEL_FILE), withHeader(good, (h) => { for (const k of Object.keys(h)) delete h[k] }).slice(0, 8 + 2))
  await assertRefused(dir, /data section|format tag/)
})

test('bad offsets, dtypes and sizes in the header are refused', async () => {
  const dir = await freshCheckpoint('offsets')
  const good = new Uint8Array(await readFile(join(dir, MODEL_FILE)))
  const cases: [string, (h: Record<string, any>) => void, RegExp][] = [
    ['out of bounds', (h) => { h['token.ids'].data_offsets = [h['token.ids'].data_offsets[0], 1e9] }, /past the end/],
    ['overlapping', (h) => { const [b] = h['token.ids'].data_offsets; h.step.data_offsets = [b, b + 4] }, /overlaps|gap|cover/],
    ['non-contiguous', (h) => { h.step.shape = [0]; h.step.data_offsets = [h.step.data_offsets[0], h.step.data_offsets[0]] }, /gap|cover/],
    ['backwards', (h) => { h.step.data_offsets = [h.step.data_offsets[1], h.step.data_offsets[0]] }, /backwards/],
    ['negative offset', (h) => { h.step.data_offsets = [-4, 0] }, /invalid data_offsets/],
    ['unknown dtype', (h) => { h['token.ids'].dtype = 'BF16' }, /unsupported dtype "BF16"/],
    ['shape x dtype != bytes', (h) => { h['embed.table'].shape = [3, 4] }, /embed\.table: shape \[3, 4\] x F32 needs 48 bytes but data_offsets span 60/],
    ['bad shape', (h) => { h['embed.table'].shape = [3, -5] }, /invalid shape/],
    ['entry not an object', (h) => { h.step = 7 }, /entry is not an object/],
    ['metadata not strings', (h) => { h.__metadata__.sha256 = 12 }, /__metadata__\.sha256 is not a string/],
  ]
  for (const [label, edit, message] of cases) {
    await writeFile(join(dir, MODEL_FILE), withHeader(good, edit))
    await assert.rejects(loadCheckpoint(dir), (err: unknown) => {
      assert.ok(err instanceof CheckpointError, label)
      assert.match((err as Error).message, message, label)
      return true
    }, label)
  }
  const arrayHeader = Buffer.alloc(16, 0x20)
  arrayHeader.writeBigUInt64LE(8n, 0)
  arrayHeader.write('[]', 8)
  await writeFile(join(dir, MODEL_FILE), arrayHeader)
  await assertRefused(dir, /header is not a JSON object/)
})

test('a single flipped bit in the data, or a foreign config.json, is refused', async () => {
  const dir = await freshCheckpoint('bitflip')
  const good = await readFile(join(dir, MODEL_FILE))
  for (const pos of [good.length - 1, good.length - 30]) {
    const bad = Buffer.from(good)
    bad[pos]! ^= 0x01
    await writeFile(join(dir, MODEL_FILE), bad)
    await assertRefused(dir, /corrupt: the tensor data does not match its sha256/)
  }
  await writeFile(join(dir, MODEL_FILE), good)
  await loadCheckpoint(dir)
  await writeFile(join(dir, CONFIG_FILE), JSON.stringify({ ...sampleConfig, width: 256 }))
  await assertRefused(dir, /config\.json does not belong to model\.safetensors/)
})

test('a plain safetensors file without DI Studio metadata is refused', async () => {
  const dir = await freshCheckpoint('foreign')
  await writeFile(join(dir, MODEL_FILE), encodeSafetensors(sampleTensors()))
  await assertRefused(dir, /not a DI Studio checkpoint/)
})

test('expectShapes names every missing, extra or mis-shaped tensor with both shapes', async () => {
  const dir = await freshCheckpoint('shapes')
  const { step: _, ...withoutStep } = expectShapes
  await assertRefused(dir, /unexpected tensor step \(shape \[\]\)/, { expectShapes: withoutStep })
  await assertRefused(dir, /missing tensor head\.w \(expected shape \[8, 8\]\)/, { expectShapes: { ...expectShapes, 'head.w': [8, 8] } })
  await assertRefused(dir, /tensor embed\.table has shape \[3, 5\], expected \[5, 3\]/, { expectShapes: { ...expectShapes, 'embed.table': [5, 3] } })
})

test('expectShapes can be derived from the loaded config', async () => {
  const dir = await freshCheckpoint('shapes-from-config')
  let seen: unknown
  const loaded = await loadCheckpoint(dir, { expectShapes: (config) => { seen = config; return expectShapes } })
  assert.deepEqual(seen, sampleConfig)
  assert.deepEqual(loaded.config, sampleConfig)
  await assertRefused(dir, /tensor step has shape \[\], expected \[1\]/, { expectShapes: () => ({ ...expectShapes, step: [1] }) })
  await assertRefused(dir, /does not describe a usable model: unknown architecture/, { expectShapes: () => { throw new Error('unknown architecture') } })
})

test('invalid tensors or config are refused before the previous checkpoint is touched', async () => {
  const dir = await freshCheckpoint('failed-save')
  const bad: [Record<string, NamedTensor>, unknown, RegExp][] = [
    [{ w: { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } }, {}, /shape \[2, 2\] has 4 elements but data has 3/],
    [{ w: { dtype: 'float32', shape: [1], data: new Int32Array(1) } }, {}, /needs a Float32Array/],
    [{ w: { dtype: 'float64' as 'float32', shape: [1], data: new Float32Array(1) } }, {}, /unsupported dtype float64/],
    [{ __metadata__: { dtype: 'float32', shape: [1], data: new Float32Array(1) } }, {}, /Invalid tensor name/],
    [{ w: null as unknown as NamedTensor }, {}, /Tensor w: expected \{ dtype, shape, data \}/],
    [null as unknown as Record<string, NamedTensor>, {}, /Tensors must be a record/],
    [sampleTensors(), { n: 10n }, /cannot be written as JSON/],
    [sampleTensors(), undefined, /config .* is missing/],
  ]
  for (const [tensors, config, message] of bad) {
    await assert.rejects(saveCheckpoint(dir, { config, tensors }), (err: unknown) => err instanceof CheckpointError && message.test(err.message))
  }
  const loaded = await loadCheckpoint(dir, { expectShapes })
  assert.deepEqual(loaded.config, sampleConfig)
})

test('a crash during a save leaves the previous checkpoint loadable, and the next save cleans up', async () => {
  const dir = await freshCheckpoint('crash')
  const newer = { ...sampleConfig, width: 64 }

  // Crash while writing the new pair: a half-written "<dir>.incoming" is left behind.
  await mkdir(`${dir}.incoming`)
  await writeFile(join(`${dir}.incoming`, MODEL_FILE), Buffer.from([1, 2, 3]))
  assert.deepEqual((await loadCheckpoint(dir)).config, sampleConfig)

  // Crash between the two renames: only "<dir>.previous" holds a checkpoint.
  await rename(dir, `${dir}.previous`)
  assert.deepEqual((await loadCheckpoint(dir, { expectShapes })).config, sampleConfig)

  await saveCheckpoint(dir, { config: newer, tensors: sampleTensors() })
  assert.deepEqual((await loadCheckpoint(dir)).config, newer)
  const leftovers = (await readdir(root)).filter((n) => n.startsWith('crash'))
  assert.deepEqual(leftovers, ['crash'])
})

test('a disk failure late in a save is a CheckpointError and keeps the previous checkpoint', async () => {
  const dir = await freshCheckpoint('disk-failure')
  // A named pipe in the directory cannot be carried over, so the save fails after the new pair is
  // already written: the same position as a full disk or an I/O error half-way through.
  execFileSync('mkfifo', [join(dir, 'pipe')])
  await assert.rejects(saveCheckpoint(dir, { config: { newer: true }, tensors: sampleTensors() }), (err: unknown) => {
    assert.ok(err instanceof CheckpointError)
    assert.match(err.message, /failed, previous checkpoint kept/)
    return true
  })
  assert.deepEqual((await loadCheckpoint(dir, { expectShapes })).config, sampleConfig)
  assert.deepEqual((await readdir(root)).filter((n) => n.startsWith('disk-failure')), ['disk-failure'], 'temp directory removed')

  // Unusable targets fail early, with the same error type.
  await writeFile(join(root, 'a-file'), 'x')
  await assert.rejects(saveCheckpoint(join(root, 'a-file', 'ckpt'), { config: {}, tensors: sampleTensors() }), CheckpointError)
  await assert.rejects(saveCheckpoint(join(dir, MODEL_FILE), { config: {}, tensors: sampleTensors() }), /not a directory/)
  assert.deepEqual((await loadCheckpoint(dir)).config, sampleConfig)
})

test('a trailing slash in the directory name saves and loads the same checkpoint', async () => {
  const dir = join(root, 'slash')
  await saveCheckpoint(dir + '/', { config: sampleConfig, tensors: sampleTensors() })
  await saveCheckpoint(dir + '/', { config: { again: true }, tensors: sampleTensors() })
  assert.deepEqual((await loadCheckpoint(dir)).config, { again: true })
  assert.deepEqual((await readdir(root)).filter((n) => n.startsWith('slash')), ['slash'])
  assert.deepEqual((await readdir(dir)).sort(), [CONFIG_FILE, MODEL_FILE])
})

test('saving over a checkpoint replaces the pair and keeps other files in the directory', async () => {
  const dir = await freshCheckpoint('carry-over')
  await writeFile(join(dir, 'model-card.md'), '# card\n')
  const tensors = sampleTensors()
  tensors.step = { dtype: 'int32', shape: [], data: new Int32Array([7]) }
  await saveCheckpoint(dir, { config: { v: 2 }, tensors })
  const loaded = await loadCheckpoint(dir)
  assert.deepEqual(loaded.config, { v: 2 })
  assert.equal(loaded.tensors.step!.data[0], 7)
  assert.equal(await readFile(join(dir, 'model-card.md'), 'utf8'), '# card\n')
})
