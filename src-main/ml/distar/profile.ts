// Where a DI* step's time goes: each part of the generator update timed on its own, plus a whole
// trainer step, for `npm run bench`. The parts run the same code as the trainer (losses.ts) with the
// same shapes; each timing ends with a one-number read-back so asynchronous backends finish their work.
import * as tf from '@tensorflow/tfjs-core'
import { Rng } from '../util/rng.ts'
import { diffuse, drawNoise, type NoiseDraw, fakeScoreLoss, generatorRegulariser, generatorSample } from './losses.ts'
import { DiStarTrainer, type DiStarTrainerOptions } from './trainer.ts'

export interface DiStarStepProfile {
  /** one whole trainer step (K fake-score updates + the generator update), as the trainer reports it */
  stepMs: number
  /** one fake-score update's forward + backward (no optimizer) */
  fakeScoreGradMs: number
  /** g_θ(z, c), forward only */
  generatorForwardMs: number
  /** g_θ forward + backward to the parameters (with a fixed image-space gradient) */
  generatorForwardBackwardMs: number
  /** reference eps (cond + empty prompt when CFG is on), forward only */
  referenceForwardMs: number
  /** fake eps, forward only */
  fakeForwardMs: number
  /** regulariser forward + backward to x0 (through the reference and fake networks in the score form) */
  regulariserGradMs: number
  /** every reward's forward + backward to x0 */
  rewardGradMs: number
}

/** Runs `warmup` + 1 trainer steps (warming every kernel), then times each part once. */
export function profileDiStarStep(options: DiStarTrainerOptions, warmup = 1): DiStarStepProfile {
  const trainer = new DiStarTrainer(options)
  try {
    for (let i = 0; i < warmup; i++) trainer.step()
    const stepMs = trainer.step().timings.totalMs
    const c = trainer.controls
    const { generator, fake, reference, schedule, tInit, batchSize, imageShape, rewards } = options
    const rng = new Rng(options.seed ^ 0x5eed)
    const shape: [number, number, number, number] = [batchSize, ...imageShape]
    const prompts: string[] = []
    const { cond, nullCond, z, t, alpha, sigma, eps, x0, xt } = tf.tidy(() => {
      const batch = options.conditioning(rng, batchSize)
      prompts.push(...batch.prompts)
      const z = tf.tensor4d(rng.normals(shape.reduce((a, b) => a * b, 1)), shape)
      const noise = drawNoise(rng, schedule, shape, c.tRange)
      const x0 = generatorSample(generator, z, batch.cond, schedule, tInit)
      return { cond: batch.cond, nullCond: batch.nullCond, z, ...noise, x0, xt: diffuse(x0, noise) }
    })
    const noise: NoiseDraw = { t, alpha, sigma, eps }
    const guided = c.cfgScale !== 1
    const genVars = Object.values(generator.params)
    const fakeVars = Object.values(fake.params)

    const timed = (f: () => tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): number => {
      const started = performance.now()
      tf.tidy(() => {
        const out = f()
        const list = out instanceof tf.Tensor ? [out] : Array.isArray(out) ? out : Object.values(out)
        tf.addN(list.map((t) => tf.sum(t))).dataSync()
      })
      return performance.now() - started
    }
    // as in the trainer's generator update: the frozen-parameter variants where the caller gave them
    const referenceEps = reference.epsWithFrozenParams ?? reference.eps
    const fakeEps = fake.epsWithFrozenParams ?? fake.eps
    const refForward = (x: tf.Tensor4D) => guided
      ? referenceEps(reference.params, tf.concat([x, x], 0), tf.concat([noise.t, noise.t], 0), tf.concat([cond, nullCond], 0))
      : referenceEps(reference.params, x, noise.t, cond)
    const nets = {
      fake: (x: tf.Tensor4D, t: tf.Tensor1D) => fakeEps(fake.params, x, t, cond),
      reference: (x: tf.Tensor4D, t: tf.Tensor1D, withUncond: boolean) => {
        if (!withUncond) return { cond: referenceEps(reference.params, x, t, cond), uncond: null }
        const [a, b] = tf.split(refForward(x), 2, 0) as [tf.Tensor4D, tf.Tensor4D]
        return { cond: a, uncond: b }
      },
    }
    const imageGrad = tf.onesLike(x0)

    const profile: DiStarStepProfile = {
      stepMs,
      fakeScoreGradMs: timed(() => tf.variableGrads(() => fakeScoreLoss(fake.eps(fake.params, xt, noise.t, cond), noise.eps), fakeVars).grads),
      generatorForwardMs: timed(() => generatorSample(generator, z, cond, schedule, tInit)),
      generatorForwardBackwardMs: timed(() => tf.variableGrads(() => tf.sum(tf.mul(generatorSample(generator, z, cond, schedule, tInit), imageGrad)) as tf.Scalar, genVars).grads),
      referenceForwardMs: timed(() => refForward(xt)),
      fakeForwardMs: timed(() => fakeEps(fake.params, xt, noise.t, cond)),
      regulariserGradMs: timed(() => tf.grad((x: tf.Tensor) => generatorRegulariser(x as tf.Tensor4D, noise, nets, { ...c, kind: c.regulariser }).loss)(x0)),
      rewardGradMs: rewards.length === 0 ? 0 : timed(() => tf.grad((x: tf.Tensor) => tf.addN(rewards.map((r) => tf.mean(r.score(x as tf.Tensor4D, prompts)))))(x0)),
    }
    tf.dispose([cond, nullCond, z, noise.t, noise.alpha, noise.sigma, noise.eps, x0, xt, imageGrad])
    return profile
  } finally {
    trainer.dispose()
  }
}
