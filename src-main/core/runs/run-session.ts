// Everything a DI* run holds in memory: the frozen reference, the generator and fake score (clones of it),
// an exponential moving average of the generator (what grids, the gallery and the eval show), the rewards,
// the prompt source and the trainer, built from a validated run config. Also the two
// things that turn that state into files: checkpoints (weights + optimiser states + counters) and
// sample grids for the fixed prompts and seeds.
import * as tf from '@tensorflow/tfjs-core'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { loadCheckpoint, saveCheckpoint, CheckpointError, type NamedTensor } from '../../ml/checkpoint/checkpoint.ts'
import { DiffusionModel, paramsToNamedTensors } from '../../ml/diffusion/model.ts'
import { ditEps, disposeParams, ditParamShapes, type DitParams } from '../../ml/diffusion/dit.ts'
import { encodeImageGrid } from '../../ml/diffusion/image-grid.ts'
import { generatorSample } from '../../ml/distar/losses.ts'
import { validateControls, type DiStarControls } from '../../ml/distar/controls.ts'
import { DiStarTrainer, type DiStarFaultInjection, type DiStarStepResult, type DiStarTrainerOptions, type DiStarTrainerState } from '../../ml/distar/trainer.ts'
import type { EpsFn } from '../../ml/distar/types.ts'
import type { AdamState } from '../../ml/distar/adam.ts'
import { createReward, cachingRewardContext, type RewardContext } from '../../ml/rewards/registry.ts'
import type { Reward } from '../../ml/rewards/reward.ts'
import { DataParallelTrainer } from '../../ml/backend/data-parallel.ts'
import type { TfBackendName } from '../../ml/backend/probe.ts'
import { parallelModelUrl, runNetworks, splitReward, type ParallelRunConfig } from './run-networks.ts'
import { MAX_TRAINING_THREADS } from '../../contract/settings.ts'
import { buildCatalog } from '../../ml/data/emoji-catalog.ts'
import { Rng } from '../../ml/util/rng.ts'
import { atomicWriteFile } from '../../util/atomic-write.ts'
import type { RunConfig, TrainPrompts } from './run-config.ts'
import { DEFAULT_T_INIT, RunConfigError } from './run-config.ts'
import { embeddedGeneratorInitDir, embeddedGeneratorInitPresent, embeddedGeneratorMissingMessage } from './generator-init.ts'
import { checkpointGeneratorValues } from './run-files.ts'
import { resourcePath } from '../../util/resource-path.ts'
import { modelWeightsSha256 } from '../../ml/distill/regression.ts'
import { PromptFileError, readPromptFile } from '../../util/prompt-file.ts'
import { PromptReader } from '../../ml/text/prompt-reading.ts'
import type { Tokenizer } from '../../ml/text/tokenizer.ts'

const REFERENCE_MODEL_PATH = join('resources', 'models', 'reference')
const SHOWCASE_PROMPTS_PATH = join('resources', 'prompts', 'showcase.txt')

/** The nearest `resources/<rel>` above this module (works from sources and from a bundle in out/). */
/** The embedded reference model's folder (resources/models/reference). */
export function defaultReferenceModelDir(): string {
  return resourcePath(REFERENCE_MODEL_PATH)
}

export function showcasePromptList(): string[] {
  return promptsOf(resourcePath(SHOWCASE_PROMPTS_PATH))
}

/** A prompt file named by a run config: its problems are the config's (RunConfigError). */
function promptsOf(path: string): string[] {
  try {
    return readPromptFile(path)
  } catch (err) {
    throw err instanceof PromptFileError ? new RunConfigError(err.message) : err
  }
}

export function resolveTrainPrompts(source: TrainPrompts, baseDir = process.cwd()): string[] {
  if (source === 'emoji-train-captions') {
    const captions = [...new Set(buildCatalog().filter((e) => e.split === 'train').map((e) => e.item.canonicalCaption))]
    if (captions.length === 0) throw new RunConfigError('The emoji catalogue has no training captions')
    return captions
  }
  if (Array.isArray(source)) return source
  return promptsOf(resolve(baseDir, source.file))
}

