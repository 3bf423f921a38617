// Inference benchmarks: the one-step generator through onnxruntime-node at batch 1, 16 and 64; the
// reference's multi-step sampler (DDIM with CFG, scheduler in TypeScript) at 25 and 50 steps; the ratio
// of the two (DI*'s point: one step costs a few percent of the reference); and the same generator in
// TensorFlow.js on the bench's backend. Weights are freshly initialised at the reference's size
// (speed does not depend on their values); the vocabulary is synthetic but of the shipped size.
import * as tf from '@tensorflow/tfjs-core'
import { ditEps, initDitValues, paramsFromValues, disposeParams, countParams, type DitConfig } from '../ml/diffusion/dit.ts'
import { DEFAULT_ARCHITECTURE } from '../ml/diffusion/pretrain-run.ts'
import { initialNoise } from '../ml/diffusion/samplers.ts'
import { DEFAULT_SCHEDULE, VpSchedule } from '../ml/diffusion/schedule.ts'
import { Tokenizer } from '../ml/text/tokenizer.ts'
import { exportDitToOnnx } from '../ml/onnx/export-dit.ts'
import { OnnxInference } from '../ml/onnx/inference.ts'
import { sha256Hex, type LoadedPackage, type OnnxModelKind } from '../ml/onnx/model-package.ts'
import type { BenchContext, BenchEntry, BenchRow } from './harness/registry.ts'
import { spread, summarise } from './harness/timing.ts'

const T_INIT = 399
const schedule = new VpSchedule(DEFAULT_SCHEDULE)

interface Fixture {
  dit: DitConfig
  values: Record<string, Float32Array>
  tokenizer: Tokenizer
  prompts: (n: number) => string[]
}

let fixture: Fixture | undefined
function getFixture(): Fixture {
  if (fixture) return fixture
  // ~2,200 distinct words: the shipped tokenizer's vocabulary size
  const words = Array.from({ length: 2200 }, (_, i) => `w${i}`)
  const tokenizer = Tokenizer.build([words.join(' ')], { maxLength: 16 })
  const dit: DitConfig = { ...DEFAULT_ARCHITECTURE, imageSize: 32, vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength, schedule: DEFAULT_SCHEDULE }
  const values = initDitValues(dit, 1)
  const prompts = (n: number) => Array.from({ length: n }, (_, i) => `${words[(i * 7) % 2200]} ${words[(i * 13 + 5) % 2200]} ${words[(i * 31 + 9) % 2200]}`)
  fixture = { dit, values, tokenizer, prompts }
  return fixture
}

function inMemoryPackage(kind: OnnxModelKind): LoadedPackage {
  const f = getFixture()
  const onnx = kind === 'eps'
    ? exportDitToOnnx(f.dit, f.values, { kind: 'eps' })
    : exportDitToOnnx(f.dit, f.values, { kind: 'generator', tInit: T_INIT, alpha: schedule.alpha(T_INIT), sigma: schedule.sigma(T_INIT) })
  return {
    dir: '(in memory)', onnx, tokenizer: f.tokenizer,
    manifest: {
      format: 'di-studio-onnx-model', version: 1, kind, name: `bench-${kind}`, imageSize: 32, channels: 3,
      tokenizer: f.tokenizer.toJSON(), schedule: DEFAULT_SCHEDULE, ...(kind === 'generator' ? { tInit: T_INIT } : {}),
      source: { checkpoint: 'bench' }, onnxSha256: sha256Hex(onnx), createdAt: new Date().toISOString(),
    },
  }
}

/** Median ms per call of `fn` after one warm-up call. */
async function medianMs(repeats: number, fn: () => Promise<unknown>): Promise<ReturnType<typeof summarise>> {
  await fn()
  const times: number[] = []
  for (let i = 0; i < repeats; i++) {
    const start = performance.now()
    await fn()
    times.push(performance.now() - start)
  }
  return summarise(times)
}

/** Shared between entries so the ratio rows can use the numbers measured before them. */
const measured: { oneStepMsPerImage?: number; referenceMsPerImage: Record<number, number> } = { referenceMsPerImage: {} }
const MULTI_STEP_BATCH = 16

const oneStepEntry: BenchEntry = {
  name: 'inference: one-step generator via onnxruntime, batch 1/16/64',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const inference = new OnnxInference()
    const pkg = inMemoryPackage('generator')
    const rows: BenchRow[] = []
    try {
      for (const batch of ctx.quick ? [1, 16] : [1, 16, 64]) {
        ctx.log(`one-step generator, batch ${batch}`)
        const prompts = getFixture().prompts(batch)
        const seeds = prompts.map((_, i) => i)
        const timing = await medianMs(Math.min(ctx.repeats, batch >= 64 ? 5 : 10), () => inference.generate(pkg, { prompts, seeds, batchSize: batch }))
        if (batch === MULTI_STEP_BATCH) measured.oneStepMsPerImage = timing.medianMs / batch
        rows.push({
          name: `ORT one-step generator B${batch}`, value: batch / (timing.medianMs / 1000), unit: 'images/s',
          notes: `${(countParams(getFixture().dit) / 1e6).toFixed(2)}M-param DiT at t_init ${T_INIT}, providers ${inference.providers.chosen.join('+')}, noise + tokenizing included; ${spread(timing)} per batch`,
        })
      }
      return rows
    } finally {
      await inference.dispose()
    }
  },
}

