import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultCacheDir, loadEmojiDatasetWithInfo, sampleBatch, type EmojiDatasetLoad, type EmojiSplit } from '../../src-main/ml/data/emoji-dataset.ts'
import { buildCatalog, findEmojiSource, isValidationKey } from '../../src-main/ml/data/emoji-catalog.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

// One cold load (decodes every PNG into a fresh cache) shared by the read-only tests.
let cacheDir: string
let first: EmojiDatasetLoad
before(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'emoji-cache-test-'))
  first = await loadEmojiDatasetWithInfo({ cacheDir })
})
after(async () => {
  await rm(cacheDir, { recursive: true, force: true })
})

const S = 32
const F = S * S * 3
const pixel = (split: EmojiSplit, i: number, x: number, y: number) => Array.from(split.images.subarray(i * F + (y * S + x) * 3, i * F + (y * S + x) * 3 + 3))

test('one image per has_img flag in each package\'s emoji.json (base emoji only)', () => {
  let expected = 0
  for (const style of ['twitter', 'google'] as const) {
    const json = JSON.parse(readFileSync(join(findEmojiSource(style).packageDir, 'emoji.json'), 'utf8')) as Record<string, unknown>[]
    expected += json.filter((e) => e[`has_img_${style}`] === true).length
  }
  const { train, validation } = first
  assert.equal(train.items.length + validation.items.length, expected)
  assert.equal(train.images.length, train.items.length * F)
  assert.equal(validation.images.length, validation.items.length * F)
  assert.equal(train.imageSize, S)
  assert.ok([...train.items, ...validation.items].every((it) => !it.key.includes('-1f3f')), 'no skin-tone variants by default')
})

test('split is by emoji: disjoint, both styles on the same side, about 5% validation, deterministic', () => {
  const { train, validation } = first
  const trainKeys = new Set(train.items.map((i) => i.key))
  const valKeys = new Set(validation.items.map((i) => i.key))
  assert.deepEqual([...valKeys].filter((k) => trainKeys.has(k)), [])
  for (const keys of [trainKeys, valKeys]) {
    const items = keys === trainKeys ? train.items : validation.items
    for (const key of keys) assert.deepEqual(items.filter((i) => i.key === key).map((i) => i.style).sort(), ['google', 'twitter'], key)
  }
  const fraction = valKeys.size / (trainKeys.size + valKeys.size)
  assert.ok(fraction > 0.03 && fraction < 0.07, `validation fraction ${fraction}`)
  for (const key of valKeys) assert.equal(isValidationKey(key), true)
  // A second catalogue build (and the cached load below) gives the same split.
  assert.deepEqual(buildCatalog().filter((e) => e.split === 'validation').map((e) => e.item), validation.items)
})

test('skin-tone variants are opt-in and follow their base emoji into the same split', () => {
  const base = buildCatalog()
  const withSkins = buildCatalog({ includeSkinTones: true })
  const skins = withSkins.filter((e) => /-1f3f[b-f]/.test(e.item.key))
  assert.equal(withSkins.length - base.length, skins.length)
  assert.ok(skins.length > 1000)
  const splitOfBase = new Map(base.map((e) => [e.item.key, e.split]))
  const santa = skins.find((e) => e.item.key === '1f385-1f3fd' && e.item.style === 'google')!
  assert.equal(santa.item.name, 'father christmas: medium skin tone')
  assert.ok(santa.item.captions.includes('santa: medium skin tone, google style'))
  for (const e of skins) {
    assert.ok(splitOfBase.has(e.baseKey), `${e.item.key} has a base emoji`)
    assert.equal(e.split, splitOfBase.get(e.baseKey), e.item.key)
  }
})

test('pixels are in [-1, 1], corners are white and every emoji has visible content', () => {
  for (const split of [first.train, first.validation]) {
    let min = Infinity
    let max = -Infinity
    for (const v of split.images) {
      if (!(v >= -1 && v <= 1)) assert.fail(`pixel value ${v} outside [-1, 1]`)
      min = Math.min(min, v)
      max = Math.max(max, v)
    }
    assert.ok(min < -0.9 && max === 1)
    let whiteCorners = 0
    for (let i = 0; i < split.items.length; i++) {
      if ([pixel(split, i, 0, 0), pixel(split, i, S - 1, 0), pixel(split, i, 0, S - 1), pixel(split, i, S - 1, S - 1)].every((p) => p.every((v) => v > 0.98))) whiteCorners++
      const img = split.images.subarray(i * F, (i + 1) * F)
      // (0.9: the palest emoji, twitter's white heart and squares, have a grey outline at 0.8.)
      assert.ok(img.some((v) => v < 0.9), `${split.items[i]!.key}/${split.items[i]!.style} is blank`)
    }
    // Square emoji (flags, keycaps) can reach the corners; the large majority are on white.
    assert.ok(whiteCorners / split.items.length > 0.8, `white corners in ${whiteCorners}/${split.items.length}`)
  }
})