/** Notes for the run log on prompts with words the reference does not know or past its prompt length. */
export function readRunPrompts(tokenizer: Tokenizer, trainPrompts: readonly string[], samplePrompts: readonly string[]): { message: string; level: 'warn' }[] {
  const reader = new PromptReader(tokenizer)
  return ([['training prompts', trainPrompts], ['sample prompts', samplePrompts]] as const).flatMap(([what, prompts]) => {
    const { notice } = reader.readAll(prompts)
    return notice ? [{ message: `${what}: ${notice}`, level: 'warn' as const }] : []
  })
}

/** The fixed prompts and seeds of the sample grids. */
export function samplePlan(config: RunConfig): { prompts: string[]; seeds: number[] } {
  const prompts = config.samples.prompts ?? showcasePromptList()
  const seeds = config.samples.seeds ?? prompts.map((_, i) => i)
  return { prompts, seeds }
}

/** Counters and controls stored with a checkpoint (its config.json). */
export interface RunCheckpointInfo {
  kind: 'distar-run-checkpoint'
  /** 1: no generator EMA (it starts from the generator on resume); 2: tensors 'generatorEma/<param>' too */
  version: 1 | 2
  step: number
  consecutiveSkips: number
  totalSkips: number
  pausedReason: string | null
  generatorAdamStep: number
  fakeAdamStep: number
  /** the controls in force when the checkpoint was written (a resume starts with them) */
  controls: DiStarControls
}

export interface RunSessionOptions {
  rewardContext?: RewardContext
  /** folder relative paths in the config (prompt files) are resolved against */
  baseDir?: string
  /** TEST-ONLY: NaN/Inf injection into the trainer's steps (tests/unit/reliability-numeric.test.ts) */
  faultInjectionForTests?: DiStarFaultInjection
  /**
   * Threads computing each step's gradients (the main thread plus worker threads, each taking a slice of
   * the batch; see ml/backend/data-parallel.ts). Default 1. Results match the 1-thread run's up to float
   * rounding; a checkpoint resumes with any thread count.
   */
  trainingThreads?: number
  /** rows a thread computes at once (default ROWS_PER_PASS); bigger batches accumulate passes (ml/distar/trainer.ts) */
  rowsPerPass?: number
}

/**
 * Rows one thread takes through a DI* step at once. The default run's step holds about 80 MB per row on
 * wasm (its heap: 0.7 GB at batch 8), and wasm stops at 4 GB with "Aborted()": 64 rows on one thread did.
 * 16 rows (about 1.3 GB) leave room; a bigger batch is computed in passes with the same result.
 */
export const ROWS_PER_PASS = 16

/** Which generator weights to use: the moving average (what a user sees) or the raw weights being trained. */
export type GeneratorWeights = 'ema' | 'raw'

export class RunSession {
  readonly trainer: DiStarTrainer
  readonly rewards: Reward[]
  private disposed = false
  private parallel: DataParallelTrainer | null = null
  /** what the reference's tokenizer cannot read in the training and sample prompts; logged when the run starts */
  promptNotes: { message: string; level: 'warn' }[] = []

  private constructor(
    readonly config: RunConfig,
    /** absolute folder of the reference model */
    readonly modelDir: string,
    readonly reference: DiffusionModel,
    readonly generator: DitParams,
    /** the moving average of the generator's weights (not trained; updated after every applied step) */
    readonly generatorEma: DitParams,
    readonly fake: DitParams,
    trainerOptions: DiStarTrainerOptions,
  ) {
    this.rewards = trainerOptions.rewards
    this.trainer = new DiStarTrainer(trainerOptions)
  }

