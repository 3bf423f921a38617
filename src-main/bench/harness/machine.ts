// The machine a benchmark ran on, printed above the table so numbers can be compared across runs.
import os from 'node:os'
import type { TfBackendInfo } from '../../ml/backend/init.ts'

export interface MachineInfo {
  cpuModel: string
  cores: number
  ramGiB: number
  node: string
  platform: string
  /** 1, 5 and 15 minute load averages: a loaded machine means slower, noisier numbers */
  loadAverage: [number, number, number]
  backend: string
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
    loadAverage: [l1, l5, l15],
    backend: `${backend.name} (${backend.package}; ${flags.join(', ')})`,
  }
}

export function formatMachine(m: MachineInfo): string[] {
  return [
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB.toFixed(1)} GiB RAM, ${m.platform}`,
    `node ${m.node}; tfjs backend: ${m.backend}`,
    `load average (1/5/15 min): ${m.loadAverage.map((l) => l.toFixed(2)).join(' / ')}` +
      (m.loadAverage[0] > m.cores * 0.5 ? '  <- machine is busy; timings will be slower and noisier' : ''),
  ]
}
