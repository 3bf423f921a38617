// Reads and checks a Stable Diffusion model folder in the layout Hugging Face Optimum's ONNX export
// writes (`optimum-cli export onnx --model stabilityai/sd-turbo out/`; docs/sd-onnx.md), as it is:
//
//   model_index.json                  pipeline class and components (diffusers' DiffusionPipeline.save_config)
//   text_encoder/model.onnx           CLIPTextOnnxConfig            + config.json
//   text_encoder_2/model.onnx         CLIPTextWithProjectionOnnxConfig (SDXL only)
//   unet/model.onnx (+ model.onnx_data when > 2 GB)   UNetOnnxConfig + config.json
//   vae_decoder/model.onnx            VaeDecoderOnnxConfig          + config.json (scaling_factor)
//   tokenizer/{vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json}, tokenizer_2/ (SDXL)
//   scheduler/scheduler_config.json
//
// Folder and file names: optimum/utils/constant.py (ONNX_WEIGHTS_NAME = "model.onnx",
// DIFFUSION_MODEL_*_SUBFOLDER) and optimum/onnxruntime/modeling_diffusion.py (save_pretrained; each part's
// config.json beside its model.onnx). Signatures: ./signatures.ts. Nothing is loaded into onnxruntime
// here: each model.onnx's declared inputs and outputs are read from its protobuf header
// (./onnx-header.ts), so a wrong or broken folder is refused in well under a second with a message
// naming the file and what is wrong, before gigabytes are read.
import { readFile, stat } from 'node:fs/promises'
import { freemem } from 'node:os'
import { join } from 'node:path'
import { readOnnxHeader, OnnxHeaderError, type OnnxHeader } from './onnx-header.ts'
import { checkTextEncoder, checkUnet, checkVaeDecoder, SignatureProblems, type TextEncoderSignature, type UnetSignature, type VaeDecoderSignature } from './signatures.ts'
import { ClipTokenizer, ClipTokenizerError } from './clip-tokenizer.ts'
import { createScheduler, SchedulerError, type SchedulerConfig } from './schedulers.ts'

export type SdFamily = 'sd' | 'sdxl'

export interface ComponentFiles {
  /** model.onnx */
  model: string
  /** bytes of model.onnx and its external data files */
  bytes: number
  header: OnnxHeader
}

export interface SdModelFolder {
  dir: string
  family: SdFamily
  /** model_index.json _class_name, e.g. StableDiffusionPipeline, StableDiffusionXLPipeline */
  pipelineClass: string
  textEncoder: ComponentFiles & { signature: TextEncoderSignature }
  textEncoder2?: ComponentFiles & { signature: TextEncoderSignature }
  unet: ComponentFiles & { signature: UnetSignature }
  vaeDecoder: ComponentFiles & { signature: VaeDecoderSignature }
  tokenizer: ClipTokenizer
  tokenizer2?: ClipTokenizer
  scheduler: SchedulerConfig
  /** unet/config.json in_channels */
  latentChannels: number
  /** vae_decoder/config.json scaling_factor: 0.18215 SD 1.x/2.x, 0.13025 SDXL */
  vaeScalingFactor: number
  /** 2^(len(block_out_channels) - 1): 8 for every SD VAE */
  vaeScale: number
  /** unet/config.json sample_size * vaeScale: the size the model was trained at */
  defaultSize?: number
  /** SDXL (model_index.json): a zero negative embedding for an empty negative prompt */
  forceZerosForEmptyPrompt: boolean
  /** sum of every model file's bytes */
  totalBytes: number
}

export class SdModelFolderError extends Error {
  constructor(readonly dir: string, readonly problems: string[]) {
    super(`${dir} is not a usable Stable Diffusion ONNX export: ${problems.join('; ')}`)
    this.name = 'SdModelFolderError'
  }
}

async function readJsonFile(path: string, rel: string, problems: string[]): Promise<Record<string, unknown> | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    problems.push(code === 'ENOENT' ? `${rel} is missing` : `${rel} cannot be read (${code ?? (err as Error).message})`)
    return undefined
  }
  try {
    const v = JSON.parse(text) as unknown
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      problems.push(`${rel} is not a JSON object`)
      return undefined
    }
    return v as Record<string, unknown>
  } catch (err) {
    problems.push(`${rel} is not valid JSON (${(err as Error).message})`)
    return undefined
  }
}

