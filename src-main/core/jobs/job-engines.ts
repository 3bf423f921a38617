// How a job starts its compute engine with the user's settings (Settings view) and says what it got:
// TensorFlow.js on the preferred backend (initTf falls back to the usual order when it is missing), and
// onnxruntime with the chosen intra-op thread count. Each job runs in a fresh worker, so a changed
// setting applies from the next job on. Engines load lazily: a gallery job never loads TensorFlow.js.
import type { TfBackendInfo } from '../../ml/backend/init.ts'
import type { OnnxInference } from '../../ml/onnx/inference.ts'
import type { JobContext } from './job-context.ts'

export async function initJobTensorflow(ctx: JobContext): Promise<TfBackendInfo> {
  const { initTf } = await import('../../ml/backend/init.ts')
  const prefer = ctx.settings?.tfBackend
  const backend = await initTf(prefer ? { prefer } : {})
  ctx.reportRuntime?.({ engine: 'tensorflow.js', backend: backend.name, detail: `${backend.package}: ${backend.detail}`.slice(0, 2000) })
  return backend
}

/**
 * Threads a DI* run computes its gradients on. Explicit in Settings, or automatic: on wasm/cpu (one
 * thread per op in Node) the cores shared among the jobs that may run at once, at most 4 (the measured
 * gain is 1.75-1.9x on 2 cores; more threads mean smaller slices); on tfjs-node, 1, since its ops
 * already use every core.
 */
export function jobTrainingThreads(settings: JobContext['settings'], backendName: string, cpus: number): number {
  if (settings?.trainingThreads !== undefined) return settings.trainingThreads
  if (backendName !== 'wasm' && backendName !== 'cpu') return 1
  return Math.max(1, Math.min(4, Math.floor(cpus / Math.max(1, settings?.jobsAtOnce ?? 1))))
}

/** Reports a backend chosen elsewhere (a test's stand-in for initTf). */
export function reportTensorflowBackend(ctx: JobContext, backend: { name: string; package: string }): void {
  ctx.reportRuntime?.({ engine: 'tensorflow.js', backend: backend.name, detail: backend.package })
}

export async function newJobInference(ctx: JobContext): Promise<OnnxInference> {
  const { OnnxInference } = await import('../../ml/onnx/inference.ts')
  const threads = ctx.settings?.onnxThreads
  const inference = new OnnxInference(threads !== undefined ? { threads } : {})
  const { chosen, supported } = inference.providers
  const threadText = threads ? `${threads} intra-op thread${threads === 1 ? '' : 's'}` : "onnxruntime's default thread count"
  ctx.log(`onnxruntime execution providers: ${chosen.join(', ')} (this build supports ${supported.map((s) => s.name).join(', ')}); ${threadText}`)
  ctx.reportRuntime?.({ engine: 'onnxruntime', backend: chosen.join('+'), threads: threads ?? 0, detail: threadText })
  return inference
}
