// onnxruntime-node sessions: pick execution providers (CUDA where its libraries are installed, else CPU),
// create sessions once and reuse them. The Node binding is inference-only.
import * as ort from 'onnxruntime-node'

export type ExecutionProvider = 'cuda' | 'cpu'

export interface ProviderReport {
  /** providers compiled into this onnxruntime-node build */
  supported: { name: string; bundled: boolean }[]
  /** the providers sessions will be created with, in priority order */
  chosen: ExecutionProvider[]
}

export function reportProviders(prefer: ExecutionProvider | 'auto' = 'auto'): ProviderReport {
  const supported = ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }))
  // CUDA is listed but not bundled: its shared libraries arrive only with the package's CUDA install
  // (ONNXRUNTIME_NODE_INSTALL_CUDA=v12 at npm install time). Creating a session then falls back with an error,
  // so we try it only when asked for or when the user installed it.
  const cudaWanted = prefer === 'cuda' || (prefer === 'auto' && process.env.DI_STUDIO_ORT_CUDA === '1')
  const chosen: ExecutionProvider[] = cudaWanted && supported.some((b) => b.name === 'cuda') ? ['cuda', 'cpu'] : ['cpu']
  return { supported, chosen }
}

export interface SessionOptions {
  providers?: ExecutionProvider[]
  threads?: number
  /**
   * Let idle intra-op threads spin waiting for work (onnxruntime's default). Off by default here: with
   * cores shared (a DI* run training beside the gallery, other processes) spinning threads fight the
   * workers for CPU. Measured on this 2-core machine under load, a batch-32 DiT eps pass took ~210 ms
   * with 2 spinning threads, ~108 ms with 1 thread and ~82 ms with 2 non-spinning threads.
   */
  allowSpinning?: boolean
}

export async function createSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: opts.providers ?? reportProviders().chosen,
    intraOpNumThreads: opts.threads ?? 0,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: opts.allowSpinning ? '1' : '0' } } },
  }
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options)
  } catch (err) {
    throw new Error(`onnxruntime could not load the model: ${(err as Error).message}`)
  }
}

export { ort }
