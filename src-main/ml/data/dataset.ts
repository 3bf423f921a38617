// One data path for training: a Dataset is a list of items (image + caption variants), each in the
// train or validation split, whose pixels load as NHWC float32 in [-1, 1]. The built-in emoji data
// (emoji-dataset.ts) and folders imported into the workspace (image-folder.ts) are both Datasets, so
// pretraining, alignment and distillation read either the same way (splitDataset, then sampleBatch).

import { loadEmojiDatasetWithInfo, type EmojiDatasetOptions } from './emoji-dataset.ts'
import { EMOJI_STYLES, TRAINING_STYLES } from './emoji-catalog.ts'

export type SplitName = 'train' | 'validation'

export interface DatasetItem {
  /** Stable within the dataset (an emoji's "<key>/<style>", an imported image's index). */
  id: string
  /** Caption variants, the first the main one; never empty. */
  captions: string[]
  split: SplitName
}

export interface Dataset {
  id: string
  imageSize: number
  items: DatasetItem[]
  /** Every item's pixels in item order: items.length * imageSize * imageSize * 3 floats in [-1, 1], NHWC. */
  loadPixels(): Promise<Float32Array>
}

/** The images of one split with their items: what training batches are drawn from (sampleBatch). */
export interface ImageSplit<Item extends { captions: string[] } = { captions: string[] }> {
  imageSize: number
  /** N*H*W*3, NHWC, in [-1, 1]; image i belongs to items[i]. */
  images: Float32Array
  items: Item[]
}

/** Loads a dataset's pixels and cuts them into its train and validation splits (item order kept). */
export async function splitDataset(dataset: Dataset): Promise<{ train: ImageSplit<DatasetItem>; validation: ImageSplit<DatasetItem> }> {
  const pixels = await dataset.loadPixels()
  const per = dataset.imageSize * dataset.imageSize * 3
  if (pixels.length !== dataset.items.length * per) throw new Error(`dataset ${dataset.id}: ${pixels.length} floats for ${dataset.items.length} items of ${dataset.imageSize}px`)
  const pick = (split: SplitName): ImageSplit<DatasetItem> => {
    const chosen = dataset.items.map((item, i) => ({ item, i })).filter(({ item }) => item.split === split)
    const images = new Float32Array(chosen.length * per)
    chosen.forEach(({ i }, j) => images.set(pixels.subarray(i * per, (i + 1) * per), j * per))
    return { imageSize: dataset.imageSize, images, items: chosen.map(({ item }) => item) }
  }
  return { train: pick('train'), validation: pick('validation') }
}

/** The built-in emoji data sets the workspace lists (read-only; nothing is copied into the workspace). */
export const BUILTIN_EMOJI_DATASETS = {
  'builtin-emoji': {
    name: 'Emoji (Twemoji and Noto)',
    description: 'The two emoji-datasource PNG sets the shipped models were trained on; split by emoji, 5 % held out.',
    styles: EMOJI_STYLES,
  },
  'builtin-emoji-multi-style': {
    name: 'Emoji, six drawing styles',
    description: 'Twemoji, Noto, Fluent, Fluent Flat, Noto v1 and Firefox OS (Emoji One is held out); split by emoji, 5 % held out.',
    styles: TRAINING_STYLES,
  },
} as const
export type BuiltinDatasetId = keyof typeof BUILTIN_EMOJI_DATASETS

export function isBuiltinDatasetId(id: string): id is BuiltinDatasetId {
  return Object.hasOwn(BUILTIN_EMOJI_DATASETS, id)
}

/**
 * A built-in emoji data set as a Dataset: items in the emoji loader's order (train split, then
 * validation), pixels decoded once and cached by the emoji loader.
 */
export async function emojiDataset(id: BuiltinDatasetId, opts: Omit<EmojiDatasetOptions, 'styles'> = {}): Promise<Dataset> {
  const { train, validation } = await loadEmojiDatasetWithInfo({ ...opts, styles: BUILTIN_EMOJI_DATASETS[id].styles })
  const items: DatasetItem[] = [
    ...train.items.map((e) => ({ id: `${e.key}/${e.style}`, captions: e.captions, split: 'train' as const })),
    ...validation.items.map((e) => ({ id: `${e.key}/${e.style}`, captions: e.captions, split: 'validation' as const })),
  ]
  return {
    id,
    imageSize: train.imageSize,
    items,
    async loadPixels() {
      const out = new Float32Array(train.images.length + validation.images.length)
      out.set(train.images, 0)
      out.set(validation.images, train.images.length)
      return out
    },
  }
}
