// An exported model folder: model.onnx plus manifest.json (what the graph is, how to tokenize prompts
// for it, its schedule and t_init, where it came from, and the sha256 of model.onnx so a damaged or
// swapped file is caught before onnxruntime sees it).
//
// Three ways in:
//   exportDiffusionModel : a saved DiffusionModel (the reference) -> 'eps' graph for multi-step sampling
//   exportGenerator      : a one-step generator, i.e. DiT weights with the reference's config + t_init
//                          (DI*'s generator; a saved DiffusionModel folder of its weights works too)
//   importOnnxGenerator  : a user's own ONNX one-step generator, checked against docs/onnx-import.md
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { join, resolve } from 'node:path'
import { atomicWriteFile } from '../../util/atomic-write.ts'
import { loadCheckpoint, CONFIG_FILE } from '../checkpoint/checkpoint.ts'
import { ditParamShapes, type DitConfig } from '../diffusion/dit.ts'
import { parseModelConfig, type DiffusionModel } from '../diffusion/model.ts'
import { VpSchedule, type ScheduleConfig } from '../diffusion/schedule.ts'
import { Tokenizer, type TokenizerJson } from '../text/tokenizer.ts'
import { exportDitToOnnx, type DitExportKind } from './export-dit.ts'
import { exportUnetToOnnx } from './export-unet.ts'
import { checkGeneratorSignature, type GeneratorSignature } from './signature.ts'

export const PACKAGE_FORMAT = 'di-studio-onnx-model'
export const PACKAGE_VERSION = 1
export const ONNX_FILE = 'model.onnx'
export const MANIFEST_FILE = 'manifest.json'

export type OnnxModelKind = 'generator' | 'eps'

export interface OnnxModelManifest {
  format: typeof PACKAGE_FORMAT
  version: typeof PACKAGE_VERSION
  /** 'generator': (z[, tokens]) -> x0 in one step; 'eps': (xt, t, tokens) -> eps for the samplers */
  kind: OnnxModelKind
  /** short display name, e.g. 'reference' or 'distar-step-2000' */
  name: string
  imageSize: number
  channels: number
  /** absent for a prompt-free imported generator (input z only) */
  tokenizer?: TokenizerJson
  schedule: ScheduleConfig
  /** the generator's input timestep (generators made from a DiT) */
  tInit?: number
  source: { checkpoint: string; step?: number; imported?: boolean }
  onnxSha256: string
  createdAt: string
  /**
   * sha256 of this manifest's JSON without this field (key order as written). Catches a damaged
   * manifest that still parses (a changed t_init, schedule or tokenizer entry). Absent in packages
   * written before it existed; those are still read.
   */
  manifestSha256?: string
}

export class OnnxPackageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OnnxPackageError'
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function writePackage(outDir: string, onnx: Uint8Array, manifest: Omit<OnnxModelManifest, 'format' | 'version' | 'onnxSha256' | 'createdAt' | 'manifestSha256'>): Promise<OnnxModelManifest> {
  const fields = {
    format: PACKAGE_FORMAT, version: PACKAGE_VERSION, ...manifest,
    onnxSha256: sha256Hex(onnx), createdAt: new Date().toISOString(),
  } satisfies OnnxModelManifest
  const full: OnnxModelManifest = { ...fields, manifestSha256: manifestChecksum(fields) }
  // the onnx file first: a manifest never points at a missing or half-written graph
  await atomicWriteFile(join(outDir, ONNX_FILE), onnx)
  await atomicWriteFile(join(outDir, MANIFEST_FILE), JSON.stringify(full, null, 2))
  return full
}

/** What an export needs: the DiT's architecture and weights, its tokenizer and its sampling schedule. */
export interface DitSource {
  dit: DitConfig
  schedule: VpSchedule
  tokenizer: Tokenizer
  values: Record<string, Float32Array>
  training?: Record<string, unknown>
}

