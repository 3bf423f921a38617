// DI* benchmarks: one full step (K = 1 fake-score update + the generator update) at batch 8 and 16 on the
// reference architecture with the alignment reward, broken down by profileDiStarStep into the fake-score
// step, generator forward (and backward), reference and fake forwards, the regulariser's backward and
// the reward's forward + backward. Issue 4's target: well under 2 s per step at batch 16.
import * as tf from '@tensorflow/tfjs-core'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DiffusionModel } from '../ml/diffusion/model.ts'
import { ditEps, disposeParams, initDitParams, type DitConfig } from '../ml/diffusion/dit.ts'
import { DEFAULT_ARCHITECTURE } from '../ml/diffusion/pretrain-run.ts'
import { DEFAULT_SCHEDULE, VpSchedule } from '../ml/diffusion/schedule.ts'
import { DEFAULT_CONTROLS } from '../ml/distar/controls.ts'
import { profileDiStarStep, type DiStarStepProfile } from '../ml/distar/profile.ts'
import type { EpsFn } from '../ml/distar/types.ts'
import { AlignmentModel } from '../ml/rewards/alignment-model.ts'
import { alignmentReward, hasShippedAlignmentModel, shippedAlignmentModelDir } from '../ml/rewards/alignment-reward.ts'
import { Tokenizer } from '../ml/text/tokenizer.ts'
import { Rng } from '../ml/util/rng.ts'
import { defaultReferenceModelDir, RunSession } from '../core/runs/run-session.ts'
import { parseRunConfig } from '../core/runs/run-config.ts'
import { threadCpuMs } from '../ml/backend/thread-cpu.ts'
import { resourcePath } from '../util/resource-path.ts'
import type { BenchContext, BenchEntry, BenchRow } from './harness/registry.ts'
import { spread, summarise } from './harness/timing.ts'

const PROMPTS = ['grinning face, twitter style', 'red apple, google style', 'rocket, twitter style', 'fire, google style']

/** The embedded reference when present, else a fresh network of the default architecture (same cost). */
async function benchReference(): Promise<{ dit: DitConfig; schedule: VpSchedule; params: ReturnType<typeof initDitParams>; encode: (p: string[]) => tf.Tensor2D; which: string; dispose: () => void }> {
  const dir = defaultReferenceModelDir()
  if (existsSync(join(dir, 'config.json'))) {
    const model = await DiffusionModel.load(dir)
    return { dit: model.dit, schedule: model.schedule, params: model.params, encode: (p) => model.encodePrompts(p), which: 'embedded reference', dispose: () => model.dispose() }
  }
  const dit: DitConfig = { ...DEFAULT_ARCHITECTURE, imageSize: 32, vocabSize: 2235, textLength: 16, schedule: DEFAULT_SCHEDULE }
  const params = initDitParams(dit, 1, false)
  const rng = new Rng(3)
  const encode = (p: string[]) => tf.tensor2d(Int32Array.from({ length: p.length * dit.textLength }, (_, i) => (i % dit.textLength < 6 ? rng.int(1, dit.vocabSize - 1) : 0)), [p.length, dit.textLength], 'int32')
  return { dit, schedule: new VpSchedule(DEFAULT_SCHEDULE), params, encode, which: 'fresh default architecture (no embedded reference yet)', dispose: () => disposeParams(params) }
}

function distarStepEntry(batch: number): BenchEntry {
  return {
    name: `distar: DI* step, batch ${batch}`,
    async run(ctx: BenchContext): Promise<BenchRow[]> {
      const ref = await benchReference()
      const alignment = hasShippedAlignmentModel()
        ? await AlignmentModel.load(shippedAlignmentModelDir())
        : AlignmentModel.create(Tokenizer.build(PROMPTS), 1)
      const generator = cloneValues(ref.params)
      const fake = cloneValues(ref.params)
      const eps: EpsFn = (p, x, t, cond) => ditEps(p, ref.dit, x, t, cond as tf.Tensor2D)
      try {
        const repeats = ctx.quick ? 1 : Math.min(ctx.repeats, 3)
        const profiles: DiStarStepProfile[] = []
        for (let i = 0; i < repeats; i++) {
          ctx.log(`DI* step B${batch}: profile ${i + 1}/${repeats}${i === 0 ? ' (with a warm-up step)' : ''}`)
          profiles.push(profileDiStarStep({
            generator: { eps, params: generator }, fake: { eps, params: fake }, reference: { eps, params: ref.params },
            schedule: ref.schedule, tInit: 399, batchSize: batch, imageShape: [ref.dit.imageSize, ref.dit.imageSize, ref.dit.channels],
            rewards: [alignmentReward(alignment)], seed: i, controls: { ...DEFAULT_CONTROLS },
            conditioning: (rng, B) => {
              const prompts = Array.from({ length: B }, () => rng.pick(PROMPTS))
              return { prompts, cond: ref.encode(prompts), nullCond: tf.zeros([B, ref.dit.textLength], 'int32') }
            },
          }, i === 0 ? 1 : 0))
        }
        const row = (key: keyof DiStarStepProfile, label: string, notes: string): BenchRow => {
          const t = summarise(profiles.map((p) => p[key]))
          return { name: `DI* B${batch} ${label}`, value: t.medianMs, unit: 'ms', notes: `${notes}; ${spread(t)}` }
        }
        const whole = `${ref.which}, alignment reward, K = 1, CFG ${DEFAULT_CONTROLS.cfgScale} (reference cond + uncond as one batch)`
        return [
          row('stepMs', 'full step', whole),
          row('fakeScoreGradMs', 'fake-score forward+backward', 'one denoising update of the fake score, without the optimiser'),
          row('generatorForwardMs', 'generator forward', 'g(z, c), one DiT call'),
          row('generatorForwardBackwardMs', 'generator forward+backward', 'to the generator weights'),
          row('referenceForwardMs', 'reference forward', 'cond + uncond, 2B rows'),
          row('fakeForwardMs', 'fake forward', 'B rows'),
          row('regulariserGradMs', 'regulariser forward+backward', 'through the reference and fake to x0'),
          row('rewardGradMs', 'reward forward+backward', 'alignment score to x0'),
        ]
      } finally {
        disposeParams(generator)
        disposeParams(fake)
        alignment.dispose()
        ref.dispose()
      }
    },
  }
}