  /** Loads the reference named by the config and builds a fresh trainer (generator and fake = reference). */
  static async create(config: RunConfig, opts: RunSessionOptions = {}): Promise<RunSession> {
    const modelDir = config.baseModelDir ? resolve(opts.baseDir ?? process.cwd(), config.baseModelDir) : defaultReferenceModelDir()
    if (!existsSync(join(modelDir, 'config.json'))) {
      throw new RunConfigError(
        config.baseModelDir
          ? `No reference model at ${modelDir} (baseModelDir): expected a folder with config.json and model.safetensors`
          : `The embedded reference model is missing (${modelDir}); set baseModelDir in the run config to a diffusion model folder`,
      )
    }
    const reference = await DiffusionModel.load(modelDir)
    let generator: DitParams | undefined
    let generatorEma: DitParams | undefined
    let fake: DitParams | undefined
    try {
      const T = reference.schedule.alphas.length
      if (config.tInit >= T) throw new RunConfigError(`tInit must be below the model's T = ${T}, got ${config.tInit}`)
      const reward = await createReward(config.reward, opts.rewardContext ?? cachingRewardContext())
      const { rewards, mix } = splitReward(reward)
      let controls: DiStarControls
      try {
        controls = validateControls({ ...config.controls, rewardMix: { ...mix, ...(config.controls.rewardMix ?? {}) } }, T)
      } catch (err) {
        throw new RunConfigError(`Invalid run config controls: ${(err as Error).message}`)
      }
      const prompts = resolveTrainPrompts(config.prompts, opts.baseDir)
      generator = reference.cloneParams(true)
      generatorEma = reference.cloneParams(false)
      fake = reference.cloneParams(true)
      const L = reference.tokenizer.maxLength
      const trainerOptions: DiStarTrainerOptions = {
        ...runNetworks(reference, generator, fake),
        schedule: reference.schedule,
        tInit: config.tInit,
        batchSize: config.batchSize,
        imageShape: reference.imageShape,
        rewards,
        seed: config.seed,
        controls,
        ...(config.adam ? { adam: config.adam } : {}),
        pauseAfterNonFinite: config.pauseAfterNonFinite,
        maxRowsPerPass: opts.rowsPerPass ?? ROWS_PER_PASS,
        ...(opts.faultInjectionForTests ? { faultInjectionForTests: opts.faultInjectionForTests } : {}),
        conditioning: (rng, B) => {
          const batch = Array.from({ length: B }, () => rng.pick(prompts))
          return { prompts: batch, cond: reference.encodePrompts(batch), nullCond: tf.zeros([B, L], 'int32') }
        },
      }
      const session = new RunSession(config, modelDir, reference, generator, generatorEma, fake, trainerOptions)
      session.promptNotes = readRunPrompts(reference.tokenizer, prompts, samplePlan(config).prompts)
      const threads = opts.trainingThreads ?? 1
      if (!Number.isInteger(threads) || threads < 1 || threads > MAX_TRAINING_THREADS) {
        throw new RunConfigError(`trainingThreads must be an integer 1..${MAX_TRAINING_THREADS}, got ${threads}`)
      }
      if (threads > 1) {
        try {
          const workerConfig: ParallelRunConfig = { modelDir, reward: config.reward, tInit: config.tInit }
          session.parallel = await DataParallelTrainer.create({
            module: parallelModelUrl(), config: workerConfig, workers: threads - 1,
            mainModel: session.trainer.stepModel, prefer: tf.getBackend() as TfBackendName,
          })
          session.trainer.useDataParallel(session.parallel)
        } catch (err) {
          await session.parallel?.dispose().catch(() => {}) // its worker threads would keep the process alive
          session.trainer.dispose()
          throw err
        }
      }
      return session
    } catch (err) {
      if (generator) disposeParams(generator)
      if (generatorEma) disposeParams(generatorEma)
      if (fake) disposeParams(fake)
      reference.dispose()
      throw err
    }
  }

  get step(): number {
    return this.trainer.stepsTaken
  }

