// Prompts the judge scores: caption -> emoji key (ambiguous captions refused), the seeded sample of
// training emoji, and the committed resources/prompts/judge-training-emoji.txt being current and made
// only of training-split emoji.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { buildCatalog } from '../../src-main/ml/data/emoji-catalog.ts'
import { readPromptFile } from '../../src-main/util/prompt-file.ts'
import { resourcePath } from '../../src-main/util/resource-path.ts'
import {
  captionKeyMap, promptEmojiKeys, renderTrainingEmojiPromptFile, trainingEmojiPrompts, TRAINING_EMOJI_PROMPT_COUNT, TRAINING_EMOJI_PROMPT_FILE, TRAINING_EMOJI_PROMPT_STYLES,
} from '../../src-main/ml/judge/prompts.ts'

const item = (key: string, name: string, style: string) => ({ key, name, style, canonicalCaption: `${name}, ${style} style` }) as Parameters<typeof captionKeyMap>[0][number]

describe('judge prompts', () => {
  it('maps canonical captions back to their emoji, and refuses a caption two emoji share', () => {
    const items = [item('1f34e', 'red apple', 'twitter'), item('1f34e', 'red apple', 'google'), item('1f935', 'man in tuxedo', 'twitter'), item('1f935-200d-2642', 'man in tuxedo', 'twitter')]
    const map = captionKeyMap(items)
    assert.deepEqual(promptEmojiKeys(['red apple, google style', ' red apple, twitter style ', 'man in tuxedo, twitter style', 'a cat'], map), ['1f34e', '1f34e', null, null])
  })

  it('samples distinct emoji reproducibly, in data order, leaving ambiguous captions out', () => {
    const items = [
      ...Array.from({ length: 30 }, (_, i) => [item(`k${i}`, `emoji ${i}`, 'twitter'), item(`k${i}`, `emoji ${i}`, 'google'), item(`k${i}`, `emoji ${i}`, 'fluent')]).flat(),
      item('amb1', 'same name', 'twitter'), item('amb2', 'same name', 'twitter'),
    ]
    const a = trainingEmojiPrompts(items, { count: 10, seed: 3 })
    assert.deepEqual(a, trainingEmojiPrompts(items, { count: 10, seed: 3 }))
    assert.notDeepEqual(a, trainingEmojiPrompts(items, { count: 10, seed: 4 }))
    assert.equal(a.length, 10)
    const keys = promptEmojiKeys(a, captionKeyMap(items))
    assert.equal(new Set(keys).size, 10, 'ten different emoji')
    const order = keys.map((k) => Number(k!.slice(1)))
    assert.deepEqual(order, [...order].sort((x, y) => x - y), 'in data order')
    assert.ok(a.every((p) => /(twitter|google) style$/.test(p)), 'only the styles asked for')
    assert.throws(() => trainingEmojiPrompts(items, { count: 40 }), /only 30 training emoji/)
  })

  it('the committed training-emoji prompt file is current and names training-split emoji only', () => {
    const catalog = buildCatalog({ styles: [...TRAINING_EMOJI_PROMPT_STYLES] })
    const train = catalog.filter((e) => e.split === 'train').map((e) => e.item)
    const path = resourcePath('resources', 'prompts', TRAINING_EMOJI_PROMPT_FILE)
    assert.equal(readFileSync(path, 'utf8'), renderTrainingEmojiPromptFile(trainingEmojiPrompts(train)), 'regenerate with: npx tsx src-main/ml/judge/prompts.ts --write')
    const prompts = readPromptFile(path)
    assert.equal(prompts.length, TRAINING_EMOJI_PROMPT_COUNT)
    const keys = promptEmojiKeys(prompts, captionKeyMap(catalog.map((e) => e.item)))
    const trainKeys = new Set(train.map((it) => it.key))
    keys.forEach((k, i) => assert.ok(k !== null && trainKeys.has(k), `${prompts[i]} is a training emoji's canonical caption`))
    assert.equal(new Set(keys).size, prompts.length)
  })
})
