// DiffusionModel = architecture + schedule + tokenizer + weights: the unit that is saved, loaded,
// shipped under resources/models/ and cloned into DI*'s generator and fake score.
import * as tf from '@tensorflow/tfjs-core'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadCheckpoint, saveCheckpoint, CheckpointError, CONFIG_FILE, type NamedTensor } from '../checkpoint/checkpoint.ts'
import { Tokenizer, type TokenizerJson } from '../text/tokenizer.ts'
import { ditEps, ditParamShapes, initDitValues, paramsFromValues, disposeParams, validateDitConfig, type DitConfig, type DitParams } from './dit.ts'
import { VpSchedule, type ScheduleConfig } from './schedule.ts'
import { sample, withGuidance, type SamplerKind } from './samplers.ts'

export const MODEL_FORMAT = 'di-studio-diffusion'
export const MODEL_FORMAT_VERSION = 1

/** config.json of a saved model. */
export interface DiffusionModelConfig {
  format: typeof MODEL_FORMAT
  version: typeof MODEL_FORMAT_VERSION
  prediction: 'epsilon'
  dit: DitConfig
  schedule: ScheduleConfig
  tokenizer: TokenizerJson
  /** free-form facts about how the weights were made (steps, data, ...) */
  training?: Record<string, unknown>
}

export interface GenerateOptions {
  steps: number
  sampler?: SamplerKind
  /** classifier-free guidance scale; 1 = no guidance */
  guidance?: number
  /** one per prompt */
  seeds: number[]
}

export function parseModelConfig(json: unknown, where: string): DiffusionModelConfig {
  const o = json as Partial<DiffusionModelConfig> | null
  if (!o || typeof o !== 'object') throw new CheckpointError(`${where}: config is not an object`)
  if (o.format !== MODEL_FORMAT) throw new CheckpointError(`${where}: not a diffusion model (format '${String(o.format)}', expected '${MODEL_FORMAT}')`)
  if (o.version !== MODEL_FORMAT_VERSION) throw new CheckpointError(`${where}: model format version ${String(o.version)}, this build reads ${MODEL_FORMAT_VERSION}`)
  if (o.prediction !== 'epsilon') throw new CheckpointError(`${where}: unsupported prediction '${String(o.prediction)}'`)
  try {
    validateDitConfig(o.dit as DitConfig)
    new VpSchedule(o.schedule as ScheduleConfig)
  } catch (err) {
    throw new CheckpointError(`${where}: ${(err as Error).message}`)
  }
  return o as DiffusionModelConfig
}

export class DiffusionModel {
  readonly schedule: VpSchedule

  constructor(
    readonly dit: DitConfig,
    scheduleConfig: ScheduleConfig,
    readonly tokenizer: Tokenizer,
    readonly params: DitParams,
    readonly training: Record<string, unknown> = {},
  ) {
    if (dit.output === 'v' && JSON.stringify(dit.schedule) !== JSON.stringify(scheduleConfig)) {
      throw new Error(`DiffusionModel: the DiT converts v with schedule ${JSON.stringify(dit.schedule)}, the model samples with ${JSON.stringify(scheduleConfig)}`)
    }
    if (dit.vocabSize !== tokenizer.vocabSize || dit.textLength !== tokenizer.maxLength) {
      throw new Error(`DiffusionModel: DiT expects vocab ${dit.vocabSize} x length ${dit.textLength}, tokenizer has ${tokenizer.vocabSize} x ${tokenizer.maxLength}`)
    }
    this.schedule = new VpSchedule(scheduleConfig)
  }

  /** A freshly initialised (seeded) model; `dit`'s text sizes come from the tokenizer, a v-output's schedule from scheduleConfig. */
  static create(dit: Omit<DitConfig, 'vocabSize' | 'textLength' | 'schedule'>, scheduleConfig: ScheduleConfig, tokenizer: Tokenizer, seed: number): DiffusionModel {
    const full: DitConfig = {
      ...dit, vocabSize: tokenizer.vocabSize, textLength: tokenizer.maxLength,
      ...(dit.output === 'v' ? { schedule: { ...scheduleConfig } } : {}),
    }
    return new DiffusionModel(full, scheduleConfig, tokenizer, paramsFromValues(full, initDitValues(full, seed), true))
  }

  get config(): DiffusionModelConfig {
    return {
      format: MODEL_FORMAT, version: MODEL_FORMAT_VERSION, prediction: 'epsilon',
      dit: this.dit, schedule: this.schedule.config, tokenizer: this.tokenizer.toJSON(),
      ...(Object.keys(this.training).length > 0 ? { training: this.training } : {}),
    }
  }

