// Which TensorFlow.js backends could train here, fastest first, without loading any of them.
// tfjs-node(-gpu) are optional installs (their install script downloads libtensorflow), so
// "installed" is decided by whether the package and its native binding resolve.
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

export type TfBackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu'

export interface TfBackendProbe {
  name: TfBackendName
  /** npm package that provides it */
  package: string
  available: boolean
  detail: string
}

const require = createRequire(import.meta.url)

function resolvePackageDir(pkg: string): string | null {
  try {
    return dirname(require.resolve(`${pkg}/package.json`))
  } catch {
    return null
  }
}

function probeTfNode(name: TfBackendName, pkg: string): TfBackendProbe {
  const dir = resolvePackageDir(pkg)
  if (!dir) return { name, package: pkg, available: false, detail: `${pkg} is not installed (optional)` }
  // The package can be present while its native addon failed to download; the binding lives in lib/.
  const hasBinding = existsSync(join(dir, 'lib')) && existsSync(join(dir, 'deps'))
  return hasBinding
    ? { name, package: pkg, available: true, detail: `${pkg} with native libtensorflow` }
    : { name, package: pkg, available: false, detail: `${pkg} is installed but its native libtensorflow is missing` }
}

export function probeTfBackends(): TfBackendProbe[] {
  const wasmDir = resolvePackageDir('@tensorflow/tfjs-backend-wasm')
  const cpuDir = resolvePackageDir('@tensorflow/tfjs-backend-cpu')
  return [
    probeTfNode('tensorflow-gpu', '@tensorflow/tfjs-node-gpu'),
    probeTfNode('tensorflow', '@tensorflow/tfjs-node'),
    {
      name: 'wasm',
      package: '@tensorflow/tfjs-backend-wasm',
      available: wasmDir !== null && existsSync(join(wasmDir, 'dist', 'tfjs-backend-wasm-simd.wasm')),
      detail: wasmDir ? 'WebAssembly with SIMD (XNNPACK)' : '@tensorflow/tfjs-backend-wasm is not installed',
    },
    {
      name: 'cpu',
      package: '@tensorflow/tfjs-backend-cpu',
      available: cpuDir !== null,
      detail: 'pure JavaScript; far too slow to train, last resort only',
    },
  ]
}

/** The backend that will train: the first available one, honouring an explicit preference if it is available. */
export function preferredTfBackend(preference?: TfBackendName): TfBackendProbe {
  const probes = probeTfBackends()
  const wanted = preference ? probes.find((p) => p.name === preference && p.available) : undefined
  const chosen = wanted ?? probes.find((p) => p.available)
  if (!chosen) throw new Error('No TensorFlow.js backend is installed: run npm install')
  return chosen
}
