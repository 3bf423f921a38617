// A DI* run's generator as an ONNX model: reads runs/<id>/config.json (t_init, base model) and a
// checkpoint runs/<id>/checkpoints/step-<N>/ (its generator EMA, else the raw generator: run-files.ts),
// takes the architecture, tokenizer and schedule from the run's reference model, and exports the
// one-step generator. Exports are cached per checkpoint (by its weights' sha256) and reused.
import { existsSync, promises as fs } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { loadCheckpoint, MODEL_FILE } from '../../ml/checkpoint/checkpoint.ts'
import { ditParamShapes } from '../../ml/diffusion/dit.ts'
import { exportGenerator, isOnnxPackage, loadDitSource, loadOnnxPackage, sha256Hex, OnnxPackageError, type LoadedPackage } from '../../ml/onnx/model-package.ts'
import { checkpointGeneratorValues, checkpointPath, listCheckpointSteps, runBaseModelDir, RUN_FILES } from '../runs/run-files.ts'
import { DEFAULT_T_INIT } from '../runs/run-config.ts'

export interface RunGeneratorOptions {
  /** checkpoint step; default: the newest complete one */
  step?: number
  /** where the run's relative baseModelDir is resolved from (the run engine's baseDir; default cwd) */
  baseDir?: string
  /** the shipped reference, used when the run config names no baseModelDir */
  referenceDir: string
  cacheDir: string
}

export async function resolveRunGenerator(runDir: string, opts: RunGeneratorOptions): Promise<LoadedPackage> {
  runDir = resolve(runDir)
  const runId = basename(runDir)
  let config: { tInit?: unknown; baseModelDir?: unknown }
  try {
    config = JSON.parse(await fs.readFile(join(runDir, RUN_FILES.config), 'utf8')) as typeof config
  } catch (err) {
    throw new OnnxPackageError(`run ${runId}: cannot read its ${RUN_FILES.config} (${(err as Error).message})`)
  }
  const tInit = config.tInit ?? DEFAULT_T_INIT // the run config's default
  if (typeof tInit !== 'number' || !Number.isInteger(tInit)) throw new OnnxPackageError(`run ${runId}: tInit in ${RUN_FILES.config} is not an integer`)
  const base = runBaseModelDir(config.baseModelDir, opts.referenceDir, opts.baseDir ?? process.cwd())
  const steps = await listCheckpointSteps(runDir)
  const step = opts.step ?? steps[0]
  if (step === undefined) throw new OnnxPackageError(`run ${runId} has no checkpoint yet`)
  if (!steps.includes(step)) throw new OnnxPackageError(`run ${runId} has no checkpoint at step ${step} (it has ${steps.join(', ') || 'none'})`)
  return exportCheckpointGenerator(checkpointPath(runDir, step), {
    referenceDir: base, tInit, name: `${runId}-step-${step}`, step, cacheDir: opts.cacheDir, what: `run ${runId}, step ${step}`,
  })
}

export interface CheckpointGeneratorOptions {
  /** the reference the generator was trained on: architecture, tokenizer, schedule */
  referenceDir: string
  tInit: number
  /** the exported model's name (also its cache folder's prefix) */
  name: string
  step?: number
  cacheDir: string
  /** how errors name the checkpoint */
  what: string
}

/**
 * The one-step generator held by a checkpoint folder (its generator EMA, else the raw generator:
 * run-files.ts), exported to ONNX. Exports are cached by the checkpoint's weights (sha256) and reused.
 */
export async function exportCheckpointGenerator(ckDir: string, opts: CheckpointGeneratorOptions): Promise<LoadedPackage> {
  // the cache key is the checkpoint's weights; '.previous' is where an interrupted save left them
  const weightsFile = [join(ckDir, MODEL_FILE), join(`${ckDir}.previous`, MODEL_FILE)].find(existsSync)
  if (!weightsFile) throw new OnnxPackageError(`${opts.what}: no ${MODEL_FILE} in ${ckDir}`)
  const cached = join(opts.cacheDir, `${opts.name}-${sha256Hex(await fs.readFile(weightsFile)).slice(0, 16)}`)
  if (await isOnnxPackage(cached)) {
    try {
      return await loadOnnxPackage(cached)
    } catch {
      // damaged cache entry: exported again below
    }
  }
  const reference = await loadDitSource(opts.referenceDir)
  const ck = await loadCheckpoint(ckDir) // verifies checksums; shapes are checked below for the generator part
  const shapes = ditParamShapes(reference.dit)
  const generator = checkpointGeneratorValues(ck.tensors, shapes)
  if ('bad' in generator) {
    throw new OnnxPackageError(`${opts.what}: ${generator.group} tensor '${generator.bad}' is missing or not float32 of shape [${shapes[generator.bad]}] (does its base model ${opts.referenceDir} match?)`)
  }
  await exportGenerator({ source: { ...reference, values: generator.values }, tInit: opts.tInit, name: opts.name, checkpoint: ckDir, ...(opts.step !== undefined ? { step: opts.step } : {}) }, cached)
  return loadOnnxPackage(cached)
}
