// Warm start for a new DiT's word embeddings: copy the rows of a trained alignment model's word
// embedding table (`npm run pretrain -- --text-init resources/models/alignment`).
//
// Why: a fresh DiT learns which emoji a caption names slowly (its caption gap at high noise grows over
// thousands of steps, docs/experiments/text-conditioning.md), while the alignment model's table was
// trained contrastively on the same captions to tell emoji apart. Both encoders start from a mean of
// word embeddings of the same width, so the rows carry over as they are, matched by word; pad and the
// hashed unknown-word buckets keep the DiT's own initialisation.
import * as tf from '@tensorflow/tfjs-core'
import { loadCheckpoint } from '../checkpoint/checkpoint.ts'
import { ALIGNMENT_MODEL_KIND } from '../rewards/alignment-model.ts'
import { Tokenizer } from '../text/tokenizer.ts'
import type { DitParams } from './dit.ts'

export interface TextInitReport {
  /** words of the DiT's vocabulary whose row came from the alignment model */
  copied: number
  /** words the alignment model does not know (they keep the DiT's initialisation) */
  missing: number
  /** root mean square of the copied rows' values (the DiT's own init is 0.02) */
  rms: number
}

/**
 * Overwrites `params['text.embed']` rows with the alignment model's rows for the same words. Throws a
 * clear error if `alignmentDir` is not an alignment model or its embedding width differs.
 */
export async function warmStartTextEmbedding(params: DitParams, tokenizer: Tokenizer, alignmentDir: string): Promise<TextInitReport> {
  const checkpoint = await loadCheckpoint(alignmentDir)
  const config = checkpoint.config as { kind?: unknown; tokenizer?: unknown } | null
  if (config?.kind !== ALIGNMENT_MODEL_KIND) throw new Error(`--text-init: ${alignmentDir} is not an alignment model (config kind ${JSON.stringify(config?.kind)})`)
  const source = Tokenizer.fromJSON(config.tokenizer)
  const table = checkpoint.tensors['text.embed']
  const target = params['text.embed']
  if (!table || !target) throw new Error(`--text-init: ${table ? 'the DiT' : alignmentDir} has no 'text.embed' table`)
  const [rows, width] = target.shape as [number, number]
  if (table.shape.length !== 2 || table.shape[1] !== width || table.shape[0] !== source.vocabSize) {
    throw new Error(`--text-init: the alignment model's word table is [${table.shape}], the DiT's is [${rows}, ${width}]; the widths must match`)
  }
  const from = table.data as Float32Array
  const values = target.dataSync().slice() as Float32Array
  let copied = 0
  let missing = 0
  let squares = 0
  for (const word of tokenizer.toJSON().words) {
    const to = tokenizer.wordId(word)!
    const at = source.wordId(word)
    if (at === null) {
      missing++
      continue
    }
    const row = from.subarray(at * width, (at + 1) * width)
    values.set(row, to * width)
    for (const v of row) squares += v * v
    copied++
  }
  target.assign(tf.tensor2d(values, [rows, width]))
  return { copied, missing, rms: copied > 0 ? Math.sqrt(squares / (copied * width)) : 0 }
}
