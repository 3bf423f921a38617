// What a model choice can do, from its kind in the models list.
import type { ModelInfo } from '../../../src-main/contract/index.ts'

/**
 * A diffusion model (the reference or a saved DiT): a base model for DI*, a multi-step sampler, and
 * with a t_init a one-step generator. ONNX packages and DI* runs are used as they are.
 */
export function isDiffusionModel(model: Pick<ModelInfo, 'kind'>): boolean {
  return model.kind === 'reference' || model.kind === 'diffusion'
}