function cloneValues(params: Record<string, tf.Variable>): Record<string, tf.Variable> {
  return tf.tidy(() => Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tf.variable(v.clone(), true, `bench-distar-${k}-${Math.random().toString(36).slice(2)}`)])))
}

/**
 * The studio's own run (RunSession over the embedded reference and alignment model, the default run
 * config's controls) at batch 16, its gradients on 1 thread and on 2 (data-parallel). The wall speed-up
 * is real only with a free core; the CPU-time estimate (1-thread CPU / busiest thread's CPU) is what two
 * idle cores give, whatever else runs.
 */
function distarParallelEntry(batch: number): BenchEntry {
  return {
    name: `distar: DI* step, batch ${batch}, 1 vs 2 threads`,
    async run(ctx: BenchContext): Promise<BenchRow[]> {
      if (!existsSync(join(defaultReferenceModelDir(), 'config.json')) || !hasShippedAlignmentModel()) {
        ctx.log('skipped: needs the embedded reference and alignment models')
        return []
      }
      const config = parseRunConfig({ ...JSON.parse(readFileSync(resourcePath(join('resources', 'configs', 'default-run.json')), 'utf8')), batchSize: batch })
      const steps = ctx.quick ? 2 : Math.max(3, Math.min(ctx.repeats, 5))
      const measure = async (threads: number) => {
        const session = await RunSession.create(config, { trainingThreads: threads })
        try {
          ctx.log(`DI* B${batch} on ${threads} thread(s): 1 warm-up + ${steps} steps`)
          await session.trainStep()
          const wall: number[] = []
          const busiest: number[] = []
          for (let i = 0; i < steps; i++) {
            const cpu0 = threadCpuMs()
            const started = performance.now()
            await session.trainStep()
            wall.push(performance.now() - started)
            busiest.push(Math.max(threadCpuMs() - cpu0, ...session.trainer.lastStepWorkerCpuMs))
          }
          return { wall: summarise(wall), busiestCpu: summarise(busiest) }
        } finally {
          session.dispose()
        }
      }
      const one = await measure(1)
      const two = await measure(2)
      return [
        { name: `DI* B${batch} full step, 1 thread (studio run)`, value: one.wall.medianMs, unit: 'ms', notes: `RunSession.trainStep (the generator EMA update included), default-run.json controls; CPU ${one.busiestCpu.medianMs.toFixed(0)} ms; ${spread(one.wall)}` },
        { name: `DI* B${batch} full step, 2 threads (data-parallel)`, value: two.wall.medianMs, unit: 'ms', notes: `wall; busiest thread CPU ${two.busiestCpu.medianMs.toFixed(0)} ms; ${spread(two.wall)}` },
        { name: `DI* B${batch} data-parallel speed-up, wall`, value: one.wall.medianMs / two.wall.medianMs, unit: 'x', notes: 'real only if a core is free (see load average)' },
        { name: `DI* B${batch} step on 2 idle cores, CPU-time estimate`, value: two.busiestCpu.medianMs, unit: 'ms', notes: `busiest thread's CPU per step (1-thread CPU / this = ${(one.busiestCpu.medianMs / two.busiestCpu.medianMs).toFixed(2)}x); ignores message latency` },
      ]
    },
  }
}

export const benches: BenchEntry[] = [distarStepEntry(8), distarStepEntry(16), distarParallelEntry(16)]
