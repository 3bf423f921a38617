// Schedulers against values from their published formulas (diffusers' scheduling_euler_discrete.py,
// scheduling_euler_ancestral_discrete.py, scheduling_ddim.py; see src-main/ml/sd/schedulers.ts).
// Where a number is written out below it was worked from those formulas outside this code:
//   - by hand: beta_0 = 0.00085, alphas_cumprod[0] = 1 - 0.00085 = 0.99915,
//     sigma_0 = sqrt(0.00085 / 0.99915) = 0.0291672;
//   - published: Stable Diffusion's sigma range 0.0292 .. 14.6146 (k-diffusion / the SD sampler
//     literature), and Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
//     Table 2 (timesteps for T = 1000, N = 10 under linspace / leading / trailing);
//   - the rest with numpy in float64 from the formulas (np.linspace(sqrt(b0), sqrt(b1), 1000)**2,
//     np.cumprod(1 - betas), np.interp, then the step formulas with x = 1, model output 0.5).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { alphasCumprod, createScheduler, makeBetas, spacedTimesteps, type SchedulerConfig } from '../../src-main/ml/sd/schedulers.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

const SD: SchedulerConfig = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type: 'epsilon' }
const close = (a: number, b: number, tol = 1e-6, msg = '') => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${msg} ${a} vs ${b}`)

test('scaled_linear betas and alphas_cumprod: Stable Diffusion sigma range 0.0292 .. 14.6146', () => {
  const betas = makeBetas(SD)
  const ac = alphasCumprod(betas)
  close(betas[0]!, 0.00085, 1e-12)
  close(betas[999]!, 0.012, 1e-12)
  close(betas[500]!, 0.00481495414171188, 1e-9)
  close(ac[0]!, 0.99915, 1e-12)
  close(ac[999]!, 0.004660098513077238, 1e-7)
  const sigma = (t: number) => Math.sqrt((1 - ac[t]!) / ac[t]!)
  close(sigma(0), 0.0291672, 1e-5)
  close(sigma(999), 14.6146, 1e-5)
  // linear (DDPM) betas 1e-4 .. 0.02
  close(alphasCumprod(makeBetas({ beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 }))[999]!, 4.035829765375676e-5, 1e-6)
})

test('timestep spacing, T = 1000, N = 10 (Lin et al. 2023, Table 2)', () => {
  assert.deepEqual(spacedTimesteps({ ...SD, timestep_spacing: 'linspace' }, 10), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0])
  assert.deepEqual(spacedTimesteps({ ...SD, timestep_spacing: 'leading' }, 10), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0])
  assert.deepEqual(spacedTimesteps({ ...SD, timestep_spacing: 'leading', steps_offset: 1 }, 10), [901, 801, 701, 601, 501, 401, 301, 201, 101, 1])
  assert.deepEqual(spacedTimesteps({ ...SD, timestep_spacing: 'trailing' }, 10), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99])
  assert.deepEqual(spacedTimesteps({ ...SD, timestep_spacing: 'trailing' }, 1), [999])
  assert.deepEqual(spacedTimesteps({ ...SD, timestep_spacing: 'trailing' }, 4), [999, 749, 499, 249])
  assert.deepEqual(spacedTimesteps({ ...SD, timestep_spacing: 'leading', steps_offset: 1 }, 4), [751, 501, 251, 1])
  assert.deepEqual(spacedTimesteps({ ...SD, timestep_spacing: 'linspace' }, 3), [999, 499.5, 0])
})

test('EulerDiscreteScheduler: sigmas, init noise sigma, model input scale and one step (epsilon and v_prediction)', () => {
  // linspace keeps the fractional 499.5 and interpolates sigma linearly
  const lin = createScheduler({ ...SD, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'linspace' }, 3) as unknown as { sigmas: number[]; initNoiseSigma: number }
  close(lin.sigmas[1]!, 1.6155825101612464, 1e-6)
  assert.equal(lin.sigmas[3], 0)
  close(lin.initNoiseSigma, 14.614641229333639, 1e-6)
  // leading: init sigma sqrt(sigma_max^2 + 1), with sigma_max = sigma(751) for 4 steps and offset 1
  close(createScheduler({ ...SD, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'leading', steps_offset: 1 }, 4).initNoiseSigma, 4.236412385791066, 1e-6)

  const eu = createScheduler({ ...SD, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing' }, 2)
  assert.deepEqual(eu.timesteps, [999, 499])
  close(eu.scaleModelInput(new Float32Array([1]), 0)[0]!, 0.0682649142171675, 1e-6)
  close(eu.step(new Float32Array([0.5]), 0, new Float32Array([1]), new Rng(0))[0]!, -5.500877517514882, 1e-5)
  const v = createScheduler({ ...SD, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing', prediction_type: 'v_prediction' }, 2)
  close(v.step(new Float32Array([0.5]), 0, new Float32Array([1]), new Rng(0))[0]!, -0.32927505610796426, 1e-5)
})

test('EulerAncestralDiscreteScheduler: sigma_up/sigma_down step with seeded noise; the Turbo setting (trailing, 1 step) returns x0', () => {
  const cfg = { ...SD, _class_name: 'EulerAncestralDiscreteScheduler', timestep_spacing: 'trailing' }
  const anc = createScheduler(cfg, 2)
  // x_next = x + (x - x0)/sigma (sigma_down - sigma) + noise * sigma_up, sigma_up = 1.603033992035118,
  // and without the noise term -6.218320760515263
  const noise = new Rng(7).normal()
  close(anc.step(new Float32Array([0.5]), 0, new Float32Array([1]), new Rng(7))[0]!, -6.218320760515263 + noise * 1.603033992035118, 1e-5)
  // SD-Turbo / SDXL-Turbo: one step at t = 999 from noise of std sigma_max; the result is x - sigma * eps
  const turbo = createScheduler(cfg, 1)
  assert.deepEqual(turbo.timesteps, [999])
  close(turbo.initNoiseSigma, 14.614641229333639, 1e-6)
  const x = new Float32Array([3, -2])
  const eps = new Float32Array([0.25, -0.1])
  const out = turbo.step(eps, 0, x, new Rng(1))
  close(out[0]!, 3 - 14.614641229333639 * 0.25, 1e-5)
  close(out[1]!, -2 + 14.614641229333639 * 0.1, 1e-5)
})

test('DDIMScheduler (eta 0): x_prev from x0 and eps, set_alpha_to_one, clip_sample, v_prediction', () => {
  const base = { ...SD, _class_name: 'DDIMScheduler', timestep_spacing: 'leading', steps_offset: 1, clip_sample: false, set_alpha_to_one: false }
  const d = createScheduler(base, 2)
  assert.deepEqual(d.timesteps, [501, 1])
  assert.equal(d.initNoiseSigma, 1)
  assert.equal(d.scaleModelInput(new Float32Array([0.7]), 0)[0], Math.fround(0.7))
  const x = new Float32Array([1])
  const e = new Float32Array([0.5])
  close(d.step(e, 0, x, new Rng(0))[0]!, 1.1147885792148042, 1e-5)
  // the last step's prev_t is negative: final_alpha_cumprod = alphas_cumprod[0] (set_alpha_to_one false) or 1
  close(d.step(e, 1, x, new Rng(0))[0]!, 0.9943565783818035, 1e-5)
  close(createScheduler({ ...base, set_alpha_to_one: true }, 2).step(e, 1, x, new Rng(0))[0]!, 0.980195870451214, 1e-5)
  // clip_sample clamps x0 (1.0951) to [-1, 1]
  close(createScheduler({ ...base, clip_sample: true }, 2).step(e, 0, x, new Rng(0))[0]!, 1.0197872495122247, 1e-5)
  close(createScheduler({ ...base, prediction_type: 'v_prediction' }, 2).step(e, 0, x, new Rng(0))[0]!, 0.14455597262773914, 1e-5)
  assert.deepEqual(createScheduler({ ...base, timestep_spacing: 'linspace' }, 3).timesteps, [999, 500, 0])
})

test('unsupported scheduler names and settings are refused by name', () => {
  assert.throws(() => createScheduler({ ...SD, _class_name: 'LMSDiscreteScheduler' }, 4), /scheduler "LMSDiscreteScheduler" is not supported \(EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DDIMScheduler\)/)
  assert.throws(() => createScheduler({ ...SD, _class_name: 'EulerDiscreteScheduler', use_karras_sigmas: true }, 4), /use_karras_sigmas is not supported/)
  assert.throws(() => createScheduler({ ...SD, _class_name: 'DDIMScheduler', prediction_type: 'sample' }, 4), /prediction_type "sample"/)
  assert.throws(() => createScheduler({ ...SD, _class_name: 'DDIMScheduler', timestep_spacing: 'karras' }, 4), /timestep_spacing "karras" is not supported/)
  assert.throws(() => createScheduler({ ...SD, _class_name: 'DDIMScheduler' }, 0), /steps must be an integer from 1 to 1000/)
})
