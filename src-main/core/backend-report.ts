// Which TensorFlow.js backend will train and which onnxruntime execution providers exist,
// found without loading tfjs (the probe only resolves packages).
import { createRequire } from 'node:module'
import { arch, availableParallelism, platform } from 'node:os'
import type { BackendReport } from '../contract/index.ts'
import { probeTfBackends } from '../ml/backend/probe.ts'

const requireHere = createRequire(import.meta.url)

export function collectBackendReport(host: 'electron' | 'web'): BackendReport {
  const candidates = probeTfBackends()
  return {
    tensorflow: { selected: candidates.find((c) => c.available) ?? null, candidates },
    onnxruntime: probeOnnxRuntime(),
    runtime: {
      host,
      platform: platform(),
      arch: arch(),
      cpus: availableParallelism(),
      node: process.versions.node,
      ...(process.versions.electron ? { electron: process.versions.electron } : {}),
    },
  }
}

function probeOnnxRuntime(): BackendReport['onnxruntime'] {
  try {
    const ort = requireHere('onnxruntime-node') as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }
    const providers = ort.listSupportedBackends?.() ?? []
    return { available: true, providers: providers.map((p) => ({ name: p.name, bundled: p.bundled })), detail: 'onnxruntime-node' }
  } catch (err) {
    return { available: false, providers: [], detail: `onnxruntime-node failed to load: ${(err as Error).message}` }
  }
}

/** The report as a few human lines, for the terminal. */
export function formatBackendReport(report: BackendReport): string[] {
  const tf = report.tensorflow.selected
  const missing = report.tensorflow.candidates.filter((c) => !c.available).map((c) => c.name)
  const ortUsable = report.onnxruntime.providers.filter((p) => p.bundled).map((p) => p.name)
  const ortMissing = report.onnxruntime.providers.filter((p) => !p.bundled).map((p) => p.name)
  return [
    `TensorFlow.js backend: ${tf ? `${tf.name} (${tf.detail})` : 'none installed'}` +
      (missing.length ? `; not available: ${missing.join(', ')}` : ''),
    report.onnxruntime.available
      ? `onnxruntime execution providers: ${ortUsable.join(', ') || 'none'}` +
        (ortMissing.length ? `; not installed: ${ortMissing.join(', ')}` : '')
      : `onnxruntime: ${report.onnxruntime.detail}`,
  ]
}
