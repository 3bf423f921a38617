import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PNG } from 'pngjs'
import { buildCatalog, ALL_STYLES, HELD_OUT_STYLE, ICONIFY_STYLES, TRAINING_STYLES, matchIconifyStyles } from '../../src-main/ml/data/emoji-catalog.ts'
import { buildNameIndex, conceptKey, iconSvg, initRasteriser, loadIconifySet, matchIconSet, rasteriseSvg, squashName, type IconifySet } from '../../src-main/ml/data/iconify-sets.ts'

test('concept keys drop variation selectors; names compare without case or punctuation', () => {
  assert.equal(conceptKey('2764-FE0F'), '2764')
  assert.equal(conceptKey('0031-FE0F-20E3'), '0031-20e3')
  assert.equal(squashName('Red Apple'), squashName('red-apple'))
  assert.equal(squashName('admission tickets'), 'admissiontickets')
})

// A sample of concepts, checked by hand against each set's own drawings: the icon every set uses for them.
const SAMPLE: Record<string, Partial<Record<keyof typeof ICONIFY_STYLES, string>>> = {
  '1f34e': { 'fluent': 'red-apple', 'fluent-flat': 'red-apple', 'noto-classic': 'red-apple', 'emojione': 'red-apple' }, // red apple
  '1f436': { 'fluent': 'dog-face', 'fluent-flat': 'dog-face', 'noto-classic': 'dog-face', 'emojione': 'dog-face' },
  '1f680': { 'fluent': 'rocket', 'fluent-flat': 'rocket', 'noto-classic': 'rocket', 'firefox': 'rocket', 'emojione': 'rocket' },
  '1f355': { 'fluent': 'pizza', 'fluent-flat': 'pizza', 'noto-classic': 'pizza', 'firefox': 'sliceofpizza', 'emojione': 'pizza' }, // "slice of pizza" in Unicode, "pizza" in CLDR
  '1f525': { 'fluent': 'fire', 'noto-classic': 'fire', 'firefox': 'fire', 'emojione': 'fire' },
  '1f384': { 'fluent': 'christmas-tree', 'noto-classic': 'christmas-tree', 'firefox': 'christmastree', 'emojione': 'christmas-tree' },
  '2764-fe0f': { 'fluent': 'red-heart', 'fluent-flat': 'red-heart', 'emojione': 'red-heart' }, // "heavy black heart" in Unicode
  '1f1fa-1f1f8': { 'emojione': 'flag-for-united-states' }, // "flag-for-<country>" spelling
  '1f170-fe0f': { 'fluent': 'a-button-blood-type', 'emojione': 'a-button' }, // the "-blood-type" suffix is optional
}

test('icons are matched to the same concept across sets (codepoints where chars.json has them, else names)', () => {
  const matched = matchIconifyStyles(Object.keys(ICONIFY_STYLES) as (keyof typeof ICONIFY_STYLES)[])
  for (const [key, expected] of Object.entries(SAMPLE)) {
    for (const [style, icon] of Object.entries(expected)) {
      assert.equal(matched.get(style as keyof typeof ICONIFY_STYLES)!.get(key), icon, `${key} in ${style}`)
    }
  }
  // Skin-tone variants are not base emoji and match nothing.
  for (const [style, icons] of matched) {
    const set = loadIconifySet(ICONIFY_STYLES[style])
    for (const icon of icons.values()) {
      const base = /^(.+?)-(light|medium-light|medium|medium-dark|dark)(-skin-tone)?$/.exec(icon)?.[1]
      const isToneVariant = base !== undefined && (set.icons[`${base}-dark`] !== undefined || set.icons[`${base}-dark-skin-tone`] !== undefined)
      assert.ok(!isToneVariant, `${style}: ${icon} is a skin-tone variant`)
    }
  }
  // Every set draws hundreds of the data set's emoji.
  const sizes = Object.fromEntries([...matched].map(([s, m]) => [s, m.size]))
  for (const [style, n] of Object.entries(sizes)) assert.ok(n > 600, `${style} matched only ${n} emoji`)
})

test('a set\'s own codepoint list wins over a name, and a real icon over an alias', () => {
  const set: IconifySet = {
    packageName: 'test', version: '0', width: 16, height: 16,
    icons: { 'apple-red': { body: '' }, 'red-apple': { body: '' }, 'dog': { body: '' } },
    aliases: { 'dog-face': 'dog' },
    chars: { '1f34e': 'apple-red' },
  }
  const index = buildNameIndex([{ key: '1f34e', names: ['red apple'] }, { key: '1f436', names: ['dog face', 'dog'] }])
  const m = matchIconSet(set, new Set(['1f34e', '1f436']), index)
  assert.equal(m.get('1f34e'), 'apple-red')
  assert.equal(m.get('1f436'), 'dog')
})

test('the catalogue lists every chosen style with captions naming it; the held-out style is not a training style', () => {
  assert.ok(!TRAINING_STYLES.includes(HELD_OUT_STYLE))
  assert.equal(TRAINING_STYLES.length + 1, ALL_STYLES.length)
  const catalog = buildCatalog({ styles: ALL_STYLES })
  const apples = catalog.filter((e) => e.item.key === '1f34e')
  assert.deepEqual(apples.map((e) => e.item.style), [...ALL_STYLES])
  assert.ok(apples.find((e) => e.item.style === 'fluent-flat')!.item.captions.includes('red apple, fluent flat style'))
  assert.equal(new Set(apples.map((e) => e.split)).size, 1, 'one emoji, one split in every style')
  assert.throws(() => buildCatalog({ styles: ['twitter', 'crayon' as never] }), /Unknown emoji style 'crayon'/)
})

test('an SVG is rasterised at the asked size; a drawing resvg cannot handle throws and the next one still renders', async () => {
  await initRasteriser()
  const set = loadIconifySet(ICONIFY_STYLES['noto-classic'])
  const before = rasteriseSvg(iconSvg(set, 'red-apple'), 64)
  const img = PNG.sync.read(Buffer.from(before))
  assert.equal(img.width, 64)
  assert.equal(img.height, 64)
  // resvg 2.6.2 panics in its geometry code on this one (a catchable error in its wasm build)
  assert.throws(() => rasteriseSvg(iconSvg(set, 'ambulance'), 64))
  assert.deepEqual(rasteriseSvg(iconSvg(set, 'red-apple'), 64), before)
  assert.throws(() => iconSvg(set, 'no-such-icon'), /has no icon 'no-such-icon'/)
})