async function readComponent(dir: string, sub: string, problems: string[]): Promise<ComponentFiles | undefined> {
  const rel = `${sub}/model.onnx`
  const model = join(dir, sub, 'model.onnx')
  try {
    const s = await stat(model)
    if (!s.isFile()) {
      problems.push(`${rel} is not a file`)
      return undefined
    }
  } catch {
    problems.push(`${rel} is missing`)
    return undefined
  }
  let header: OnnxHeader
  try {
    header = await readOnnxHeader(model)
  } catch (err) {
    problems.push(`${rel}: ${err instanceof OnnxHeaderError ? err.message : (err as Error).message}`)
    return undefined
  }
  let bytes = header.fileBytes
  // external data: every referenced file must exist and be long enough for the tensors it holds
  const ends = new Map<string, number>()
  for (const ref of header.externalData) ends.set(ref.location, Math.max(ends.get(ref.location) ?? 0, ref.end))
  for (const [location, end] of ends) {
    const relData = `${sub}/${location}`
    if (location.includes('..') || location.startsWith('/')) {
      problems.push(`${rel} keeps weights at '${location}', outside its folder`)
      continue
    }
    try {
      const size = (await stat(join(dir, sub, location))).size
      if (size < end) problems.push(`${relData} is truncated: ${size} bytes, but ${rel} reads up to byte ${end}`)
      bytes += size
    } catch {
      problems.push(`${relData} is missing (${rel} keeps its weights there)`)
    }
  }
  return { model, bytes, header }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

/** Read and check a model folder; refuses with every problem found, each naming its file. */
export async function readSdModelFolder(dir: string): Promise<SdModelFolder> {
  const problems: string[] = []
  const index = await readJsonFile(join(dir, 'model_index.json'), 'model_index.json', problems)
  if (!index) throw new SdModelFolderError(dir, problems)
  const pipelineClass = typeof index._class_name === 'string' ? index._class_name : ''
  const family: SdFamily = 'text_encoder_2' in index || /XL/.test(pipelineClass) ? 'sdxl' : 'sd'
  if (!/^(StableDiffusion|ORTStableDiffusion|OnnxStableDiffusion)/.test(pipelineClass)) {
    problems.push(`model_index.json names the pipeline '${pipelineClass || '(none)'}', not a Stable Diffusion (1.x/2.x/XL) pipeline`)
  }
  if (/Img2Img|Inpaint|Refiner|Upscale|Depth|InstructPix2Pix/i.test(pipelineClass)) {
    problems.push(`model_index.json names '${pipelineClass}'; only text-to-image pipelines are read`)
  }

  const unetConfig = await readJsonFile(join(dir, 'unet', 'config.json'), 'unet/config.json', problems)
  const vaeConfig = await readJsonFile(join(dir, 'vae_decoder', 'config.json'), 'vae_decoder/config.json', problems)
  const te2Config = family === 'sdxl' ? await readJsonFile(join(dir, 'text_encoder_2', 'config.json'), 'text_encoder_2/config.json', problems) : undefined
  const schedulerConfig = await readJsonFile(join(dir, 'scheduler', 'scheduler_config.json'), 'scheduler/scheduler_config.json', problems)

  const latentChannels = num(unetConfig?.in_channels) ?? 4
  const crossAttentionDim = num(unetConfig?.cross_attention_dim)
  const textEmbedsDim = num(te2Config?.projection_dim)
  if (unetConfig && family === 'sdxl' && unetConfig.addition_embed_type !== undefined && unetConfig.addition_embed_type !== 'text_time') {
    problems.push(`unet/config.json addition_embed_type is '${String(unetConfig.addition_embed_type)}', SDXL's is 'text_time'`)
  }
  const vaeScalingFactor = num(vaeConfig?.scaling_factor)
  if (vaeConfig && vaeScalingFactor === undefined) problems.push('vae_decoder/config.json has no scaling_factor (0.18215 for SD 1.x/2.x, 0.13025 for SDXL)')
  const blocks = Array.isArray(vaeConfig?.block_out_channels) ? (vaeConfig.block_out_channels as unknown[]).length : Array.isArray(vaeConfig?.up_block_types) ? (vaeConfig.up_block_types as unknown[]).length : 4
  const vaeScale = 2 ** (blocks - 1)
  const vaeLatent = num(vaeConfig?.latent_channels)
  if (vaeLatent !== undefined && vaeLatent !== latentChannels) problems.push(`vae_decoder/config.json latent_channels ${vaeLatent} differs from unet/config.json in_channels ${latentChannels}`)

  const te = await readComponent(dir, 'text_encoder', problems)
  const te2 = family === 'sdxl' ? await readComponent(dir, 'text_encoder_2', problems) : undefined
  const unet = await readComponent(dir, 'unet', problems)
  const vae = await readComponent(dir, 'vae_decoder', problems)

  const sig = <T>(f: () => T): T | undefined => {
    try {
      return f()
    } catch (err) {
      if (err instanceof SignatureProblems) problems.push(...err.problems)
      else throw err
      return undefined
    }
  }
  const teSig = te && sig(() => checkTextEncoder(te.header, 'text_encoder/model.onnx', family === 'sdxl' ? { hiddenStates: true } : { lastHidden: true }))
  const te2Sig = te2 && sig(() => checkTextEncoder(te2.header, 'text_encoder_2/model.onnx', { hiddenStates: true, textEmbeds: true }))
  const unetSig = unet && sig(() => checkUnet(unet.header, 'unet/model.onnx', { sdxl: family === 'sdxl', latentChannels, ...(crossAttentionDim !== undefined ? { crossAttentionDim } : {}), ...(textEmbedsDim !== undefined ? { textEmbedsDim } : {}) }))
  const vaeSig = vae && sig(() => checkVaeDecoder(vae.header, 'vae_decoder/model.onnx', { latentChannels }))
  if (unetSig?.hasTimestepCond) problems.push("unet/model.onnx has a 'timestep_cond' input (a guidance-embedded LCM UNet), which is not supported yet")

  const tok = (sub: string): ClipTokenizer | undefined => {
    try {
      return ClipTokenizer.fromFolder(join(dir, sub))
    } catch (err) {
      if (err instanceof ClipTokenizerError) problems.push(`${sub}/${err.message}`)
      else problems.push(`${sub}: ${(err as Error).message}`)
      return undefined
    }
  }
  const tokenizer = tok('tokenizer')
  const tokenizer2 = family === 'sdxl' ? tok('tokenizer_2') : undefined
  if (schedulerConfig) {
    try {
      createScheduler(schedulerConfig as SchedulerConfig, 1)
    } catch (err) {
      if (err instanceof SchedulerError) problems.push(`scheduler/scheduler_config.json: ${err.message}`)
      else throw err
    }
  }

  if (problems.length > 0) throw new SdModelFolderError(dir, problems)
  const sampleSize = num(unetConfig!.sample_size)
  const folder: SdModelFolder = {
    dir,
    family,
    pipelineClass,
    textEncoder: { ...te!, signature: teSig! },
    unet: { ...unet!, signature: unetSig! },
    vaeDecoder: { ...vae!, signature: vaeSig! },
    tokenizer: tokenizer!,
    scheduler: schedulerConfig as SchedulerConfig,
    latentChannels,
    vaeScalingFactor: vaeScalingFactor!,
    vaeScale,
    ...(sampleSize !== undefined ? { defaultSize: sampleSize * vaeScale } : {}),
    forceZerosForEmptyPrompt: index.force_zeros_for_empty_prompt === true,
    totalBytes: te!.bytes + unet!.bytes + vae!.bytes + (te2?.bytes ?? 0),
  }
  if (te2 && te2Sig) folder.textEncoder2 = { ...te2, signature: te2Sig }
  if (tokenizer2) folder.tokenizer2 = tokenizer2
  return folder
}

export class SdMemoryError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SdMemoryError'
  }
}

/**
 * onnxruntime holds every weight in memory and adds its arena and activations on top; refuse before
 * loading when the machine's free memory cannot hold the model files with a margin. `free` is
 * os.freemem() (MemAvailable on Linux) unless a caller passes its own.
 */
export function checkSdMemory(folder: Pick<SdModelFolder, 'totalBytes' | 'dir'>, free = freemem(), margin = 1.25): void {
  const need = folder.totalBytes * margin
  if (need > free) {
    const gb = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GB`
    throw new SdMemoryError(
      `Not enough free memory to load ${folder.dir}: its model files are ${gb(folder.totalBytes)} and loading them needs about ${gb(need)}, but ${gb(free)} is free. Close other programs, or use a float16 export (half the size).`,
    )
  }
}
