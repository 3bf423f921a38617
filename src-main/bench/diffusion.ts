// Diffusion benchmarks: the reference DiT's training step (batch 16 and 64) and its samplers' time
// per image at 1, 4, 25 and 50 steps with classifier-free guidance, U-Net candidates against the DiT
// (forward and training step at batch 16), plus peak memory.
// Weights are freshly initialised: speed does not depend on their values.
import * as tf from '@tensorflow/tfjs-core'
import { readFileSync } from 'node:fs'
import { threadCpuMs } from '../ml/backend/thread-cpu.ts'
import { ditEps, initDitParams, disposeParams, countParams, type DitConfig } from '../ml/diffusion/dit.ts'
import { DEFAULT_ARCHITECTURE, type DitArchitecture } from '../ml/diffusion/pretrain-run.ts'
import { sample, withGuidance } from '../ml/diffusion/samplers.ts'
import { DEFAULT_SCHEDULE, VpSchedule } from '../ml/diffusion/schedule.ts'
import { DenoisingTrainer, DEFAULT_TRAIN_HYPER, drawNoise } from '../ml/diffusion/training.ts'
import { Rng } from '../ml/util/rng.ts'
import type { BenchContext, BenchEntry, BenchRow } from './harness/registry.ts'
import { spread, summarise, timeIt } from './harness/timing.ts'

/** The shipped reference network (vocabulary size as built from the emoji training captions). */
const REFERENCE_DIT: DitConfig = { ...DEFAULT_ARCHITECTURE, imageSize: 32, vocabSize: 2235, textLength: 16, schedule: DEFAULT_SCHEDULE }
const schedule = new VpSchedule()

function randomTokens(rng: Rng, batch: number, c: DitConfig): Int32Array {
  const ids = new Int32Array(batch * c.textLength)
  for (let b = 0; b < batch; b++) for (let i = 0; i < 6; i++) ids[b * c.textLength + i] = rng.int(1, c.vocabSize - 1)
  return ids
}

function trainingStepEntry(batch: number): BenchEntry {
  return {
    name: `diffusion: DiT training step, batch ${batch}`,
    async run(ctx: BenchContext): Promise<BenchRow[]> {
      const c = REFERENCE_DIT
      const params = initDitParams(c, 1)
      const trainer = new DenoisingTrainer((p, x, t, cond) => ditEps(p, c, x, t, cond as tf.Tensor2D), params, schedule, DEFAULT_TRAIN_HYPER, (b) => [b, c.textLength])
      const rng = new Rng(7)
      const pixels = c.imageSize * c.imageSize * 3
      const x0 = Float32Array.from(rng.normals(batch * pixels), Math.tanh)
      const repeats = ctx.quick ? 1 : Math.min(ctx.repeats, batch >= 64 ? 3 : 5)
      try {
        const step = async () => {
          const { t, noise } = drawNoise(rng, schedule, batch, pixels)
          const started = performance.now()
          await trainer.trainStep({ x0, t, noise, cond: randomTokens(rng, batch, c) }, [c.imageSize, c.imageSize, 3])
          return performance.now() - started
        }
        ctx.log(`DiT training step, batch ${batch}: warm-up`)
        await step()
        const tensorsBefore = tf.memory().numTensors
        const times: number[] = []
        for (let i = 0; i < repeats; i++) times.push(await step())
        const timing = summarise(times)
        const leak = tf.memory().numTensors - tensorsBefore
        return [
          { name: `DiT train step B${batch}`, value: timing.medianMs, unit: 'ms', notes: `${(countParams(c) / 1e6).toFixed(2)}M params, patch ${c.patch}, width ${c.width}, depth ${c.depth}, Adam+EMA; ${spread(timing)}` },
          { name: `DiT train throughput B${batch}`, value: batch / (timing.medianMs / 1000), unit: 'images/s', notes: `tensor count change over ${repeats} steps: ${leak}` },
        ]
      } finally {
        trainer.dispose()
        disposeParams(params)
      }
    },
  }
}

