// What a model choice can do, from its kind in the models list.
import type { ModelInfo } from '../../../src-main/contract/index.ts'

/**
 * A diffusion model (the reference or a saved DiT): a base model for DI*, a multi-step sampler, and
 * with a t_init a one-step generator. ONNX packages and DI* runs are used as they are.
 */
export function isDiffusionModel(model: Pick<ModelInfo, 'kind'>): boolean {
  return model.kind === 'reference' || model.kind === 'diffusion'
}

/**
 * The model a one-step view (Gallery, Compare's generator side) offers first: the newest DI* run's
 * generator (the models list puts runs newest first), else the shipped distilled generator, else the
 * first available model. The raw reference read at t_init makes blurry images, so it comes last.
 */
export function defaultGenerator<M extends Pick<ModelInfo, 'kind' | 'available'>>(models: readonly M[]): M | undefined {
  const usable = models.filter((m) => m.available)
  return usable.find((m) => m.kind === 'run') ?? usable.find((m) => m.kind === 'one-step') ?? usable[0] ?? models[0]
}
