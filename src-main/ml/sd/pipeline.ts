// Text-to-image with a Stable Diffusion ONNX export (SD 1.x/2.x-style such as SD-Turbo, SDXL-style such as
// SDXL-Turbo) on onnxruntime-node: text encoder(s) -> scheduler loop with the UNet (classifier-free
// guidance when guidance > 1) -> VAE decoder -> RGB bytes. The order of operations follows diffusers'
// StableDiffusionPipeline / StableDiffusionXLPipeline __call__ (encode_prompt, prepare_latents,
// _get_add_time_ids, the denoising loop, then vae.decode(latents / scaling_factor) and
// (image / 2 + 0.5).clamp(0, 1) * 255 rounded), and the inputs are fed by the names and types the
// export declares (./signatures.ts). The starting noise comes from the project's seeded Rng, so one seed
// always gives the same image here (not the same image as torch's generator in diffusers).
import { readSdModelFolder, checkSdMemory, type SdModelFolder } from './model-folder.ts'
import { createScheduler } from './schedulers.ts'
import { fromHalf, toHalf } from './float16.ts'
import type { ClipTokenizer } from './clip-tokenizer.ts'
import type { FloatType, TextEncoderSignature } from './signatures.ts'
import { createSession, ort, type ExecutionProvider } from '../onnx/runtime.ts'
import { Rng } from '../util/rng.ts'

export interface SdGenerateRequest {
  prompt: string
  negativePrompt?: string
  seed: number
  steps: number
  /** classifier-free guidance scale; guidance on only when > 1 (diffusers' do_classifier_free_guidance) */
  guidance: number
  width: number
  height: number
}

export interface SdGenerateOptions {
  signal?: AbortSignal
  /** after each denoising step: (steps done, steps in all) */
  onStep?: (done: number, total: number) => void
}

export interface SdImage {
  width: number
  height: number
  /** width * height * 3 bytes, rows top to bottom */
  rgb: Uint8Array
  scheduler: string
  /** prompt ids past the 77-token window, per tokenizer */
  truncatedTokens: number
  seconds: { text: number; denoise: number; decode: number }
}

export interface SdLoadOptions {
  providers?: ExecutionProvider[]
  threads?: number
  /** free memory in bytes; os.freemem() unless given (tests) */
  freeMemory?: number
}

type Session = Awaited<ReturnType<typeof createSession>>

function floatTensor(type: FloatType, data: Float32Array, dims: number[]): ort.Tensor {
  return type === 'float16' ? new ort.Tensor('float16', toHalf(data), dims) : new ort.Tensor('float32', data, dims)
}

function readFloats(t: ort.Tensor | undefined, what: string): Float32Array {
  if (!t) throw new Error(`${what} is missing from the model's outputs`)
  if (t.type === 'float32') return t.data as Float32Array
  if (t.type === 'float16') return t.data instanceof Uint16Array ? fromHalf(t.data) : Float32Array.from(t.data as ArrayLike<number>)
  throw new Error(`${what} is ${t.type}, expected float32 or float16`)
}

export class SdPipeline {
  private constructor(
    readonly folder: SdModelFolder,
    private readonly textEncoder: Session,
    private readonly textEncoder2: Session | undefined,
    private readonly unet: Session,
    private readonly vaeDecoder: Session,
  ) {}

