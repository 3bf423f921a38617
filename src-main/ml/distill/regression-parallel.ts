// The regression loss of distillation (regression.ts) as a data-parallel model module (see
// ml/backend/data-parallel.ts), for `npm run distill -- --workers N` (RegressionDistiller.trainStepParallel).
// CLI-only: distillation runs under tsx, where the worker threads import this .ts file by URL; the built
// app never starts these workers, so electron-vite needs no entry for it.
//
// The main thread's model is built around the distiller's own generator (regressionParallelModel, passed
// to DataParallelTrainer.create as mainModel); the workers build placeholder params of the same shapes and
// mirror the main thread's weights before every step. Nothing here is random; a batch row is
//   z [B,H,W,3]        the pair's noise
//   target [B,H,W,3]   the reference's sample from that noise
//   cond [B,L] int32   the pair's prompt as token ids
import * as tf from '@tensorflow/tfjs-core'
import { batchTensor, type DataParallelModel } from '../backend/data-parallel.ts'
import { ditEps, ditParamShapes, paramsFromValues, type DitConfig, type DitParams } from '../diffusion/dit.ts'
import { VpSchedule, type ScheduleConfig } from '../diffusion/schedule.ts'
import { generatorSample } from '../distar/losses.ts'

export interface RegressionParallelConfig {
  /** the reference's DiT config (the generator has the same architecture) */
  dit: DitConfig
  /** the reference's schedule: g reads eps at t_init with its alpha and sigma */
  schedule: ScheduleConfig
  tInit: number
}

/**
 * The regression loss over `params`: mean over the slice's pixels of (g(z, c) - target)^2, with g exactly
 * RegressionDistiller.sample. Every row has the same number of pixels, so this is also the mean of per-row
 * means, and the row-weighted average of the slices' losses is the full batch's loss.
 */
export function regressionParallelModel(config: RegressionParallelConfig, params: DitParams): DataParallelModel {
  const schedule = new VpSchedule(config.schedule)
  if (!Number.isInteger(config.tInit) || config.tInit < 0 || config.tInit >= schedule.T) {
    throw new Error(`regression-parallel: tInit must be an integer timestep below ${schedule.T}, got ${config.tInit}`)
  }
  const generator = { eps: (p: DitParams, x: tf.Tensor4D, t: tf.Tensor1D, cond: tf.Tensor) => ditEps(p, config.dit, x, t, cond as tf.Tensor2D), params }
  return {
    params,
    loss(batch, name) {
      if (name !== 'default') throw new Error(`regression-parallel: unknown loss "${name}"`)
      const need = (key: string) => batchTensor(batch, key, 'regression-parallel')
      const sample = generatorSample(generator, need('z') as tf.Tensor4D, need('cond'), schedule, config.tInit)
      return tf.mean(tf.square(tf.sub(sample, need('target')))) as tf.Scalar
    },
  }
}

/** The workers' copy: zero placeholders, since the main thread's weights are loaded before every step. */
export function createDataParallelModel(config: unknown): DataParallelModel {
  const c = config as RegressionParallelConfig
  if (!c || typeof c !== 'object' || !c.dit || !c.schedule) throw new Error('regression-parallel: config needs { dit, schedule, tInit }')
  const shapes = ditParamShapes(c.dit)
  const zeros = Object.fromEntries(Object.entries(shapes).map(([name, shape]) => [name, new Float32Array(shape.reduce((a, b) => a * b, 1))]))
  return regressionParallelModel(c, paramsFromValues(c.dit, zeros, true))
}