  /**
   * Starts the generator (and its EMA) from the one-step generator saved in `dir` (the config's
   * generatorInit) instead of the reference. Everything is checked before anything changes: every
   * parameter present with this reference's shapes, and the t_init it was trained for (when the folder
   * records one, or its run's config.json does) equal to this run's. Problems are RunConfigErrors.
   */
  async loadGeneratorInit(dir: string): Promise<void> {
    if (dir === embeddedGeneratorInitDir() && !embeddedGeneratorInitPresent()) throw new RunConfigError(`generatorInit 'embedded': ${embeddedGeneratorMissingMessage()}`)
    let ck: Awaited<ReturnType<typeof loadCheckpoint>>
    try {
      ck = await loadCheckpoint(dir)
    } catch (err) {
      throw new RunConfigError(`generatorInit: ${(err as Error).message}`)
    }
    const shapes = ditParamShapes(this.reference.dit)
    const generator = checkpointGeneratorValues(ck.tensors, shapes)
    if ('bad' in generator) {
      throw new RunConfigError(`generatorInit ${dir}: tensor '${generator.group}/${generator.bad}' is missing or not float32 [${shapes[generator.bad]}] (is it a generator for another reference model?)`)
    }
    const trainedFor = generatorInitTInit(dir, ck.config)
    if (trainedFor !== undefined && trainedFor !== this.config.tInit) {
      throw new RunConfigError(`generatorInit ${dir} is a generator for t_init ${trainedFor}; this run's tInit is ${this.config.tInit}`)
    }
    // a distilled generator records its reference's weights: one of another reference has the right
    // shapes and would start the run from a generator that matches nothing this reference draws
    const distilledFrom = (ck.config as { reference?: { sha256?: unknown } } | null)?.reference?.sha256
    if (typeof distilledFrom === 'string' && distilledFrom !== await modelWeightsSha256(this.modelDir)) {
      throw new RunConfigError(`generatorInit ${dir} was distilled from another reference model than this run's base model (${this.modelDir}); start from the reference instead (no generatorInit) or distil one from this model (npm run distill -- --base-model ...)`)
    }
    assignParams(this.generator, ck.tensors, generator.group)
    assignParams(this.generatorEma, ck.tensors, generator.group)
  }

  /**
   * One trainer step, then the generator EMA: after the n-th applied generator update (n = the generator
   * optimiser's step, restored with a checkpoint, so a resumed run averages exactly as an uninterrupted one)
   *     ema <- d ema + (1 - d) generator,   d = min(decay, (1 + n) / (10 + n)).
   * Skipped steps leave the generator and so the average unchanged.
   */
  async trainStep(): Promise<DiStarStepResult> {
    const before = this.trainer.generatorUpdates
    const result = await this.trainer.stepAsync()
    const n = this.trainer.generatorUpdates
    if (n !== before) this.updateGeneratorEma(n)
    return result
  }

  private updateGeneratorEma(n: number): void {
    const d = Math.min(this.config.generatorEmaDecay, (1 + n) / (10 + n))
    tf.tidy(() => {
      for (const [k, ema] of Object.entries(this.generatorEma)) ema.assign(tf.add(tf.mul(ema, d), tf.mul(this.generator[k]!, 1 - d)))
    })
  }

