// --text-init: a new DiT's word embedding rows start as an alignment model's rows for the same words,
// matched by word (not id); pad, unknown-word buckets and words the alignment model lacks keep the
// DiT's seeded values; anything that is not a matching alignment model is refused with a clear error.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { saveCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { DiffusionModel } from '../../src-main/ml/diffusion/model.ts'
import { warmStartTextEmbedding } from '../../src-main/ml/diffusion/text-init.ts'
import { AlignmentModel } from '../../src-main/ml/rewards/alignment-model.ts'
import { Tokenizer } from '../../src-main/ml/text/tokenizer.ts'
import { tempDir } from '../helpers/studio-fixtures.ts'

const WIDTH = 8
const ditArch = { imageSize: 8, channels: 3, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: WIDTH }
const alignmentArch = { imageSize: 8, patchSize: 4, imageWidth: 16, imageBlocks: 1, tokenMixHidden: 8, channelMixHidden: 16, textHidden: 16, embedDim: 8 }

// Different captions, so the two vocabularies order their words differently and each has a word the other lacks.
const ditTokenizer = Tokenizer.build(['red apple', 'red heart', 'black cat', 'rocket'], { maxLength: 6 })
const alignmentTokenizer = Tokenizer.build(['black cat', 'black cat', 'red apple', 'blue heart'], { maxLength: 6 })

describe('warmStartTextEmbedding', () => {
  let dir: { path: string; remove: () => Promise<void> }
  let alignment: AlignmentModel
  before(async () => {
    await initTf()
    dir = await tempDir()
    alignment = AlignmentModel.create(alignmentTokenizer, 3, { ...alignmentArch, textWidth: WIDTH }, { embeddingStd: 0.5 })
    await alignment.save(dir.path)
  })
  after(async () => {
    alignment.dispose()
    await dir.remove()
  })

  it('copies the rows of shared words by word and leaves every other row as seeded', async () => {
    const model = DiffusionModel.create(ditArch, { kind: 'cosine', T: 1000 }, ditTokenizer, 1)
    try {
      const before = model.params['text.embed']!.dataSync().slice()
      const report = await warmStartTextEmbedding(model.params, ditTokenizer, dir.path)
      const after = model.params['text.embed']!.dataSync()
      const source = alignment.params['text.embed']!.dataSync()
      const row = (data: ArrayLike<number>, id: number) => Array.from(data).slice(id * WIDTH, (id + 1) * WIDTH)
      const shared = ['red', 'apple', 'heart', 'black', 'cat']
      for (const word of shared) {
        const to = ditTokenizer.wordId(word)!
        assert.deepEqual(row(after, to), row(source, alignmentTokenizer.wordId(word)!), `row of '${word}'`)
        assert.notDeepEqual(row(after, to), row(before, to), `'${word}' changed`)
      }
      // 'rocket' is unknown to the alignment model; pad and the hashed buckets are not words.
      for (const id of [0, ...Array.from({ length: ditTokenizer.oovBuckets }, (_, i) => 1 + i), ditTokenizer.wordId('rocket')!]) {
        assert.deepEqual(row(after, id), row(before, id), `row ${id} kept`)
      }
      assert.equal(report.copied, shared.length)
      assert.equal(report.missing, 1)
      assert.ok(report.rms > 0.3 && report.rms < 0.7, `rms ${report.rms} of rows drawn at std 0.5`)
    } finally {
      model.dispose()
    }
  })

  it('refuses a folder that is not an alignment model, and a table of another width', async () => {
    const model = DiffusionModel.create(ditArch, { kind: 'cosine', T: 1000 }, ditTokenizer, 1)
    const other = await tempDir()
    const wide = AlignmentModel.create(alignmentTokenizer, 3, { ...alignmentArch, textWidth: 2 * WIDTH })
    try {
      await saveCheckpoint(other.path, { config: { kind: 'something-else' }, tensors: {} })
      await assert.rejects(warmStartTextEmbedding(model.params, ditTokenizer, other.path), /is not an alignment model/)
      await wide.save(other.path)
      await assert.rejects(warmStartTextEmbedding(model.params, ditTokenizer, other.path), /the widths must match/)
      await assert.rejects(warmStartTextEmbedding(model.params, ditTokenizer, `${other.path}/missing`), /missing|no such|not found|ENOENT/i)
    } finally {
      wide.dispose()
      model.dispose()
      await other.remove()
    }
  })
})
