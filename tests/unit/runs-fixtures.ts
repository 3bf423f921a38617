// Shared fixtures of the runs-* tests (not a test file itself): a tiny diffusion model saved to a temp
// folder, standing in for the embedded reference, and a small run config over it.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { saveTinyDit } from '../../src-main/reliability/tiny-run.ts'

export const TINY_PROMPTS = ['red apple', 'black cat', 'yellow star']

/** Saves an 8x8 DiT (a few thousand parameters) and returns its folder. */
export async function saveTinyReference(root?: string, name = 'reference'): Promise<string> {
  const dir = join(root ?? (await mkdtemp(join(tmpdir(), 'runs-ref-'))), name)
  await saveTinyDit(dir, TINY_PROMPTS, { imageSize: 8, width: 16, depth: 1 })
  return dir
}

export function tinyRunConfig(baseModelDir: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    baseModelDir,
    reward: { kind: 'brightness' },
    batchSize: 2,
    steps: 6,
    seed: 3,
    prompts: TINY_PROMPTS,
    samples: { every: 2, prompts: TINY_PROMPTS.slice(0, 2), columns: 2 },
    checkpoints: { every: 2, keep: 2 },
    controls: { generatorLr: 1e-3, fakeLr: 1e-3, cfgScale: 3 },
    ...overrides,
  }
}

export async function tempWorkspace(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'runs-ws-'))
}
