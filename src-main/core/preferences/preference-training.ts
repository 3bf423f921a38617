// Retrains the user-preference model from the stored choices: reads both PNGs of every choice from the
// workspace, embeds them with the alignment model, fits the Bradley-Terry head (held-out split) and saves
// it to <workspace>/preferences/model, where the reward spec { kind: 'preference', modelDir } finds it.
import * as tf from '@tensorflow/tfjs-core'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PNG } from 'pngjs'
import { AlignmentModel } from '../../ml/rewards/alignment-model.ts'
import { alignmentImageFeatures, shippedAlignmentModelDir } from '../../ml/rewards/alignment-reward.ts'
import { trainBradleyTerry, type PreferenceTrainingSummary } from '../../ml/rewards/preference-model.ts'
import type { ImageFeatureExtractor } from '../../ml/rewards/reward.ts'
import type { Workspace } from '../workspace.ts'
import { PREFERENCE_MODEL_DIR, readChoices } from './choice-store.ts'

const EMBED_BATCH = 64

export interface PreferenceTrainingReport extends PreferenceTrainingSummary {
  /** workspace-relative folder of the saved model (the reward spec's modelDir) */
  modelDir: string
  /** choices skipped: malformed lines, missing or unreadable images */
  problems: string[]
}

export interface TrainPreferenceOptions {
  /** alignment model whose image features the head reads; default the shipped one */
  alignmentModelDir?: string
  /** hidden units of the head; 0 = linear (default) */
  hidden?: number
  seed?: number
  heldOutFraction?: number
  /** for tests: another feature extractor instead of the alignment model */
  extractor?: ImageFeatureExtractor
}

/** An RGB(A) PNG as one NHWC image in [-1, 1] (alpha composited over white, like the training data). */
export function decodePngImage(bytes: Buffer, expectedSize: number, what: string): Float32Array {
  let png: PNG
  try {
    png = PNG.sync.read(bytes)
  } catch (err) {
    throw new Error(`${what} is not a readable PNG: ${(err as Error).message}`)
  }
  if (png.width !== expectedSize || png.height !== expectedSize) throw new Error(`${what} is ${png.width}x${png.height}, the preference model reads ${expectedSize}x${expectedSize}`)
  const out = new Float32Array(expectedSize * expectedSize * 3)
  for (let i = 0; i < expectedSize * expectedSize; i++) {
    const a = png.data[i * 4 + 3]! / 255
    for (let c = 0; c < 3; c++) out[i * 3 + c] = ((png.data[i * 4 + c]! * a + 255 * (1 - a)) / 255) * 2 - 1
  }
  return out
}

export async function trainPreferenceModel(workspace: Workspace, opts: TrainPreferenceOptions = {}): Promise<PreferenceTrainingReport> {
  const { choices, problems } = await readChoices(workspace.root)
  const alignmentModelDir = opts.alignmentModelDir ?? shippedAlignmentModelDir()
  const alignment = opts.extractor ? undefined : await AlignmentModel.load(alignmentModelDir)
  try {
    const extractor = opts.extractor ?? alignmentImageFeatures(alignment!)
    const size = alignment?.architecture.imageSize ?? 32
    // read every usable pair first, then embed in batches (one image at a time is far slower)
    const images: Float32Array[] = []
    const winnerIsA: boolean[] = []
    // a tie says neither image is better: nothing for a Bradley-Terry model to learn from
    for (const choice of choices.filter((c) => c.winner !== 'tie')) {
      try {
        const load = async (p: string) => decodePngImage(await readFile(workspace.resolve(p)), size, p)
        const [a, b] = [await load(choice.imageA), await load(choice.imageB)]
        images.push(a, b)
        winnerIsA.push(choice.winner === 'A')
      } catch (err) {
        problems.push(`choice ${choice.id}: ${err instanceof Error ? err.message : String(err)}, skipped`)
      }
    }
    const features: Float32Array[] = []
    for (let i = 0; i < images.length; i += EMBED_BATCH) features.push(...embed(extractor, images.slice(i, i + EMBED_BATCH), size))
    const winners = winnerIsA.map((aWins, i) => features[2 * i + (aWins ? 0 : 1)]!)
    const losers = winnerIsA.map((aWins, i) => features[2 * i + (aWins ? 1 : 0)]!)
    const D = extractor.dim
    const flat = (rows: Float32Array[]) => { const out = new Float32Array(rows.length * D); rows.forEach((r, i) => out.set(r, i * D)); return out }
    const { model, summary } = trainBradleyTerry(
      { winners: flat(winners), losers: flat(losers), count: winners.length, dim: D },
      { hidden: opts.hidden ?? 0, seed: opts.seed ?? 0, ...(opts.heldOutFraction !== undefined ? { heldOutFraction: opts.heldOutFraction } : {}), features: extractor.name, ...(opts.alignmentModelDir ? { alignmentModelDir: opts.alignmentModelDir } : {}) },
    )
    try {
      await model.save(workspace.resolve(PREFERENCE_MODEL_DIR), summary)
    } finally {
      model.dispose()
    }
    return { ...summary, modelDir: PREFERENCE_MODEL_DIR, problems }
  } finally {
    alignment?.dispose()
  }
}

function embed(extractor: ImageFeatureExtractor, images: Float32Array[], size: number): Float32Array[] {
  const features = tf.tidy(() => extractor.features(tf.tensor4d(concat(images), [images.length, size, size, 3])))
  const values = features.dataSync() as Float32Array
  features.dispose()
  return images.map((_, i) => values.slice(i * extractor.dim, (i + 1) * extractor.dim))
}

function concat(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0))
  let offset = 0
  for (const a of arrays) { out.set(a, offset); offset += a.length }
  return out
}

export interface PreferenceStatusReport {
  choices: number
  problems: string[]
  /** the trained model's summary, or null before the first training (or when its files are unreadable) */
  model: (PreferenceTrainingSummary & { modelDir: string }) | null
}

/** What the Prefer view shows: how many choices are stored and how the current model scored. */
export async function readPreferenceStatus(workspace: Workspace): Promise<PreferenceStatusReport> {
  const { choices, problems } = await readChoices(workspace.root)
  let model: PreferenceStatusReport['model'] = null
  try {
    const config = JSON.parse(await readFile(join(workspace.resolve(PREFERENCE_MODEL_DIR), 'config.json'), 'utf8')) as { training?: PreferenceTrainingSummary }
    if (config.training) model = { ...config.training, modelDir: PREFERENCE_MODEL_DIR }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`preference model: ${(err as Error).message}`)
  }
  return { choices: choices.length, problems, model }
}
