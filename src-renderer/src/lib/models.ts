// What a model choice can do, from its kind in the models list.
import type { ModelInfo, RunSummary } from '../../../src-main/contract/index.ts'

/**
 * A diffusion model (the reference or a saved DiT): a base model for DI*, a multi-step sampler, and
 * with a t_init a one-step generator. ONNX packages and DI* runs are used as they are.
 */
export function isDiffusionModel(model: Pick<ModelInfo, 'kind'>): boolean {
  return model.kind === 'reference' || model.kind === 'diffusion'
}

/**
 * Checkpoint steps a DI* run needs before a one-step view offers it first: a run stopped after a few
 * steps has barely moved from where it started (the default run checkpoints every 50 of 300 steps).
 */
export const MIN_DEFAULT_RUN_STEPS = 50

/**
 * The model a one-step view (Gallery, Compare's generator side) offers first: the newest DI* run's
 * generator that is worth it (the models list puts runs newest first; not a failed run, and at least
 * MIN_DEFAULT_RUN_STEPS steps at its checkpoint), else the shipped distilled generator, else the first
 * available model. The raw reference read at t_init makes blurry images, so it comes last. Every run
 * stays in the list to pick by hand.
 */
export function defaultGenerator<M extends Pick<ModelInfo, 'kind' | 'available' | 'path'> & { step?: number }>(
  models: readonly M[],
  runs: readonly Pick<RunSummary, 'runId' | 'state'>[] = [],
): M | undefined {
  const usable = models.filter((m) => m.available)
  const failed = new Set(runs.filter((r) => r.state === 'failed').map((r) => `runs/${r.runId}`))
  const worthIt = (m: M) => m.kind === 'run' && (m.step ?? 0) >= MIN_DEFAULT_RUN_STEPS && !failed.has(m.path)
  return usable.find(worthIt) ?? usable.find((m) => m.kind === 'one-step') ?? usable[0] ?? models[0]
}