test('captions contain the name and the style; the canonical caption comes first', () => {
  for (const item of [...first.train.items, ...first.validation.items]) {
    assert.equal(item.canonicalCaption, `${item.name}, ${item.style} style`)
    assert.equal(item.captions[0], item.canonicalCaption)
    assert.ok(item.captions.includes(item.name))
    assert.ok(item.captions.length >= 3 && item.captions.every((c) => c.length > 0), item.key)
    assert.equal(item.name, item.name.toLowerCase())
  }
  const apple = first.train.items.find((i) => i.key === '1f34e' && i.style === 'google')!
  assert.deepEqual(apple.captions, [
    'red apple, google style',
    'red apple',
    'red apple, food & drink, google style',
    'red apple, food fruit, google style',
    'apple, google style',
    'apple, food & drink, google style',
  ])
})

test('sampleBatch is reproducible from the seed and copies the right images', () => {
  const a = sampleBatch(first.train, new Rng(7), 16, { captionDropout: 0.1 })
  const b = sampleBatch(first.train, new Rng(7), 16, { captionDropout: 0.1 })
  const c = sampleBatch(first.train, new Rng(8), 16, { captionDropout: 0.1 })
  assert.deepEqual(a, b)
  assert.notDeepEqual(a.indices, c.indices)
  assert.equal(a.images.length, 16 * F)
  a.indices.forEach((index, k) => {
    assert.deepEqual(a.images.subarray(k * F, (k + 1) * F), first.train.images.subarray(index * F, (index + 1) * F))
    assert.ok(a.prompts[k] === '' || first.train.items[index]!.captions.includes(a.prompts[k]!))
  })
  // The random stream does not depend on the dropout rate: same images with or without dropout.
  assert.deepEqual(sampleBatch(first.train, new Rng(7), 16).indices, a.indices)
})

test('caption dropout replaces about the requested fraction of prompts with the empty prompt', () => {
  const n = 4000
  const { prompts } = sampleBatch(first.train, new Rng(1), n, { captionDropout: 0.3 })
  const rate = prompts.filter((p) => p === '').length / n
  assert.ok(Math.abs(rate - 0.3) < 0.05, `dropout rate ${rate}`)
  assert.ok(sampleBatch(first.train, new Rng(1), 200).prompts.every((p) => p !== ''))
  assert.ok(sampleBatch(first.train, new Rng(1), 200, { captionDropout: 1 }).prompts.every((p) => p === ''))
  // Several caption variants are used, not just the canonical one.
  const variants = new Set(sampleBatch(first.train, new Rng(2), 500).prompts.map((p) => p.split(', ').length))
  assert.ok(variants.size >= 2)
})

test('sampleBatch refuses bad arguments with a clear error', () => {
  assert.throws(() => sampleBatch(first.train, new Rng(1), 0), /batchSize/)
  assert.throws(() => sampleBatch(first.train, new Rng(1), 2.5), /batchSize/)
  assert.throws(() => sampleBatch(first.train, new Rng(1), 4, { captionDropout: 1.5 }), /captionDropout/)
  assert.throws(() => sampleBatch(first.train, new Rng(1), 4, { captionDropout: NaN }), /captionDropout/)
  assert.throws(() => sampleBatch({ imageSize: S, images: new Float32Array(0), items: [] }, new Rng(1), 4), /no images/)
})

