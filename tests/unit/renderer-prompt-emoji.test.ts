// The prompt helper's pure parts (src-renderer/src/lib/prompt-emoji.ts): the filter over a model's
// emoji list, the prompt a name inserts with or without a style, and adding it as a line.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { KnownEmoji } from '../../src-main/contract/index.ts'
import { addPromptLine, filterEmoji, promptFor } from '../../src-renderer/src/lib/prompt-emoji.ts'

const categories: KnownEmoji['categories'] = [
  { name: 'Smileys & Emotion', emoji: [{ key: '1f600', name: 'grinning face', prompt: 'grinning face' }] },
  {
    name: 'Food & Drink',
    emoji: [
      { key: '1f34d', name: 'pineapple', prompt: 'pineapple' },
      { key: '1f34e', name: 'red apple', prompt: 'red apple' },
      { key: '1f34f', name: 'green apple', prompt: 'green apple', styles: ['google'] },
      { key: '1f350', name: 'pear', prompt: 'pear' },
    ],
  },
]
const names = (groups: ReturnType<typeof filterEmoji>) => groups.map((g) => [g.name, g.start, g.emoji.map((e) => e.name)])

describe('prompt helper', () => {
  it('filters by every word of the query in the name or the category, keeping the categories\' order', () => {
    assert.deepEqual(names(filterEmoji(categories, '', null)), [
      ['Smileys & Emotion', 0, ['grinning face']],
      ['Food & Drink', 1, ['pineapple', 'red apple', 'green apple', 'pear']],
    ])
    assert.deepEqual(names(filterEmoji(categories, 'apple', null)), [['Food & Drink', 0, ['pineapple', 'red apple', 'green apple']]])
    assert.deepEqual(names(filterEmoji(categories, '  Red   APPLE ', null)), [['Food & Drink', 0, ['red apple']]])
    assert.deepEqual(names(filterEmoji(categories, 'food pear', null)), [['Food & Drink', 0, ['pear']]])
    assert.deepEqual(names(filterEmoji(categories, 'emotion', null)), [['Smileys & Emotion', 0, ['grinning face']]])
    assert.deepEqual(filterEmoji(categories, 'kangaroo', null), [])
  })

  it('with a style chosen, shows only the emoji drawn in it', () => {
    assert.deepEqual(names(filterEmoji(categories, 'apple', 'twitter')), [['Food & Drink', 0, ['pineapple', 'red apple']]])
    assert.deepEqual(names(filterEmoji(categories, 'apple', 'google')), [['Food & Drink', 0, ['pineapple', 'red apple', 'green apple']]])
  })

  it('inserts the bare name, or with a style that style\'s canonical caption', () => {
    assert.equal(promptFor({ prompt: 'red apple' }, null), 'red apple')
    assert.equal(promptFor({ prompt: 'red apple' }, { style: 'twitter', suffix: ', twitter style' }), 'red apple, twitter style')
  })

  it('adds a prompt as a new last line, once', () => {
    assert.deepEqual(addPromptLine('', 'red apple'), { text: 'red apple', added: true })
    assert.deepEqual(addPromptLine('a black cat', 'red apple'), { text: 'a black cat\nred apple', added: true })
    assert.deepEqual(addPromptLine('a black cat\n\n  \n', 'red apple'), { text: 'a black cat\nred apple', added: true })
    assert.deepEqual(addPromptLine('red apple\na black cat', 'red apple'), { text: 'red apple\na black cat', added: false })
    assert.deepEqual(addPromptLine('  red apple  \n', 'red apple'), { text: '  red apple  \n', added: false })
    assert.deepEqual(addPromptLine('red apple, twitter style', 'red apple'), { text: 'red apple, twitter style\nred apple', added: true })
  })
})