/** From a model in memory (reads its tfjs weights once). */
export function ditSourceFromModel(model: DiffusionModel): DitSource {
  const values: Record<string, Float32Array> = {}
  for (const [name, v] of Object.entries(model.params)) values[name] = v.dataSync() as Float32Array
  return { dit: model.dit, schedule: model.schedule, tokenizer: model.tokenizer, values, training: model.training }
}

/**
 * From a saved DiffusionModel folder, without TensorFlow.js: the checkpoint loader verifies checksums
 * and shapes, so the inference worker never has to start a tfjs backend to export.
 */
export async function loadDitSource(dir: string): Promise<DitSource> {
  let config: ReturnType<typeof parseModelConfig>
  try {
    config = parseModelConfig(JSON.parse(await fs.readFile(join(dir, CONFIG_FILE), 'utf8')), dir)
  } catch (err) {
    throw new OnnxPackageError(`${dir}: ${(err as Error).message}`)
  }
  const ck = await loadCheckpoint(dir, { expectShapes: ditParamShapes(config.dit) })
  const values: Record<string, Float32Array> = {}
  for (const [name, t] of Object.entries(ck.tensors)) {
    if (t.dtype !== 'float32') throw new OnnxPackageError(`${dir}: tensor '${name}' is ${t.dtype}, expected float32`)
    values[name] = t.data as Float32Array
  }
  let tokenizer: Tokenizer
  try {
    tokenizer = Tokenizer.fromJSON(config.tokenizer)
  } catch (err) {
    throw new OnnxPackageError(`${dir}: tokenizer in config.json is invalid: ${(err as Error).message}`)
  }
  return { dit: config.dit, schedule: new VpSchedule(config.schedule), tokenizer, values, training: config.training ?? {} }
}

/** The ONNX graph of either denoiser: the DiT, or the U-Net for arch 'unet' (same inputs and outputs). */
function exportNetworkToOnnx(dit: DitConfig, values: Record<string, Float32Array>, what: DitExportKind, docString: string): Uint8Array {
  return dit.arch === 'unet' ? exportUnetToOnnx(dit, values, what, docString) : exportDitToOnnx(dit, values, what, docString)
}

/** The reference network as an 'eps' graph; sampling (DDIM, DPM-Solver++, CFG) stays in TypeScript. */
export async function exportDiffusionModel(src: DitSource, outDir: string, info: { name: string; checkpoint: string; step?: number }): Promise<OnnxModelManifest> {
  const onnx = exportNetworkToOnnx(src.dit, src.values, { kind: 'eps' }, `eps network of ${info.name}`)
  return writePackage(outDir, onnx, {
    kind: 'eps', name: info.name, imageSize: src.dit.imageSize, channels: src.dit.channels,
    tokenizer: src.tokenizer.toJSON(), schedule: src.schedule.config,
    source: { checkpoint: info.checkpoint, ...(info.step !== undefined ? { step: info.step } : {}) },
  })
}

export interface GeneratorExport {
  /** the architecture, tokenizer and schedule (the reference's: DI*'s generator shares them) and the generator's weights */
  source: DitSource
  tInit: number
  name: string
  checkpoint: string
  step?: number
}

/** A one-step generator x0 = (z - sigma_tinit eps(z, t_init)) / alpha_tinit, as in DI*'s generatorSample. */
export async function exportGenerator(g: GeneratorExport, outDir: string): Promise<OnnxModelManifest> {
  const { schedule, dit } = g.source
  if (!Number.isInteger(g.tInit) || g.tInit < 0 || g.tInit >= schedule.T) throw new OnnxPackageError(`generator export: t_init must be an integer in [0, ${schedule.T - 1}], got ${g.tInit}`)
  const onnx = exportNetworkToOnnx(dit, g.source.values, {
    kind: 'generator', tInit: g.tInit, alpha: schedule.alpha(g.tInit), sigma: schedule.sigma(g.tInit),
  }, `one-step generator ${g.name} (t_init ${g.tInit})`)
  return writePackage(outDir, onnx, {
    kind: 'generator', name: g.name, imageSize: dit.imageSize, channels: dit.channels,
    tokenizer: g.source.tokenizer.toJSON(), schedule: schedule.config, tInit: g.tInit,
    source: { checkpoint: g.checkpoint, ...(g.step !== undefined ? { step: g.step } : {}) },
  })
}