  get imageShape(): [number, number, number] {
    return [this.dit.imageSize, this.dit.imageSize, this.dit.channels]
  }

  /** Token ids [B, L] int32 for prompts ('' = the CFG null prompt). */
  encodePrompts(prompts: string[]): tf.Tensor2D {
    return tf.tensor2d(this.tokenizer.encodeBatch(prompts), [prompts.length, this.tokenizer.maxLength], 'int32')
  }

  /** eps prediction with these weights, or with another params record of the same architecture. */
  eps(xt: tf.Tensor4D, t: tf.Tensor1D, tokens: tf.Tensor2D, params: DitParams = this.params): tf.Tensor4D {
    return ditEps(params, this.dit, xt, t, tokens)
  }

  /** A copy of the weights as new variables (e.g. DI*'s generator and fake score). */
  cloneParams(trainable: boolean): DitParams {
    const values: Record<string, Float32Array> = {}
    for (const [name, v] of Object.entries(this.params)) values[name] = v.dataSync() as Float32Array
    return paramsFromValues(this.dit, values, trainable)
  }

  /** Samples one image per prompt; returns [B, H, W, C] in [-1, 1]. */
  generate(prompts: string[], opts: GenerateOptions, params: DitParams = this.params): tf.Tensor4D {
    if (prompts.length !== opts.seeds.length) throw new Error(`generate: ${prompts.length} prompts but ${opts.seeds.length} seeds`)
    const guidance = opts.guidance ?? 1
    const cond = this.encodePrompts(prompts)
    const both = tf.concat([cond, this.encodePrompts(prompts.map(() => ''))], 0) as tf.Tensor2D
    try {
      const eps = withGuidance((x, t, which) => tf.tidy(() => {
        const tokens = which === 'cond' ? cond : both
        return this.eps(x, tf.fill([x.shape[0]], t, 'float32') as tf.Tensor1D, tokens, params)
      }), guidance)
      return sample(eps, { schedule: this.schedule, sampler: opts.sampler ?? 'ddim', steps: opts.steps, seeds: opts.seeds, imageShape: this.imageShape })
    } finally {
      cond.dispose()
      both.dispose()
    }
  }

  async save(dir: string): Promise<void> {
    await saveCheckpoint(dir, { config: this.config, tensors: await paramsToNamedTensors(this.params) })
  }

  /** Loads a saved model; corrupt, truncated or mismatched files throw CheckpointError. */
  static async load(dir: string): Promise<DiffusionModel> {
    // The shapes to expect come from the architecture in config.json; loadCheckpoint then verifies
    // the pair (checksums) and every tensor's shape against them.
    let expectShapes: Record<string, number[]> | undefined
    try {
      expectShapes = ditParamShapes(parseModelConfig(JSON.parse(await readFile(join(dir, CONFIG_FILE), 'utf8')), dir).dit)
    } catch {
      expectShapes = undefined // unreadable here: loadCheckpoint reports the real problem (or recovers a half-done save)
    }
    const ck = await loadCheckpoint(dir, expectShapes ? { expectShapes } : {})
    const config = parseModelConfig(ck.config, dir)
    if (!expectShapes) await loadCheckpoint(dir, { expectShapes: ditParamShapes(config.dit) })
    let tokenizer: Tokenizer
    try {
      tokenizer = Tokenizer.fromJSON(config.tokenizer)
    } catch (err) {
      throw new CheckpointError(`${dir}: tokenizer in config.json is invalid: ${(err as Error).message}`)
    }
    const values: Record<string, Float32Array> = {}
    for (const [name, t] of Object.entries(ck.tensors)) {
      if (t.dtype !== 'float32') throw new CheckpointError(`${dir}: tensor '${name}' is ${t.dtype}, expected float32`)
      values[name] = t.data as Float32Array
    }
    return new DiffusionModel(config.dit, config.schedule, tokenizer, paramsFromValues(config.dit, values, false), config.training ?? {})
  }

  dispose(): void {
    disposeParams(this.params)
  }
}

export async function paramsToNamedTensors(params: DitParams): Promise<Record<string, NamedTensor>> {
  const out: Record<string, NamedTensor> = {}
  for (const [name, v] of Object.entries(params)) out[name] = { dtype: 'float32', shape: [...v.shape], data: (await v.data()) as Float32Array }
  return out
}
