import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildCatalog } from '../../src-main/ml/data/emoji-catalog.ts'
import { PROMPTS_DIR, renderPromptList, showcasePrompts, validationCaptions } from '../../src-main/ml/data/prompt-lists.ts'

const catalog = buildCatalog()
const read = (name: string) => readFileSync(join(PROMPTS_DIR, name), 'utf8')

test('validation-captions.txt is the canonical caption of every validation image, and only those', () => {
  const committed = read('validation-captions.txt')
  assert.equal(committed, renderPromptList(validationCaptions(catalog)), 'regenerate with: npx tsx src-main/ml/data/prompt-lists.ts --write')
  const trainCaptions = new Set(catalog.filter((e) => e.split === 'train').map((e) => e.item.canonicalCaption))
  const lines = committed.trimEnd().split('\n')
  assert.ok(lines.length > 100)
  for (const line of lines) assert.ok(!trainCaptions.has(line), `${line} is also a training caption`)
})

test('showcase.txt holds 8-16 training prompts, each emoji in both styles', () => {
  const committed = read('showcase.txt')
  assert.equal(committed, renderPromptList(showcasePrompts(catalog)))
  const lines = committed.trimEnd().split('\n')
  assert.ok(lines.length >= 8 && lines.length <= 16)
  const trainCaptions = new Set(catalog.filter((e) => e.split === 'train').map((e) => e.item.canonicalCaption))
  for (const line of lines) assert.ok(trainCaptions.has(line), `${line} is not a training caption`)
  assert.equal(lines.filter((l) => l.endsWith('twitter style')).length, lines.filter((l) => l.endsWith('google style')).length)
})
