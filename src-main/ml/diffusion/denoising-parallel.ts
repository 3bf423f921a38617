// The DiT denoising loss as a data-parallel model module (see ml/backend/data-parallel.ts), for
// `npm run pretrain -- --workers N` (DenoisingTrainer.trainStepParallel). CLI-only: pretraining runs
// under tsx, where the worker threads import this .ts file by URL; the built app never loads it, so
// electron-vite needs no entry for it.
//
// Every thread builds the same DiT; the main thread's params are the trained ones (the workers
// mirror them each step). Everything random arrives in the batch, one row per sample:
//   x0 [B,H,W,C], noise [B,H,W,C]   clean images and their noise
//   t [B] int32                     timesteps; alpha_t and sigma_t are looked up here from the schedule
//   cond [B,L] int32                token ids (caption dropout already applied)
//   weights [B]                     min-SNR loss weights (minSnrWeights)
// so a row's loss does not depend on the thread computing it.
import * as tf from '@tensorflow/tfjs-core'
import { batchTensor, type DataParallelModel } from '../backend/data-parallel.ts'
import { ditEps, initDitValues, paramsFromValues, validateDitConfig, type DitConfig } from './dit.ts'
import { VpSchedule, type ScheduleConfig } from './schedule.ts'
import { denoisingLossFromTensors } from './training.ts'

export interface DenoisingParallelConfig {
  /** the full DiT config (as DiffusionModel.create completes it) */
  dit: DitConfig
  schedule: ScheduleConfig
  /** init seed: the params start as DiffusionModel.create(..., seed) would make them */
  seed: number
}

export function createDataParallelModel(config: unknown): DataParallelModel {
  const c = config as DenoisingParallelConfig
  if (!c || typeof c !== 'object' || !Number.isInteger(c.seed)) throw new Error('denoising-parallel: config needs { dit, schedule, seed }')
  validateDitConfig(c.dit)
  const schedule = new VpSchedule(c.schedule)
  const params = paramsFromValues(c.dit, initDitValues(c.dit, c.seed), true)
  // float32 tables: gathering from them gives exactly the values coefficients() builds per row
  const alphaTable = Float32Array.from(schedule.alphas)
  const sigmaTable = Float32Array.from(schedule.sigmas)
  return {
    params,
    loss(batch, name) {
      if (name !== 'default') throw new Error(`denoising-parallel: unknown loss "${name}"`)
      const need = (key: string) => batchTensor(batch, key, 'denoising-parallel')
      const t = need('t') as tf.Tensor1D
      const rows = t.shape[0]
      const perRow = (table: Float32Array) => tf.reshape(tf.gather(tf.tensor1d(table), t), [rows, 1, 1, 1]) as tf.Tensor4D
      const { weighted, plain } = denoisingLossFromTensors(
        (p, x, tt, cond) => ditEps(p, c.dit, x, tt, cond as tf.Tensor2D), params,
        {
          x0: need('x0') as tf.Tensor4D, noise: need('noise') as tf.Tensor4D, cond: need('cond'),
          alpha: perRow(alphaTable), sigma: perRow(sigmaTable), t: tf.cast(t, 'float32'),
          weights: need('weights') as tf.Tensor1D,
        },
      )
      return { loss: weighted, metrics: { plain } }
    },
  }
}
