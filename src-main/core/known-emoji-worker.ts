// Worker thread that builds one style set's emoji list (known-emoji-list.ts) off the core's thread,
// posts it and exits. Runs from source under tsx (tests) and as out/main/known-emoji-worker.js (the build).
import { parentPort, workerData } from 'node:worker_threads'
import type { EmojiStyle } from '../ml/data/captions.ts'
import { buildKnownEmojiList } from './known-emoji-list.ts'

if (!parentPort) throw new Error('known-emoji-worker must run inside a worker thread')
const { styles } = workerData as { styles: EmojiStyle[] }
try {
  parentPort.postMessage({ ok: true, list: buildKnownEmojiList(styles) })
} catch (err) {
  parentPort.postMessage({ ok: false, error: (err as Error)?.message ?? String(err) })
}