export interface ImportOptions {
  name: string
  /** tokenizer for the 'tokens' input (its maxLength must equal the graph's L); not needed for a z-only graph */
  tokenizer?: Tokenizer
  /** schedule recorded in the manifest (informational for generators); default cosine, T 1000 */
  schedule?: ScheduleConfig
}

/**
 * Copies a user's ONNX one-step generator into a package after checking it: parseable ONNX, the
 * documented signature (docs/onnx-import.md), and a trial run of batch 1 and 2 that returns finite
 * x0 of the right shape. Every mismatch is an OnnxPackageError naming what differs.
 */
export async function importOnnxGenerator(onnxPath: string, outDir: string, opts: ImportOptions): Promise<{ manifest: OnnxModelManifest; signature: GeneratorSignature }> {
  let bytes: Uint8Array
  try {
    bytes = await fs.readFile(onnxPath)
  } catch (err) {
    throw new OnnxPackageError(`import: cannot read ${onnxPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const signature = await checkGeneratorSignature(bytes, { textLength: opts.tokenizer?.maxLength, where: onnxPath })
  if (signature.textLength !== undefined && !opts.tokenizer) {
    throw new OnnxPackageError(`import: ${onnxPath} takes a 'tokens' input, so it needs a tokenizer (the reference model's) to turn prompts into ids`)
  }
  const schedule = opts.schedule ?? { kind: 'cosine', T: 1000 }
  new VpSchedule(schedule) // validates
  const manifest = await writePackage(outDir, bytes, {
    kind: 'generator', name: opts.name, imageSize: signature.imageSize, channels: 3,
    ...(signature.textLength !== undefined ? { tokenizer: opts.tokenizer!.toJSON() } : {}),
    schedule, source: { checkpoint: resolve(onnxPath), imported: true },
  })
  return { manifest, signature }
}

export interface LoadedPackage {
  dir: string
  manifest: OnnxModelManifest
  onnx: Uint8Array
  /** undefined for a prompt-free generator */
  tokenizer?: Tokenizer
}

export async function isOnnxPackage(dir: string): Promise<boolean> {
  try {
    await fs.access(join(dir, MANIFEST_FILE))
    return true
  } catch {
    return false
  }
}

const MANIFEST_KEYS = new Set(['format', 'version', 'kind', 'name', 'imageSize', 'channels', 'tokenizer', 'schedule', 'tInit', 'source', 'onnxSha256', 'createdAt', 'manifestSha256'])

function manifestChecksum(fields: object): string {
  return sha256Hex(Buffer.from(JSON.stringify(fields)))
}

/** Reads and verifies a package: the manifest's own checksum and fields, the onnx file's sha256, the tokenizer. */
export async function loadOnnxPackage(dir: string): Promise<LoadedPackage> {
  dir = resolve(dir)
  let manifest: OnnxModelManifest
  try {
    manifest = JSON.parse(await fs.readFile(join(dir, MANIFEST_FILE), 'utf8')) as OnnxModelManifest
  } catch (err) {
    throw new OnnxPackageError(`${dir}: no readable ${MANIFEST_FILE} (${(err as Error).message})`)
  }
  const m = manifest as Partial<OnnxModelManifest> | null
  if (!m || typeof m !== 'object' || m.format !== PACKAGE_FORMAT) throw new OnnxPackageError(`${dir}: ${MANIFEST_FILE} is not a DI Studio ONNX model manifest`)
  // A flipped bit in a key name (say, of manifestSha256 itself) must not pass as an older manifest.
  const unknownKey = Object.keys(m).find((key) => !MANIFEST_KEYS.has(key))
  if (unknownKey !== undefined) throw new OnnxPackageError(`${dir}: ${MANIFEST_FILE} has an unknown field ${JSON.stringify(unknownKey.slice(0, 40))} (damaged, or written by a newer build)`)
  if (m.manifestSha256 !== undefined) {
    const { manifestSha256, ...fields } = m
    if (manifestSha256 !== manifestChecksum(fields)) throw new OnnxPackageError(`${dir}: ${MANIFEST_FILE} is damaged or was edited (its checksum does not match)`)
  }
  if (m.version !== PACKAGE_VERSION) throw new OnnxPackageError(`${dir}: manifest version ${String(m.version)}, this build reads ${PACKAGE_VERSION}`)
  if (m.kind !== 'generator' && m.kind !== 'eps') throw new OnnxPackageError(`${dir}: manifest kind '${String(m.kind)}' is neither 'generator' nor 'eps'`)
  if (!Number.isInteger(m.imageSize) || m.imageSize! < 1) throw new OnnxPackageError(`${dir}: manifest imageSize must be a positive integer`)
  if (m.kind === 'eps' && !m.tokenizer) throw new OnnxPackageError(`${dir}: an 'eps' model needs a tokenizer in its manifest`)
  let onnx: Uint8Array
  try {
    onnx = await fs.readFile(join(dir, ONNX_FILE))
  } catch (err) {
    throw new OnnxPackageError(`${dir}: cannot read ${ONNX_FILE} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  const sha = sha256Hex(onnx)
  if (sha !== m.onnxSha256) throw new OnnxPackageError(`${dir}: ${ONNX_FILE} is damaged or was replaced (sha256 ${sha.slice(0, 12)}…, manifest says ${String(m.onnxSha256).slice(0, 12)}…)`)
  let tokenizer: Tokenizer | undefined
  try {
    tokenizer = m.tokenizer ? Tokenizer.fromJSON(m.tokenizer) : undefined
    new VpSchedule(m.schedule!)
  } catch (err) {
    throw new OnnxPackageError(`${dir}: manifest ${(err as Error).message}`)
  }
  return { dir, manifest, onnx, ...(tokenizer ? { tokenizer } : {}) }
}

export interface ResolveModelOptions {
  /** where packages exported on the fly from DiffusionModel folders are kept */
  cacheDir: string
  /** export a DiffusionModel folder as a one-step generator with this t_init instead of an eps network */
  generatorTInit?: number
  /** display name (default: the folder name) */
  name?: string
}

/**
 * A model folder given by the user -> a loaded package. An ONNX package is used as is; a saved
 * DiffusionModel folder is exported once into cacheDir (keyed by its weights' hash) and reused.
 */
export async function resolveModelFolder(dir: string, opts: ResolveModelOptions): Promise<LoadedPackage> {
  dir = resolve(dir)
  if (await isOnnxPackage(dir)) return loadOnnxPackage(dir)
  let weights: Uint8Array
  try {
    weights = await fs.readFile(join(dir, 'model.safetensors'))
  } catch {
    throw new OnnxPackageError(`${dir}: neither an ONNX model folder (${MANIFEST_FILE} + ${ONNX_FILE}) nor a saved diffusion model (config.json + model.safetensors)`)
  }
  const name = opts.name ?? dir.split(/[\\/]/).filter(Boolean).pop() ?? 'model'
  const kindKey = opts.generatorTInit === undefined ? 'eps' : `generator-t${opts.generatorTInit}`
  const cached = join(opts.cacheDir, `${name}-${kindKey}-${sha256Hex(weights).slice(0, 16)}`)
  if (await isOnnxPackage(cached)) {
    try {
      return await loadOnnxPackage(cached)
    } catch {
      // a damaged cache entry is simply rebuilt below
    }
  }
  const source = await loadDitSource(dir)
  const training = source.training ?? {}
  const step = typeof training.steps === 'number' ? training.steps : typeof training.step === 'number' ? training.step : undefined
  const info = { name, checkpoint: dir, ...(step !== undefined ? { step } : {}) }
  if (opts.generatorTInit === undefined) await exportDiffusionModel(source, cached, info)
  else await exportGenerator({ source, tInit: opts.generatorTInit, ...info }, cached)
  return loadOnnxPackage(cached)
}
