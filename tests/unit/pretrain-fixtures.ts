// Shared fixture of the diffusion-pretrain* tests (not a test file itself): a tiny synthetic training
// split, five captioned 8x8 "emoji" with seeded pixels, standing in for the emoji data.
import type { EmojiSplit } from '../../src-main/ml/data/emoji-dataset.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

export function syntheticSplit(): EmojiSplit {
  const names = ['red apple', 'dog face', 'rocket', 'fire', 'pizza']
  const rng = new Rng(5)
  return {
    imageSize: 8,
    images: Float32Array.from(rng.normals(names.length * 8 * 8 * 3), Math.tanh),
    items: names.map((name, i) => ({
      key: `k${i}`, name, style: 'twitter' as const, category: 'test',
      captions: [name, `${name}, twitter style`], canonicalCaption: `${name}, twitter style`,
    })),
  }
}
