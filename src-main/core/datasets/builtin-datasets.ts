// The built-in emoji data as datasets in the Data view: listed from the emoji catalogue (names,
// captions, splits; no image is copied into the workspace), built once per studio in a worker thread
// (buildCatalog reads big JSON files synchronously; about a second for the six-style set) and kept.
import type { DatasetItemInfo, DatasetSummary } from '../../contract/index.ts'
import { captionStats } from '../../ml/data/caption-stats.ts'
import { BUILTIN_EMOJI_DATASETS, type BuiltinDatasetId } from '../../ml/data/dataset.ts'
import { DEFAULT_IMAGE_SIZE } from '../../ml/data/emoji-dataset.ts'
import { createWorker } from '../jobs/job-manager.ts'
import { knownEmojiWorkerEntry } from '../known-emoji.ts'

export interface BuiltinDataset {
  summary: DatasetSummary
  items: { id: string; captions: string[]; split: 'train' | 'validation' }[]
}

export type BuiltinItems = (id: BuiltinDatasetId) => Promise<BuiltinDataset['items']>

function itemsInWorker(id: BuiltinDatasetId): Promise<BuiltinDataset['items']> {
  return new Promise((resolve, reject) => {
    const worker = createWorker(knownEmojiWorkerEntry(), { styles: [...BUILTIN_EMOJI_DATASETS[id].styles], task: 'dataset-items' })
    worker.once('message', (message: { ok: true; items: BuiltinDataset['items'] } | { ok: false; error: string }) => {
      if (message.ok) resolve(message.items)
      else reject(new Error(`Could not list the built-in dataset ${id}: ${message.error}`))
    })
    worker.once('error', (err) => reject(new Error(`The emoji list worker failed: ${err.message}`)))
    worker.once('exit', (code) => reject(new Error(`The emoji list worker exited (code ${code}) before answering`)))
  })
}

export class BuiltinDatasets {
  private readonly built = new Map<BuiltinDatasetId, Promise<BuiltinDataset>>()

  constructor(private readonly listItems: BuiltinItems = itemsInWorker) {}

  get(id: BuiltinDatasetId): Promise<BuiltinDataset> {
    let entry = this.built.get(id)
    if (!entry) {
      entry = this.listItems(id).then((items) => {
        const validation = items.filter((i) => i.split === 'validation').length
        const info = BUILTIN_EMOJI_DATASETS[id]
        const summary: DatasetSummary = {
          id, name: info.name, builtin: true, description: info.description, imageSize: DEFAULT_IMAGE_SIZE,
          counts: { items: items.length, train: items.length - validation, validation, skipped: 0 },
          stats: captionStats(items),
        }
        return { summary, items }
      })
      this.built.set(id, entry)
      entry.catch(() => this.built.get(id) === entry && this.built.delete(id))
    }
    return entry
  }

  all(): Promise<BuiltinDataset[]> {
    return Promise.all((Object.keys(BUILTIN_EMOJI_DATASETS) as BuiltinDatasetId[]).map((id) => this.get(id)))
  }
}

export function builtinItemInfo(item: BuiltinDataset['items'][number], index: number): DatasetItemInfo {
  return { index, label: item.id, captions: item.captions, split: item.split }
}
