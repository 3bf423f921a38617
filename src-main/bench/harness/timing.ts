// Repeated timing with a median: other engineers share these 2 cores, so single runs are noise.
import * as tf from '@tensorflow/tfjs-core'

export interface Timing {
  medianMs: number
  minMs: number
  maxMs: number
  runs: number
}

/**
 * Times `fn` `repeats` times after `warmup` untimed runs and returns the median. `fn` may return
 * tensors: they are read back (so lazy backends finish) and disposed, outside any tidy.
 */
export async function timeIt(
  fn: () => tf.TensorContainer | void | Promise<tf.TensorContainer | void>,
  opts: { repeats: number; warmup?: number },
): Promise<Timing> {
  if (!(opts.repeats >= 1)) throw new Error(`timeIt: repeats must be >= 1, got ${opts.repeats}`)
  const once = async (): Promise<number> => {
    const start = performance.now()
    const out = await fn()
    const tensors = collectTensors(out)
    await Promise.all(tensors.map((t) => t.data()))
    const elapsed = performance.now() - start
    tf.dispose(tensors)
    return elapsed
  }
  for (let i = 0; i < (opts.warmup ?? 1); i++) await once()
  const times: number[] = []
  for (let i = 0; i < opts.repeats; i++) times.push(await once())
  return summarise(times)
}

export function summarise(times: number[]): Timing {
  const sorted = [...times].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const medianMs = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  return { medianMs, minMs: sorted[0], maxMs: sorted[sorted.length - 1], runs: sorted.length }
}

/** "median of 5 (min 12.1, max 14.0)" for a row's notes. */
export function spread(t: Timing): string {
  return `median of ${t.runs} (min ${t.minMs.toFixed(1)}, max ${t.maxMs.toFixed(1)})`
}

function collectTensors(out: unknown): tf.Tensor[] {
  if (out instanceof tf.Tensor) return [out]
  if (Array.isArray(out)) return out.flatMap(collectTensors)
  if (out && typeof out === 'object') return Object.values(out).flatMap(collectTensors)
  return []
}
