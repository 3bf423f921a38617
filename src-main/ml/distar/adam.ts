// Adam over a named parameter record, with state that can be exported to plain arrays and imported back
// bit-exactly (tfjs's own optimizers key their state by global variable names and restore asynchronously).
// The learning rate and a gradient scale (for norm clipping) are given per update, so they can change
// between steps. Bias corrections are computed in JS doubles from the step count, so a restored optimizer
// continues exactly where the saved one stopped.
import * as tf from '@tensorflow/tfjs-core'
import type { NamedTensor } from './types.ts'

export interface AdamSettings {
  beta1: number
  beta2: number
  epsilon: number
}

/** Adam as SiD and Diff-Instruct train both networks: beta1 = 0 (no momentum), beta2 = 0.999. */
export const DEFAULT_ADAM: AdamSettings = { beta1: 0, beta2: 0.999, epsilon: 1e-8 }

export interface AdamState {
  /** updates applied so far (drives the bias corrections) */
  step: number
  /** first and second moments, keyed `<param>/m` and `<param>/v` */
  moments: Record<string, NamedTensor>
}

export class Adam {
  private readonly m: Record<string, tf.Variable> = {}
  private readonly v: Record<string, tf.Variable> = {}
  private stepCount = 0

  constructor(private readonly params: Record<string, tf.Variable>, readonly settings: AdamSettings = DEFAULT_ADAM) {
    // inside tidy: tf.variable keeps its initial tensor alive otherwise (tidy never disposes variables)
    tf.tidy(() => {
      for (const [name, p] of Object.entries(params)) {
        this.m[name] = tf.variable(tf.zerosLike(p), false)
        this.v[name] = tf.variable(tf.zerosLike(p), false)
      }
    })
  }

  get step(): number {
    return this.stepCount
  }

  /** One update: p -= lr * m̂ / (sqrt(v̂) + eps), with every gradient first multiplied by `gradScale`. */
  apply(grads: Record<string, tf.Tensor>, lr: number, gradScale = 1): void {
    const { beta1, beta2, epsilon } = this.settings
    this.stepCount++
    const correction1 = 1 - beta1 ** this.stepCount
    const correction2 = 1 - beta2 ** this.stepCount
    tf.tidy(() => {
      for (const [name, p] of Object.entries(this.params)) {
        const g0 = grads[name]
        if (!g0) throw new Error(`Adam: no gradient for parameter '${name}'`)
        const g = gradScale === 1 ? g0 : tf.mul(g0, gradScale)
        const m = tf.add(tf.mul(this.m[name]!, beta1), tf.mul(g, 1 - beta1))
        const v = tf.add(tf.mul(this.v[name]!, beta2), tf.mul(tf.square(g), 1 - beta2))
        this.m[name]!.assign(m)
        this.v[name]!.assign(v)
        const update = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), epsilon))
        p.assign(tf.sub(p, tf.mul(update, lr)))
      }
    })
  }

  exportState(): AdamState {
    const moments: Record<string, NamedTensor> = {}
    for (const name of Object.keys(this.params)) {
      moments[`${name}/m`] = toNamed(this.m[name]!)
      moments[`${name}/v`] = toNamed(this.v[name]!)
    }
    return { step: this.stepCount, moments }
  }

  /** Throws a clear error unless `state` fits these parameters (nothing is changed). */
  checkState(state: AdamState): void {
    if (!state || !Number.isInteger(state.step) || state.step < 0 || typeof state.moments !== 'object' || state.moments === null) {
      throw new Error('Adam.importState: not an optimizer state (need an integer step >= 0 and a moments record)')
    }
    const expected = new Set(Object.keys(this.params).flatMap((n) => [`${n}/m`, `${n}/v`]))
    for (const key of Object.keys(state.moments)) {
      if (!expected.has(key)) throw new Error(`Adam.importState: unknown moment '${key}'`)
    }
    for (const [name, p] of Object.entries(this.params)) {
      for (const kind of ['m', 'v']) {
        const t = state.moments[`${name}/${kind}`]
        if (!t) throw new Error(`Adam.importState: missing moment '${name}/${kind}'`)
        const size = p.shape.reduce((a, b) => a * b, 1)
        if (t.dtype !== 'float32' || !(t.data instanceof Float32Array)) throw new Error(`Adam.importState: moment '${name}/${kind}' must be float32, got ${t.dtype}`)
        if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]) || t.data.length !== size) {
          throw new Error(`Adam.importState: moment '${name}/${kind}' has shape [${t.shape}] (${t.data?.length} values), parameter has [${p.shape}]`)
        }
      }
    }
  }

  /** Restores a state from `exportState`; a state that does not fit is refused before anything changes. */
  importState(state: AdamState): void {
    this.checkState(state)
    tf.tidy(() => {
      for (const [name, p] of Object.entries(this.params)) {
        this.m[name]!.assign(tf.tensor(state.moments[`${name}/m`]!.data, p.shape))
        this.v[name]!.assign(tf.tensor(state.moments[`${name}/v`]!.data, p.shape))
      }
    })
    this.stepCount = state.step
  }

  dispose(): void {
    tf.dispose([...Object.values(this.m), ...Object.values(this.v)])
  }
}

function toNamed(v: tf.Variable): NamedTensor {
  return { dtype: 'float32', shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) }
}