const multiStepEntry: BenchEntry = {
  name: 'inference: reference sampler via onnxruntime, 25 and 50 steps with CFG',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const inference = new OnnxInference()
    const pkg = inMemoryPackage('eps')
    const rows: BenchRow[] = []
    const prompts = getFixture().prompts(MULTI_STEP_BATCH)
    const seeds = prompts.map((_, i) => i)
    try {
      for (const steps of ctx.quick ? [25] : [25, 50]) {
        ctx.log(`reference DDIM ${steps} steps, CFG 3, batch ${MULTI_STEP_BATCH}`)
        const timing = await medianMs(Math.min(ctx.repeats, 3), () => inference.generate(pkg, { prompts, seeds, batchSize: MULTI_STEP_BATCH, sampling: { sampler: 'ddim', steps, guidance: 3 } }))
        const perImage = timing.medianMs / MULTI_STEP_BATCH
        measured.referenceMsPerImage[steps] = perImage
        rows.push({
          name: `ORT reference DDIM ${steps} steps, CFG 3`, value: perImage, unit: 'ms/image',
          notes: `batch ${MULTI_STEP_BATCH} (cond+uncond as one run of ${2 * MULTI_STEP_BATCH}), scheduler in TypeScript; ${spread(timing)} per batch`,
        })
      }
      if (measured.oneStepMsPerImage !== undefined) {
        for (const [steps, ms] of Object.entries(measured.referenceMsPerImage)) {
          rows.push({
            name: `one-step / reference ${steps} steps time`, value: (100 * measured.oneStepMsPerImage) / ms, unit: '%',
            notes: `one-step ${measured.oneStepMsPerImage.toFixed(2)} ms/image vs ${ms.toFixed(1)} ms/image, both ORT at batch ${MULTI_STEP_BATCH} (${(ms / measured.oneStepMsPerImage).toFixed(0)}x faster)`,
          })
        }
      } else rows.push({ name: 'one-step / reference time', value: Number.NaN, unit: '%', notes: 'run the one-step entry first (it is listed before this one)' })
      return rows
    } finally {
      await inference.dispose()
    }
  },
}

const ortVsTfjsEntry: BenchEntry = {
  name: 'inference: one-step generator, onnxruntime vs TensorFlow.js',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const f = getFixture()
    const batch = MULTI_STEP_BATCH
    const prompts = f.prompts(batch)
    const seeds = prompts.map((_, i) => i)
    const params = paramsFromValues(f.dit, f.values, false)
    const a = schedule.alpha(T_INIT), s = schedule.sigma(T_INIT)
    const repeats = Math.min(ctx.repeats, 5)
    let tfjs: ReturnType<typeof summarise>
    try {
      ctx.log(`tfjs (${ctx.backend.name}) one-step generator, batch ${batch}`)
      tfjs = await medianMs(repeats, async () => {
        // the same work as the ORT path: noise, tokens, one DiT pass at t_init, x0, read back
        const out = tf.tidy(() => {
          const z = tf.tensor4d(initialNoise(seeds, [32, 32, 3]), [batch, 32, 32, 3])
          const tokens = tf.tensor2d(f.tokenizer.encodeBatch(prompts), [batch, f.tokenizer.maxLength], 'int32')
          const eps = ditEps(params, f.dit, z, tf.fill([batch], T_INIT) as tf.Tensor1D, tokens)
          return tf.clipByValue(tf.div(tf.sub(z, tf.mul(eps, s)), a), -1, 1)
        })
        await out.data()
        out.dispose()
      })
    } finally {
      disposeParams(params)
    }
    // ORT with its default threads (all cores) and with one thread, as tfjs-wasm runs in Node today
    const inference = new OnnxInference()
    const single = new OnnxInference({ threads: 1 })
    try {
      const pkg = inMemoryPackage('generator')
      ctx.log(`ORT one-step generator, batch ${batch}`)
      const ort = await medianMs(repeats, () => inference.generate(pkg, { prompts, seeds, batchSize: batch }))
      ctx.log(`ORT one-step generator, batch ${batch}, 1 thread`)
      const ort1 = await medianMs(repeats, () => single.generate(pkg, { prompts, seeds, batchSize: batch }))
      return [
        { name: `tfjs one-step generator B${batch}`, value: batch / (tfjs.medianMs / 1000), unit: 'images/s', notes: `backend ${ctx.backend.name}; ${spread(tfjs)} per batch` },
        { name: `ORT one-step generator B${batch} (same run)`, value: batch / (ort.medianMs / 1000), unit: 'images/s', notes: `providers ${inference.providers.chosen.join('+')}, default threads; ${spread(ort)} per batch` },
        { name: `ORT one-step generator B${batch}, 1 thread`, value: batch / (ort1.medianMs / 1000), unit: 'images/s', notes: `${spread(ort1)} per batch` },
        { name: `ORT speed-up over tfjs (${ctx.backend.name})`, value: tfjs.medianMs / ort.medianMs, unit: 'x', notes: `same generator, same inputs, read back included; 1 thread each: ${(tfjs.medianMs / ort1.medianMs).toFixed(2)}x` },
      ]
    } finally {
      await inference.dispose()
      await single.dispose()
    }
  },
}

export const benches: BenchEntry[] = [oneStepEntry, multiStepEntry, ortVsTfjsEntry]