  /**
   * Writes generator, fake score, both optimiser states and the counters as one atomic checkpoint.
   * Weights or moments holding NaN/Inf are refused (NonFiniteWeightsError) and nothing is written:
   * such a checkpoint would resume into a run that can only skip steps, and pruning would delete the good ones.
   */
  async saveCheckpoint(dir: string): Promise<void> {
    const state = this.trainer.exportState()
    const tensors: Record<string, NamedTensor> = {}
    for (const [k, t] of Object.entries(await paramsToNamedTensors(this.generator))) tensors[`generator/${k}`] = t
    for (const [k, t] of Object.entries(await paramsToNamedTensors(this.generatorEma))) tensors[`generatorEma/${k}`] = t
    for (const [k, t] of Object.entries(await paramsToNamedTensors(this.fake))) tensors[`fake/${k}`] = t
    for (const [k, t] of Object.entries(state.generatorOptimizer.moments)) tensors[`generatorAdam/${k}`] = t
    for (const [k, t] of Object.entries(state.fakeOptimizer.moments)) tensors[`fakeAdam/${k}`] = t
    const poisoned = Object.entries(tensors).filter(([, t]) => t.dtype === 'float32' && !(t.data as Float32Array).every(Number.isFinite)).map(([k]) => k)
    if (poisoned.length > 0) throw new NonFiniteWeightsError(state.step, poisoned)
    const info: RunCheckpointInfo = {
      kind: 'distar-run-checkpoint', version: 2, step: state.step,
      consecutiveSkips: state.consecutiveSkips, totalSkips: state.totalSkips, pausedReason: state.pausedReason,
      generatorAdamStep: state.generatorOptimizer.step, fakeAdamStep: state.fakeOptimizer.step,
      controls: this.trainer.controls,
    }
    await saveCheckpoint(dir, { config: info, tensors })
  }

  /**
   * Restores a checkpoint written by saveCheckpoint. Everything is read and verified before anything
   * changes, so a corrupt or mismatched checkpoint (CheckpointError) leaves the session as it was.
   */
  async loadCheckpoint(dir: string): Promise<RunCheckpointInfo> {
    const expectShapes = (config: unknown): Record<string, number[]> => {
      const info = config as Partial<RunCheckpointInfo> | null
      if (info?.kind !== 'distar-run-checkpoint' || !Number.isInteger(info.step)) throw new CheckpointError(`${dir} is not a DI* run checkpoint`)
      if (info.version !== 1 && info.version !== 2) throw new CheckpointError(`${dir} is a DI* run checkpoint of version ${String(info.version)}, which this studio cannot read (it reads 1 and 2)`)
      const groups = ['generator', 'fake', ...(info.version === 1 ? [] : ['generatorEma'])]
      const shapes: Record<string, number[]> = {}
      for (const [k, s] of Object.entries(ditParamShapes(this.reference.dit))) {
        for (const g of groups) shapes[`${g}/${k}`] = s
        for (const opt of ['generatorAdam', 'fakeAdam']) {
          shapes[`${opt}/${k}/m`] = s
          shapes[`${opt}/${k}/v`] = s
        }
      }
      return shapes
    }
    const ck = await loadCheckpoint(dir, { expectShapes })
    const info = ck.config as RunCheckpointInfo
    const T = this.reference.schedule.alphas.length
    const controls = validateControls(info.controls, T)
    const moments = (prefix: string): AdamState['moments'] => {
      const out: AdamState['moments'] = {}
      for (const [k, t] of Object.entries(ck.tensors)) if (k.startsWith(`${prefix}/`)) out[k.slice(prefix.length + 1)] = t
      return out
    }
    const state: DiStarTrainerState = {
      step: info.step, consecutiveSkips: info.consecutiveSkips, totalSkips: info.totalSkips, pausedReason: info.pausedReason,
      generatorOptimizer: { step: info.generatorAdamStep, moments: moments('generatorAdam') },
      fakeOptimizer: { step: info.fakeAdamStep, moments: moments('fakeAdam') },
    }
    this.trainer.importState(state) // validates the optimiser states before changing anything
    assignParams(this.generator, ck.tensors, 'generator')
    assignParams(this.generatorEma, ck.tensors, info.version === 1 ? 'generator' : 'generatorEma')
    assignParams(this.fake, ck.tensors, 'fake')
    this.trainer.controls = controls
    return info
  }

