// Picks and initialises the fastest TensorFlow.js backend present, once per thread.
// Order: tfjs-node-gpu > tfjs-node > wasm (SIMD) > cpu. The native packages are optional installs,
// so they are imported dynamically and any failure to load falls through to the next candidate.
import * as tf from '@tensorflow/tfjs-core'
// tfjs-core's CommonJS entry (what Node loads) carries no gradient definitions. Its ES-module
// `dist/register_all_gradients` cannot be loaded by plain Node or tsx (extensionless and directory
// imports), so we load the @tensorflow/tfjs union package, whose Node bundle registers every gradient
// into tfjs's global registry (shared with our tfjs-core import). Same version, so one engine.
import '@tensorflow/tfjs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { probeTfBackends, type TfBackendName, type TfBackendProbe } from './probe.ts'
import { registerFastMatMulGradient } from './gradients.ts'
import { registerWasmTrainingKernels } from './wasm-kernels.ts'

export type { TfBackendName } from './probe.ts'

export interface TfBackendInfo {
  /** which backend trains: our name, see probe.ts */
  name: TfBackendName
  /** npm package that provides it */
  package: string
  /** wasm only: SIMD instructions in use (XNNPACK's fast path) */
  simd: boolean
  /** threads the backend itself uses for one op (wasm: 1 in Node; see data-parallel.ts for using both cores) */
  threads: number
  /** one human line: why this backend, and what fell through */
  detail: string
}

export interface InitTfOptions {
  /** use this backend if it is available (falls back to the usual order otherwise) */
  prefer?: TfBackendName
}

const require = createRequire(import.meta.url)

/**
 * Directory holding the wasm binaries, resolved through Node's module resolution so it works from
 * source (tsx), from the electron-vite build in out/ (dependencies stay external there), and in
 * worker threads (each thread resolves its own). Ends with a separator, as setWasmPaths expects.
 */
export function wasmBinaryDir(): string {
  const pkgDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'))
  return join(pkgDir, 'dist') + '/'
}

type Loader = () => Promise<{ simd: boolean; threads: number }>

/** tfjs names of our backends (tfjs-node and -gpu both register 'tensorflow'). */
const TF_NAME: Record<TfBackendName, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
}

const LOADERS: Record<TfBackendName, Loader> = {
  'tensorflow-gpu': async () => {
    await import('@tensorflow/tfjs-node-gpu' as string)
    return { simd: false, threads: 0 }
  },
  tensorflow: async () => {
    await import('@tensorflow/tfjs-node' as string)
    return { simd: false, threads: 0 }
  },
  wasm: async () => {
    const wasm = await importWasmBackend()
    wasm.setWasmPaths(wasmBinaryDir())
    registerWasmTrainingKernels()
    await withoutNewProcessListeners(async () => {
      if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false')
    })
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))
    return { simd, threads: wasm.getThreadsCount() }
  },
  cpu: async () => {
    await import('@tensorflow/tfjs-backend-cpu')
    return { simd: false, threads: 1 }
  },
}

interface WasmModule {
  setWasmPaths(prefix: string): void
  getThreadsCount(): number
}

/** The wasm package is CommonJS; depending on the loader its exports arrive named or under default. */
async function importWasmBackend(): Promise<WasmModule> {
  const mod = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmModule & { default?: WasmModule }
  return typeof mod.setWasmPaths === 'function' ? mod : (mod.default as WasmModule)
}

/**
 * Emscripten's glue installs process handlers that rethrow every uncaught exception and unhandled
 * rejection from inside the minified wasm loader, so any later crash prints ~30 kB of minified code
 * instead of the real stack. We remove the handlers it adds; Node's defaults behave the same, legibly.
 */
async function withoutNewProcessListeners(run: () => Promise<void>): Promise<void> {
  const events = ['uncaughtException', 'unhandledRejection'] as const
  type Listener = (...args: unknown[]) => void
  const listenersOf = (e: (typeof events)[number]) => process.listeners(e as 'uncaughtException') as Listener[]
  const before = events.map((e) => new Set(listenersOf(e)))
  try {
    await run()
  } finally {
    events.forEach((e, i) => {
      for (const listener of listenersOf(e)) {
        if (!before[i].has(listener)) process.removeListener(e, listener)
      }
    })
  }
}

let current: Promise<TfBackendInfo> | null = null
let currentPreference: TfBackendName | undefined

/**
 * Initialise TensorFlow.js on the fastest backend present. Idempotent: later calls return the same
 * info, unless they prefer a different backend, which then re-initialises.
 */
export function initTf(opts: InitTfOptions = {}): Promise<TfBackendInfo> {
  if (current && (opts.prefer === undefined || opts.prefer === currentPreference)) return current
  currentPreference = opts.prefer
  const attempt = selectBackend(opts.prefer)
  current = attempt
  // A failed init must not poison later attempts.
  attempt.catch(() => {
    if (current === attempt) current = null
  })
  return attempt
}

async function selectBackend(prefer?: TfBackendName): Promise<TfBackendInfo> {
  registerFastMatMulGradient() // global, but takes effect on wasm only (see gradients.ts)
  const probes = probeTfBackends()
  const ordered = orderCandidates(probes, prefer)
  const skipped: string[] = probes.filter((p) => !p.available).map((p) => `${p.name}: ${p.detail}`)
  for (const probe of ordered) {
    try {
      const { simd, threads } = await LOADERS[probe.name]()
      if (tf.getBackend() !== TF_NAME[probe.name] && !(await tf.setBackend(TF_NAME[probe.name]))) {
        throw new Error(`tf.setBackend("${TF_NAME[probe.name]}") returned false`)
      }
      await tf.ready()
      const notes = [probe.detail]
      if (probe.name === 'wasm') notes.push('kernel fixes: Conv2DBackpropFilter, shape-safe BatchMatMul, leading-axis Sum as matMul')
      if (prefer && prefer !== probe.name) notes.push(`preferred ${prefer} unavailable`)
      if (skipped.length > 0) notes.push(`skipped: ${skipped.join('; ')}`)
      return { name: probe.name, package: probe.package, simd, threads, detail: notes.join('. ') }
    } catch (err) {
      skipped.push(`${probe.name}: failed to load (${err instanceof Error ? err.message : String(err)})`)
    }
  }
  throw new Error(`No TensorFlow.js backend could be initialised. ${skipped.join('; ')}`)
}

function orderCandidates(probes: TfBackendProbe[], prefer?: TfBackendName): TfBackendProbe[] {
  const available = probes.filter((p) => p.available)
  if (!prefer) return available
  const wanted = available.filter((p) => p.name === prefer)
  return [...wanted, ...available.filter((p) => p.name !== prefer)]
}