  /** Check the folder, the memory, then create the onnxruntime sessions. */
  static async load(dir: string, opts: SdLoadOptions = {}): Promise<SdPipeline> {
    const folder = await readSdModelFolder(dir)
    checkSdMemory(folder, opts.freeMemory)
    const sessionOpts = { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.threads !== undefined ? { threads: opts.threads } : {}) }
    const sessions: Session[] = []
    const open = async (path: string, rel: string) => {
      try {
        const s = await createSession(path, sessionOpts)
        sessions.push(s)
        return s
      } catch (err) {
        await Promise.all(sessions.map((s) => s.release()))
        throw new Error(`${rel}: ${(err as Error).message}`)
      }
    }
    const te = await open(folder.textEncoder.model, 'text_encoder/model.onnx')
    const te2 = folder.textEncoder2 ? await open(folder.textEncoder2.model, 'text_encoder_2/model.onnx') : undefined
    const unet = await open(folder.unet.model, 'unet/model.onnx')
    const vae = await open(folder.vaeDecoder.model, 'vae_decoder/model.onnx')
    return new SdPipeline(folder, te, te2, unet, vae)
  }

  async release(): Promise<void> {
    await Promise.all([this.textEncoder, this.textEncoder2, this.unet, this.vaeDecoder].map((s) => s?.release()))
  }

  private async encodeText(session: Session, sig: TextEncoderSignature, tokenizer: ClipTokenizer, texts: string[]): Promise<{ outputs: ort.InferenceSession.ReturnType; truncated: number }> {
    const encoded = texts.map((t) => tokenizer.encodeForModel(t))
    const L = tokenizer.maxLength
    const flat = encoded.flatMap((e) => e.ids)
    const ids = sig.idsType === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(flat, (v) => BigInt(v)), [texts.length, L]) : new ort.Tensor('int32', Int32Array.from(flat), [texts.length, L])
    const outputs = await session.run({ input_ids: ids })
    return { outputs, truncated: Math.max(...encoded.map((e) => e.truncated)) }
  }

  /** Prompt embeddings for [negative, positive] (CFG) or [positive], and SDXL's pooled embeddings. */
  private async promptEmbeddings(prompt: string, negative: string | undefined, cfg: boolean): Promise<{ embeds: Float32Array; seqLen: number; dim: number; pooled?: Float32Array; pooledDim?: number; truncated: number }> {
    const f = this.folder
    const zeroNegative = cfg && f.family === 'sdxl' && f.forceZerosForEmptyPrompt && !negative
    const texts = cfg && !zeroNegative ? [negative ?? '', prompt] : [prompt]
    const batch = cfg ? 2 : 1
    /** tensor [n, L, D] of one text encoder's chosen output, expanded to `batch` rows (zero negative first) */
    const rows = (t: ort.Tensor, what: string): { data: Float32Array; L: number; D: number } => {
      const data = readFloats(t, what)
      const [n, L, D] = t.dims as number[]
      if (t.dims.length !== 3 || n !== texts.length) throw new Error(`${what} has shape [${t.dims.join(', ')}], expected [${texts.length}, L, D]`)
      if (n === batch) return { data, L: L!, D: D! }
      const out = new Float32Array(batch * L! * D!)
      out.set(data, (batch - 1) * L! * D!)
      return { data: out, L: L!, D: D! }
    }
    if (f.family === 'sd') {
      const { outputs, truncated } = await this.encodeText(this.textEncoder, f.textEncoder.signature, f.tokenizer, texts)
      const r = rows(outputs.last_hidden_state!, "text_encoder output 'last_hidden_state'")
      return { embeds: r.data, seqLen: r.L, dim: r.D, truncated }
    }
    // SDXL: the penultimate hidden state of both encoders, concatenated on the feature axis; pooled from
    // text_encoder_2's text_embeds (diffusers' encode_prompt: prompt_embeds.hidden_states[-2], prompt_embeds[0])
    const one = await this.encodeText(this.textEncoder, f.textEncoder.signature, f.tokenizer, texts)
    const two = await this.encodeText(this.textEncoder2!, f.textEncoder2!.signature, f.tokenizer2!, texts)
    const h1 = f.textEncoder.signature.hiddenStates
    const h2 = f.textEncoder2!.signature.hiddenStates
    const a = rows(one.outputs[h1[h1.length - 2]!]!, `text_encoder output '${h1[h1.length - 2]}'`)
    const b = rows(two.outputs[h2[h2.length - 2]!]!, `text_encoder_2 output '${h2[h2.length - 2]}'`)
    if (a.L !== b.L) throw new Error(`the two text encoders give ${a.L} and ${b.L} positions`)
    const D = a.D + b.D
    const embeds = new Float32Array(batch * a.L * D)
    for (let r = 0; r < batch * a.L; r++) {
      embeds.set(a.data.subarray(r * a.D, (r + 1) * a.D), r * D)
      embeds.set(b.data.subarray(r * b.D, (r + 1) * b.D), r * D + a.D)
    }
    const pooledT = two.outputs.text_embeds!
    const pooledRaw = readFloats(pooledT, "text_encoder_2 output 'text_embeds'")
    const P = pooledT.dims[pooledT.dims.length - 1] as number
    const pooled = new Float32Array(batch * P)
    pooled.set(pooledRaw, (batch - texts.length) * P)
    return { embeds, seqLen: a.L, dim: D, pooled, pooledDim: P, truncated: Math.max(one.truncated, two.truncated) }
  }

  async generate(req: SdGenerateRequest, opts: SdGenerateOptions = {}): Promise<SdImage> {
    const f = this.folder
    const { width, height, steps, guidance, seed } = req
    for (const [name, v] of [['width', width], ['height', height]] as const) {
      if (!Number.isInteger(v) || v < f.vaeScale || v % f.vaeScale !== 0) throw new Error(`${name} must be a positive multiple of ${f.vaeScale}, got ${v}`)
    }
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`)
    if (!Number.isFinite(guidance) || guidance < 0) throw new Error(`guidance must be a number >= 0, got ${guidance}`)
    if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`)
    opts.signal?.throwIfAborted()
    const scheduler = createScheduler(f.scheduler, steps)
    const cfg = guidance > 1
    const batch = cfg ? 2 : 1
    const t0 = performance.now()
    const text = await this.promptEmbeddings(req.prompt, req.negativePrompt, cfg)
    const t1 = performance.now()

    const sig = f.unet.signature
    const ft = sig.floatType
    const C = f.latentChannels
    const h = height / f.vaeScale
    const w = width / f.vaeScale
    const n = C * h * w
    const rng = new Rng(seed)
    let latents: Float32Array = rng.normals(n).map((v) => v * scheduler.initNoiseSigma)
    const fixed: Record<string, ort.Tensor> = { encoder_hidden_states: floatTensor(ft, text.embeds, [batch, text.seqLen, text.dim]) }
    if (sig.sdxl) {
      fixed.text_embeds = floatTensor(ft, text.pooled!, [batch, text.pooledDim!])
      // _get_add_time_ids: original_size + crops_coords_top_left + target_size (or + aesthetic score)
      const ids = sig.timeIdsLength === 5 ? [[height, width, 0, 0, 2.5], [height, width, 0, 0, 6]] : [[height, width, 0, 0, height, width], [height, width, 0, 0, height, width]]
      const rowsIds = cfg ? ids : [ids[1]!]
      fixed.time_ids = floatTensor(ft, Float32Array.from(rowsIds.flat()), [batch, rowsIds[0]!.length])
    }
    const timestepDims = sig.timestepRank === 0 ? [] : [f.unet.header.inputs.find((i) => i.name === 'timestep')!.dims[0] === 1 ? 1 : batch]
    const timestepTensor = (t: number): ort.Tensor => {
      const count = timestepDims.length === 0 ? 1 : timestepDims[0]!
      if (sig.timestepType === 'int64') return new ort.Tensor('int64', new BigInt64Array(count).fill(BigInt(Math.round(t))), timestepDims)
      if (sig.timestepType === 'int32') return new ort.Tensor('int32', new Int32Array(count).fill(Math.round(t)), timestepDims)
      return floatTensor(sig.timestepType, new Float32Array(count).fill(t), timestepDims)
    }
    for (let i = 0; i < scheduler.timesteps.length; i++) {
      opts.signal?.throwIfAborted()
      const input = scheduler.scaleModelInput(latents, i)
      const sample = new Float32Array(batch * n)
      for (let b = 0; b < batch; b++) sample.set(input, b * n)
      const out = await this.unet.run({ ...fixed, sample: floatTensor(ft, sample, [batch, C, h, w]), timestep: timestepTensor(scheduler.timesteps[i]!) })
      const pred = readFloats(out.out_sample, "unet output 'out_sample'")
      if (pred.length !== batch * n) throw new Error(`unet output 'out_sample' has shape [${out.out_sample!.dims.join(', ')}], expected [${batch}, ${C}, ${h}, ${w}]`)
      const eps = new Float32Array(n)
      for (let k = 0; k < n; k++) {
        const u = pred[k]!
        eps[k] = cfg ? u + guidance * (pred[n + k]! - u) : u
      }
      latents = scheduler.step(eps, i, latents, rng)
      opts.onStep?.(i + 1, scheduler.timesteps.length)
    }
    const t2 = performance.now()
    opts.signal?.throwIfAborted()
    const scaled = latents.map((v) => v / f.vaeScalingFactor)
    const decoded = await this.vaeDecoder.run({ latent_sample: floatTensor(f.vaeDecoder.signature.floatType, scaled, [1, C, h, w]) })
    const image = readFloats(decoded.sample, "vae_decoder output 'sample'")
    const dims = decoded.sample!.dims
    if (dims.length !== 4 || dims[0] !== 1 || dims[1] !== 3 || dims[2] !== height || dims[3] !== width) {
      throw new Error(`vae_decoder output 'sample' has shape [${dims.join(', ')}], expected [1, 3, ${height}, ${width}]`)
    }
    const rgb = new Uint8Array(width * height * 3)
    const plane = width * height
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const v = Math.min(1, Math.max(0, image[c * plane + p]! / 2 + 0.5))
        rgb[p * 3 + c] = Math.round(v * 255)
      }
    }
    const t3 = performance.now()
    return {
      width,
      height,
      rgb,
      scheduler: scheduler.name,
      truncatedTokens: text.truncated,
      seconds: { text: (t1 - t0) / 1000, denoise: (t2 - t1) / 1000, decode: (t3 - t2) / 1000 },
    }
  }
}
