// A tiny DI* setup for the reliability trials (npm run reliability, tests/*/reliability-*): a small DiT
// saved as the reference model inside the workspace, and a run config over it with frequent checkpoints
// and sample grids, so kills land among many writes and a whole run takes seconds.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DiffusionModel } from '../ml/diffusion/model.ts'
import { Tokenizer } from '../ml/text/tokenizer.ts'

export const TINY_PROMPTS = ['red apple', 'black cat', 'yellow star', 'blue heart']

/** Where the tiny reference lives, relative to the workspace (job configs take workspace paths). */
export const TINY_REFERENCE_DIR = 'models/reliability-tiny'

export interface TinyModelSize {
  imageSize: number
  width: number
  depth: number
  /** patch size (default 4) */
  patch?: number
}

/** 8x8 pixels, width 16, one block: a few thousand parameters (crash trials). */
export const CRASH_MODEL: TinyModelSize = { imageSize: 8, width: 16, depth: 1 }
/** 8x8 pixels, width 16, two blocks: every part of the DiT at a size where 1,000 steps take minutes (soak). */
export const SOAK_MODEL: TinyModelSize = { imageSize: 8, width: 16, depth: 2 }

/** Saves the tiny reference into `<workspace>/<TINY_REFERENCE_DIR>` once (tensors must be initialised). */
export async function ensureTinyReference(workspaceRoot: string, size: TinyModelSize = CRASH_MODEL): Promise<string> {
  const dir = join(workspaceRoot, TINY_REFERENCE_DIR)
  if (!existsSync(join(dir, 'config.json'))) await saveTinyDit(dir, TINY_PROMPTS, size)
  return dir
}

/** Saves a seeded tiny text-conditional DiT (tokenizer built from `prompts`) into `dir`; also the runs tests' fixture. */
export async function saveTinyDit(dir: string, prompts: string[], size: TinyModelSize): Promise<void> {
  const tokenizer = Tokenizer.build(prompts, { maxLength: 4 })
  const model = DiffusionModel.create(
    { imageSize: size.imageSize, channels: 3, patch: size.patch ?? 4, width: size.width, depth: size.depth, heads: 2, mlpRatio: 2, textWidth: 8 },
    { kind: 'cosine', T: 1000 }, tokenizer, 7,
  )
  try {
    await model.save(dir)
  } finally {
    model.dispose()
  }
}

/** A run config over the tiny reference (workspace-relative baseModelDir, valid for the CLI and jobs alike). */
export function tinyRunConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    baseModelDir: TINY_REFERENCE_DIR,
    reward: { kind: 'brightness' },
    batchSize: 2,
    steps: 24,
    seed: 11,
    prompts: TINY_PROMPTS,
    samples: { every: 4, prompts: TINY_PROMPTS.slice(0, 2), columns: 2 },
    checkpoints: { every: 2, keep: 3 },
    controls: { generatorLr: 1e-3, fakeLr: 1e-3, cfgScale: 3 },
    ...overrides,
  }
}