/** The shipped U-Net pretraining config's architecture (resources/configs/pretrain-unet.json). */
function defaultUnetArchitecture(): Partial<DitArchitecture> {
  const file = new URL('../../resources/configs/pretrain-unet.json', import.meta.url)
  return (JSON.parse(readFileSync(file, 'utf8')) as { architecture: Partial<DitArchitecture> }).architecture
}

const UNET_BASE: Partial<DitConfig> = { arch: 'unet', patch: 1, mlpRatio: 1, width: 32, depth: 1, heads: 4 }

/**
 * U-Net sizes next to the reference DiT, B16, one thread: forward, and a training step (forward,
 * backward, Adam, EMA), with each one's ratio to the DiT's step. 'default' is what
 * resources/configs/pretrain-unet.json trains. Also reports the step's CPU time (this thread), which
 * other jobs on the machine inflate less than wall time.
 */
const unetEntry: BenchEntry = {
  name: 'diffusion: U-Net vs DiT, batch 16',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const batch = 16
    const candidates: [string, DitConfig][] = [
      ['DiT (reference)', REFERENCE_DIT],
      ['U-Net small', { ...REFERENCE_DIT, ...UNET_BASE, channelMults: [1, 2, 2] }],
      ['U-Net default', { ...REFERENCE_DIT, ...defaultUnetArchitecture() }],
      ['U-Net [1,2,3,4]', { ...REFERENCE_DIT, ...UNET_BASE, channelMults: [1, 2, 3, 4], attentionLevels: [2, 3] }],
      ['U-Net [1,2,4,4]', { ...REFERENCE_DIT, ...UNET_BASE, channelMults: [1, 2, 4, 4], attentionLevels: [2, 3] }],
    ]
    const repeats = ctx.quick ? 1 : Math.min(ctx.repeats, 5)
    const rows: BenchRow[] = []
    let ditStepMs = NaN
    let ditCpuMs = NaN
    for (const [name, c] of ctx.quick ? candidates.slice(0, 2) : candidates) {
      const params = initDitParams(c, 1)
      const trainer = new DenoisingTrainer((p, x, t, cond) => ditEps(p, c, x, t, cond as tf.Tensor2D), params, schedule, DEFAULT_TRAIN_HYPER, (b) => [b, c.textLength])
      const rng = new Rng(7)
      const pixels = c.imageSize * c.imageSize * 3
      const x0 = Float32Array.from(rng.normals(batch * pixels), Math.tanh)
      const xt = tf.tensor4d(rng.normals(batch * pixels), [batch, c.imageSize, c.imageSize, 3])
      const t = tf.tensor1d(Array.from({ length: batch }, () => rng.int(0, 999)), 'float32')
      const tokens = tf.tensor2d(randomTokens(rng, batch, c), [batch, c.textLength], 'int32')
      try {
        ctx.log(`${name}: forward and training step, batch ${batch}`)
        const forward = await timeIt(() => tf.tidy(() => ditEps(params, c, xt, t, tokens)), { repeats })
        const step = async () => {
          const { t: steps, noise } = drawNoise(rng, schedule, batch, pixels)
          const started = performance.now()
          const cpuStarted = threadCpuMs()
          await trainer.trainStep({ x0, t: steps, noise, cond: randomTokens(rng, batch, c) }, [c.imageSize, c.imageSize, 3])
          return [performance.now() - started, threadCpuMs() - cpuStarted] as const
        }
        await step() // warm-up
        const wall: number[] = [], cpu: number[] = []
        for (let i = 0; i < repeats; i++) {
          const [w, cp] = await step()
          wall.push(w)
          cpu.push(cp)
        }
        const timing = summarise(wall)
        const cpuMs = summarise(cpu).medianMs
        if (Number.isNaN(ditStepMs)) [ditStepMs, ditCpuMs] = [timing.medianMs, cpuMs]
        const what = c.arch === 'unet'
          ? `width ${c.width}, depth ${c.depth}, mults [${c.channelMults ?? [1, 2, 2]}], attention at [${c.attentionLevels ?? 'lowest'}]`
          : `patch ${c.patch}, width ${c.width}, depth ${c.depth}`
        rows.push(
          { name: `${name} forward B${batch}`, value: forward.medianMs, unit: 'ms', notes: `${(countParams(c) / 1e6).toFixed(2)}M params, ${what}; ${spread(forward)}` },
          { name: `${name} train step B${batch}`, value: timing.medianMs, unit: 'ms', notes: `fwd+bwd+Adam+EMA; CPU ${cpuMs.toFixed(0)} ms; ${spread(timing)}` },
          { name: `${name} step / DiT step`, value: timing.medianMs / ditStepMs, unit: 'x', notes: `wall time; in CPU time ${(cpuMs / ditCpuMs).toFixed(2)}x` },
        )
      } finally {
        trainer.dispose()
        disposeParams(params)
        tf.dispose([xt, t, tokens])
      }
    }
    return rows
  },
}