test('the cache is reused, and a corrupt or truncated cache is ignored and rebuilt', async () => {
  assert.equal(first.info.fromCache, false)
  const again = await loadEmojiDatasetWithInfo({ cacheDir })
  assert.equal(again.info.fromCache, true)
  assert.equal(again.info.cachePath, first.info.cachePath)
  assert.deepEqual(again.train.items, first.train.items)
  assert.deepEqual(again.train.images, first.train.images)
  assert.deepEqual(again.validation.images, first.validation.images)

  const good = await readFile(first.info.cachePath)
  const flipped = Buffer.from(good)
  flipped[flipped.length - 100]! ^= 0x10
  for (const [damaged, reason] of [[flipped, /checksum/], [good.subarray(0, good.length - 4096), /bytes, expected/], [Buffer.from('junk'), /not an emoji cache/]] as const) {
    await writeFile(first.info.cachePath, damaged)
    const rebuilt = await loadEmojiDatasetWithInfo({ cacheDir })
    assert.equal(rebuilt.info.fromCache, false)
    assert.match(rebuilt.info.cacheProblem ?? '', reason)
    assert.deepEqual(rebuilt.train.images, first.train.images)
    assert.deepEqual(await readFile(first.info.cachePath), good, 'the rebuilt cache is the same file again')
  }
  assert.equal((await loadEmojiDatasetWithInfo({ cacheDir })).info.fromCache, true)
})

test('an unwritable cache directory costs speed, not the data set', async () => {
  const blocker = join(cacheDir, 'not-a-dir')
  await writeFile(blocker, 'x')
  const load = await loadEmojiDatasetWithInfo({ cacheDir: join(blocker, 'cache'), imageSize: 8 })
  assert.equal(load.info.fromCache, false)
  assert.match(load.info.cacheProblem ?? '', /cache not written/)
  assert.equal(load.train.imageSize, 8)
  assert.equal(load.train.images.length, load.train.items.length * 8 * 8 * 3)
  await assert.rejects(loadEmojiDatasetWithInfo({ cacheDir, imageSize: 0 }), /imageSize must be an integer in 1\.\.64/)
  await assert.rejects(loadEmojiDatasetWithInfo({ cacheDir, imageSize: 65 }), /imageSize/)
})

test('the default cache directory follows DI_STUDIO_CACHE, else ~/.di-studio/cache', () => {
  const saved = process.env.DI_STUDIO_CACHE
  try {
    process.env.DI_STUDIO_CACHE = '/some/cache'
    assert.equal(defaultCacheDir(), '/some/cache')
    delete process.env.DI_STUDIO_CACHE
    assert.match(defaultCacheDir(), /[/\\]\.di-studio[/\\]cache$/)
  } finally {
    if (saved === undefined) delete process.env.DI_STUDIO_CACHE
    else process.env.DI_STUDIO_CACHE = saved
  }
})

test('SVG styles load beside a PNG style; icons resvg cannot draw are reported, left out, and stay left out from the cache', async () => {
  const styles = ['twitter', 'noto-classic'] as const
  const load = await loadEmojiDatasetWithInfo({ cacheDir, imageSize: 16, styles })
  const items = [...load.train.items, ...load.validation.items]
  assert.deepEqual([...new Set(items.map((i) => i.style))].sort(), ['noto-classic', 'twitter'])
  const classic = items.filter((i) => i.style === 'noto-classic')
  assert.ok(classic.length > 1000, `${classic.length} noto-classic images`)
  assert.ok(classic.every((i) => i.canonicalCaption.endsWith(', noto classic style')))
  // Ambulance is one of the few noto-v1 drawings resvg 2.6.2 cannot draw.
  assert.ok(load.info.skipped.some((s) => s.startsWith('1f691/noto-classic:')), load.info.skipped.join('\n'))
  assert.ok(!classic.some((i) => i.key === '1f691'))
  assert.ok(items.some((i) => i.key === '1f691' && i.style === 'twitter'))
  // Every SVG image has content and white corners, like the PNGs.
  const F16 = 16 * 16 * 3
  const split = load.train
  split.items.forEach((it, i) => {
    if (it.style !== 'noto-classic') return
    const img = split.images.subarray(i * F16, (i + 1) * F16)
    assert.ok(img.some((v) => v < 0.9), `${it.key} is blank`)
  })
  const again = await loadEmojiDatasetWithInfo({ cacheDir, imageSize: 16, styles })
  assert.equal(again.info.fromCache, true)
  assert.deepEqual(again.info.skipped, load.info.skipped)
  assert.deepEqual(again.train.items, load.train.items)
  assert.notEqual(again.info.cachePath, (await loadEmojiDatasetWithInfo({ cacheDir, imageSize: 16 })).info.cachePath, 'another style list, another cache file')
})
