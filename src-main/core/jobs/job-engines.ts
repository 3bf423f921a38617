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
