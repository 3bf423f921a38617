// The machine a benchmark (or an evaluation) ran on, printed above its table so numbers can be compared
// across runs: CPU, cores, memory, OS, Node, the TensorFlow.js backend and the onnxruntime version.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import type { TfBackendInfo } from '../../ml/backend/init.ts'

export interface MachineInfo {
  cpuModel: string
  cores: number
  ramGiB: number
  node: string
  platform: string
  /** distribution and kernel, e.g. "Debian GNU/Linux 12 (bookworm), kernel 6.1.0" */
  os: string
  /** 1, 5 and 15 minute load averages: a loaded machine means slower, noisier numbers */
  loadAverage: [number, number, number]
  backend: string
  /** versions of the ML runtimes the numbers came from */
  tfjsVersion: string
  onnxruntimeVersion: string
}

const require = createRequire(import.meta.url)

/** An installed package's version from its package.json (without loading the package itself). */
export function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version?: string }).version ?? 'unknown'
  } catch {
    return 'not installed'
  }
}

function osDescription(): string {
  let distro = ''
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? ''
  } catch {
    // not Linux, or no os-release: the kernel line below still says what it is
  }
  const kernel = `${os.type()} ${os.release()}`
  return distro ? `${distro}, ${kernel}` : kernel
}

export function describeMachine(backend: TfBackendInfo): MachineInfo {
  const cpus = os.cpus()
  const [l1, l5, l15] = os.loadavg()
  const flags = [backend.simd ? 'SIMD' : '', `${backend.threads} thread${backend.threads === 1 ? '' : 's'}`].filter(Boolean)
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    ramGiB: os.totalmem() / 2 ** 30,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    os: osDescription(),
    loadAverage: [l1, l5, l15],
    backend: `${backend.name} (${backend.package}; ${flags.join(', ')})`,
    tfjsVersion: packageVersion('@tensorflow/tfjs-core'),
    onnxruntimeVersion: packageVersion('onnxruntime-node'),
  }
}

export function formatMachine(m: MachineInfo): string[] {
  return [
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB.toFixed(1)} GiB RAM, ${m.platform}`,
    `os: ${m.os}`,
    `node ${m.node}; tfjs ${m.tfjsVersion} backend: ${m.backend}; onnxruntime-node ${m.onnxruntimeVersion}`,
    `load average (1/5/15 min): ${m.loadAverage.map((l) => l.toFixed(2)).join(' / ')}` +
      (m.loadAverage[0] > m.cores * 0.5 ? '  <- machine is busy; timings will be slower and noisier' : ''),
  ]
}
