// DiT parameters as a trained model has them: a fresh init zeroes the adaLN gates and the output layer,
// which keeps every block out of the output (and out of the first gradients) and would hide mistakes.
import * as tf from '@tensorflow/tfjs-core'
import { Rng } from '../../src-main/ml/util/rng.ts'

/** Adds seeded N(0, 0.1^2) noise to every parameter, in place. */
export function perturbParams(params: Record<string, tf.Variable>, seed: number): void {
  const rng = new Rng(seed)
  for (const v of Object.values(params)) tf.tidy(() => v.assign(tf.add(v, tf.mul(tf.tensor(rng.normals(v.size), v.shape), 0.1))))
}
