// DI* benchmarks: one full step (K = 1 fake-score update + the generator update) at batch 8 and 16 on the
// reference architecture with the alignment reward, broken down by profileDiStarStep into the fake-score
// step, generator forward (and backward), reference and fake forwards, the regulariser's backward and
// the reward's forward + backward. Issue 4's target: well under 2 s per step at batch 16.
import * as tf from '@tensorflow/tfjs-core'
import { existsSync } from 'node:fs'
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
import { defaultReferenceModelDir } from '../core/runs/run-session.ts'
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

export const benches: BenchEntry[] = [distarStepEntry(8), distarStepEntry(16)]