  /**
   * One-step samples of the generator (its EMA by default, as grids and exports show it; or the raw
   * weights being trained), one image per prompt, its noise drawn from the seed beside it (NHWC in [-1, 1]).
   */
  async sampleImages(prompts: readonly string[], seeds: readonly number[], weights: GeneratorWeights = 'ema'): Promise<Float32Array> {
    if (prompts.length !== seeds.length) throw new Error(`sampleImages: ${prompts.length} prompts but ${seeds.length} seeds`)
    const [H, W, C] = this.reference.imageShape
    const z = tf.tidy(() => tf.concat(seeds.map((s) => tf.tensor4d(new Rng(s).normals(H * W * C), [1, H, W, C])), 0) as tf.Tensor4D)
    const images = tf.tidy(() => {
      const eps: EpsFn = (p, x, t, cond) => ditEps(p, this.reference.dit, x, t, cond as tf.Tensor2D)
      return generatorSample({ eps, params: weights === 'ema' ? this.generatorEma : this.generator }, z, this.reference.encodePrompts([...prompts]), this.reference.schedule, this.config.tInit)
    })
    z.dispose()
    const pixels = (await images.data()) as Float32Array
    images.dispose()
    return pixels
  }

  /** One-step samples of the generator for the fixed prompts and seeds, written as a PNG grid + JSON sidecar. */
  async writeSampleGrid(pngPath: string, sidecarPath: string, step: number): Promise<void> {
    const { prompts, seeds } = samplePlan(this.config)
    const [H] = this.reference.imageShape
    const pixels = await this.sampleImages(prompts, seeds)
    await atomicWriteFile(pngPath, encodeImageGrid(pixels, prompts.length, H, { columns: this.config.samples.columns }))
    await atomicWriteFile(sidecarPath, JSON.stringify({ step, prompts, seeds, tInit: this.config.tInit, columns: this.config.samples.columns, weights: 'ema', emaDecay: this.config.generatorEmaDecay }, null, 2) + '\n')
  }

  /** The generator's weights (or their EMA) as plain arrays (tests compare runs bit for bit). */
  generatorValues(weights: GeneratorWeights = 'raw'): Record<string, Float32Array> {
    const params = weights === 'ema' ? this.generatorEma : this.generator
    return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.dataSync() as Float32Array]))
  }

  /** Threads computing each step's gradients. */
  get trainingThreads(): number {
    return this.trainer.threads
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    // worker threads end asynchronously; nothing waits on them (they hold no state that matters)
    this.parallel?.dispose().catch(() => {})
    this.trainer.dispose()
    disposeParams(this.generator)
    disposeParams(this.generatorEma)
    disposeParams(this.fake)
    this.reference.dispose()
  }
}

/**
 * The t_init a saved generator was trained for: its config's `tInit`, or for a DI* run checkpoint
 * (runs/<id>/checkpoints/step-<N>) the tInit in runs/<id>/config.json; undefined when neither says.
 */
function generatorInitTInit(dir: string, config: unknown): number | undefined {
  const own = (config as { tInit?: unknown } | null)?.tInit
  if (typeof own === 'number') return own
  if ((config as Partial<RunCheckpointInfo> | null)?.kind !== 'distar-run-checkpoint') return undefined
  try {
    const runConfig = JSON.parse(readFileSync(join(dir, '..', '..', 'config.json'), 'utf8')) as { tInit?: unknown }
    return typeof runConfig.tInit === 'number' ? runConfig.tInit : DEFAULT_T_INIT
  } catch {
    return undefined
  }
}

/** A checkpoint refused because tensors hold NaN or Inf (nothing was written). */
export class NonFiniteWeightsError extends Error {
  override name = 'NonFiniteWeightsError'
  constructor(readonly step: number, readonly tensorNames: string[]) {
    const shown = tensorNames.slice(0, 3).join(', ') + (tensorNames.length > 3 ? ` and ${tensorNames.length - 3} more` : '')
    super(`not saving a checkpoint at step ${step}: ${tensorNames.length} tensor(s) hold NaN or Infinity (${shown})`)
  }
}

function assignParams(params: DitParams, tensors: Record<string, NamedTensor>, prefix: string): void {
  tf.tidy(() => {
    for (const [k, v] of Object.entries(params)) v.assign(tf.tensor(tensors[`${prefix}/${k}`]!.data as Float32Array, v.shape, 'float32'))
  })
}
