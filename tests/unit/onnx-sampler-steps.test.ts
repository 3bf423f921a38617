// SamplerStepper (the per-step sampler maths the ORT pipeline drives) against samplers.ts on an
// analytic model: data x0 ~ N(0, c^2 I) has the exact eps(x_t, t) = sigma_t x_t / (alpha_t^2 c^2 + sigma_t^2).
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { SamplerStepper, guideEps } from '../../src-main/ml/diffusion/sampler-steps.ts'
import { sample, initialNoise, type SamplerKind } from '../../src-main/ml/diffusion/samplers.ts'
import { VpSchedule } from '../../src-main/ml/diffusion/schedule.ts'

before(async () => { await initTf() })

const schedule = new VpSchedule()
const c = 0.5
const shape: [number, number, number] = [4, 4, 3]
const seeds = [0, 1, 2, 3, 4, 5, 6, 7]
const coef = (t: number) => schedule.sigma(t) / (schedule.alpha(t) ** 2 * c * c + schedule.sigma(t) ** 2)

for (const sampler of ['ddim', 'dpmpp-2m'] as SamplerKind[]) {
  for (const steps of [1, 2, 10, 50]) {
    test(`${sampler}, ${steps} steps: SamplerStepper matches samplers.ts within 1e-4`, async () => {
      const ref = sample((x, t) => tf.mul(x, coef(t)) as tf.Tensor4D, { schedule, sampler, steps, seeds, imageShape: shape })
      const want = (await ref.data()) as Float32Array
      ref.dispose()
      const stepper = new SamplerStepper(schedule, sampler, steps)
      let x = initialNoise(seeds, shape)
      for (const [i, t] of stepper.timesteps.entries()) x = stepper.step(i, x, Float32Array.from(x, (v) => v * coef(t)))
      // x0 = (x - sigma eps) / alpha nearly cancels at t = 999 and then divides by alpha_999 ~ 5e-5, so
      // tfjs's float32 result carries ~7e-5 of rounding there (the stepper works in float64)
      let m = 0
      for (let k = 0; k < x.length; k++) m = Math.max(m, Math.abs(x[k]! - want[k]!))
      assert.ok(m < 1e-4, `max diff ${m}`)
      if (steps === 50) {
        // and the sampler is right: the samples' spread approaches c
        const std = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length)
        assert.ok(Math.abs(std - c) < 0.1, `sample std ${std}, expected about ${c}`)
      }
    })
  }
}

test('steps must be taken in order; mismatched sizes and unknown samplers are refused', () => {
  const stepper = new SamplerStepper(schedule, 'ddim', 3)
  const x = new Float32Array(6)
  assert.throws(() => stepper.step(1, x, x), /out of order \(expected 0\)/)
  assert.throws(() => stepper.step(0, x, new Float32Array(5)), /6 values but eps has 5/)
  assert.throws(() => new SamplerStepper(schedule, 'euler' as SamplerKind, 3), /unknown kind 'euler'/)
  assert.throws(() => new SamplerStepper(schedule, 'ddim', 0), /steps must be an integer/)
  assert.deepEqual([...guideEps(new Float32Array([1, 2]), new Float32Array([0, 1]), 3)], [3, 4])
})