const samplingEntry: BenchEntry = {
  name: 'diffusion: sampling time per image with CFG',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const c = REFERENCE_DIT
    const params = initDitParams(c, 1)
    const batch = 8
    const guidance = 3
    const rng = new Rng(3)
    const cond = tf.tensor2d(randomTokens(rng, batch, c), [batch, c.textLength], 'int32')
    const both = tf.concat([cond, tf.zeros([batch, c.textLength], 'int32')], 0) as tf.Tensor2D
    const eps = withGuidance((x, t, which) => tf.tidy(() => ditEps(params, c, x, tf.fill([x.shape[0]], t) as tf.Tensor1D, which === 'cond' ? cond : both)), guidance)
    const rows: BenchRow[] = []
    // DDIM and DPM-Solver++(2M) cost the same per step (one guided model evaluation plus a few
    // elementwise ops), so DDIM's times stand for both.
    const run = async (steps: number) => {
      const started = performance.now()
      const out = sample(eps, { schedule, sampler: 'ddim', steps, seeds: Array.from({ length: batch }, (_, k) => k), imageShape: [c.imageSize, c.imageSize, 3] })
      await out.data()
      out.dispose()
      return performance.now() - started
    }
    try {
      ctx.log('sampling warm-up')
      await run(2)
      for (const steps of ctx.quick ? [1, 4] : [1, 4, 25, 50]) {
        const repeats = steps >= 25 ? Math.min(ctx.repeats, 2) : Math.min(ctx.repeats, 3)
        ctx.log(`DDIM ${steps} steps, batch ${batch} with CFG`)
        const times: number[] = []
        for (let i = 0; i < repeats; i++) times.push(await run(steps))
        const timing = summarise(times)
        rows.push({
          name: `sample ${steps} step${steps === 1 ? '' : 's'}, CFG ${guidance}`,
          value: timing.medianMs / batch,
          unit: 'ms/image',
          notes: `batch ${batch}, cond+uncond in one forward of ${2 * batch}; DDIM (DPM-Solver++ costs the same per step); ${spread(timing)} per batch`,
        })
      }
      return rows
    } finally {
      tf.dispose([cond, both])
      disposeParams(params)
    }
  },
}

const memoryEntry: BenchEntry = {
  name: 'diffusion: peak memory',
  async run(): Promise<BenchRow[]> {
    // Read after the other diffusion entries ran in this process (they are listed before this one).
    const mem = tf.memory() as tf.MemoryInfo & { numBytesInWASMHeap?: number }
    const rows: BenchRow[] = [
      { name: 'process peak RSS', value: process.resourceUsage().maxRSS / 1024, unit: 'MB', notes: 'getrusage maxrss of the whole bench process so far' },
      { name: 'process RSS now', value: process.memoryUsage().rss / 2 ** 20, unit: 'MB' },
      { name: 'tf.memory() live tensors', value: mem.numTensors, unit: 'tensors' },
      { name: 'tf.memory() bytes', value: mem.numBytes / 2 ** 20, unit: 'MB', notes: 'live tensor data' },
    ]
    if (typeof mem.numBytesInWASMHeap === 'number') rows.push({ name: 'wasm heap', value: mem.numBytesInWASMHeap / 2 ** 20, unit: 'MB', notes: 'grows to the peak and is never returned' })
    return rows
  },
}

export const benches: BenchEntry[] = [trainingStepEntry(16), trainingStepEntry(64), unetEntry, samplingEntry, memoryEntry]
