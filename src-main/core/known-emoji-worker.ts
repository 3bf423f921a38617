// Worker thread that builds one style set's emoji list (known-emoji-list.ts), or the items of a built-in
// emoji dataset (the Data view: core/datasets/builtin-datasets.ts), off the core's thread, posts it and
// exits. Runs from source under tsx (tests) and as out/main/known-emoji-worker.js (the build).
import { parentPort, workerData } from 'node:worker_threads'
import type { EmojiStyle } from '../ml/data/captions.ts'
import { buildCatalog } from '../ml/data/emoji-catalog.ts'
import { buildKnownEmojiList } from './known-emoji-list.ts'

if (!parentPort) throw new Error('known-emoji-worker must run inside a worker thread')
const { styles, task } = workerData as { styles: EmojiStyle[]; task?: 'dataset-items' }
try {
  if (task === 'dataset-items') {
    const items = buildCatalog({ styles }).map((e) => ({ id: `${e.item.key}/${e.item.style}`, captions: e.item.captions, split: e.split }))
    parentPort.postMessage({ ok: true, items })
  } else parentPort.postMessage({ ok: true, list: buildKnownEmojiList(styles) })
} catch (err) {
  parentPort.postMessage({ ok: false, error: (err as Error)?.message ?? String(err) })
}
