// Image generation through onnxruntime-node: one-step generators, and multi-step sampling of an 'eps'
// network with the scheduler in TypeScript (SamplerStepper: the same DDIM / DPM-Solver++(2M) maths as
// the tfjs samplers, with classifier-free guidance). One session per model, created on first use and
// reused; images are generated in batches, each image from its own seed (initialNoise), so an image
// depends only on its prompt, seed and settings, never on which batch it landed in.
import { SamplerStepper, guideEps } from '../diffusion/sampler-steps.ts'
import { initialNoise, type SamplerKind } from '../diffusion/samplers.ts'
import { VpSchedule } from '../diffusion/schedule.ts'
import type { LoadedPackage } from './model-package.ts'
import { createSession, reportProviders, ort, type ExecutionProvider, type ProviderReport } from './runtime.ts'

export interface SamplingSettings {
  sampler: SamplerKind
  steps: number
  /** classifier-free guidance scale; 1 = none */
  guidance: number
}

export interface GenerateRequest {
  prompts: string[]
  /** one per prompt */
  seeds: number[]
  /** ignored by one-step generators */
  sampling?: SamplingSettings
  /** images per onnxruntime call (default 16) */
  batchSize?: number
  signal?: AbortSignal
  /** called after every batch with images done so far */
  onProgress?: (done: number, total: number) => void
}

export interface GeneratedImages {
  /** [N, H, W, 3] in [-1, 1], NHWC, in request order */
  pixels: Float32Array
  count: number
  imageSize: number
  /** wall time of the model work, ms */
  elapsedMs: number
}

export class InferenceAbortedError extends Error {
  constructor() {
    super('Generation cancelled')
    this.name = 'InferenceAbortedError'
  }
}

export const DEFAULT_SAMPLING: SamplingSettings = { sampler: 'ddim', steps: 25, guidance: 3 }

/** Sessions keyed by the ONNX file's sha256: the same model is loaded once however many jobs use it. */
export class OnnxInference {
  readonly providers: ProviderReport
  private readonly threads: number | undefined
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>()

  constructor(opts: { prefer?: ExecutionProvider | 'auto'; threads?: number } = {}) {
    this.providers = reportProviders(opts.prefer ?? 'auto')
    this.threads = opts.threads
  }

  session(pkg: LoadedPackage): Promise<ort.InferenceSession> {
    const key = pkg.manifest.onnxSha256
    let s = this.sessions.get(key)
    if (!s) {
      s = createSession(pkg.onnx, { providers: this.providers.chosen, ...(this.threads !== undefined ? { threads: this.threads } : {}) })
      s.catch(() => this.sessions.delete(key)) // a failed load is retried next time, not cached
      this.sessions.set(key, s)
    }
    return s
  }

  async generate(pkg: LoadedPackage, req: GenerateRequest): Promise<GeneratedImages> {
    const { prompts, seeds } = req
    if (prompts.length !== seeds.length) throw new Error(`generate: ${prompts.length} prompts but ${seeds.length} seeds`)
    if (prompts.length === 0) throw new Error('generate: nothing to generate (no prompts)')
    const batchSize = req.batchSize ?? 16
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`generate: batchSize must be a positive integer, got ${batchSize}`)
    const sampling = req.sampling ?? DEFAULT_SAMPLING
    if (pkg.manifest.kind === 'eps') checkSampling(sampling)
    const session = await this.session(pkg)
    const S = pkg.manifest.imageSize
    const per = S * S * 3
    const out = new Float32Array(prompts.length * per)
    const started = performance.now()
    for (let start = 0; start < prompts.length; start += batchSize) {
      if (req.signal?.aborted) throw new InferenceAbortedError()
      const end = Math.min(prompts.length, start + batchSize)
      const batchPrompts = prompts.slice(start, end)
      const batchSeeds = seeds.slice(start, end)
      const images = pkg.manifest.kind === 'generator'
        ? await runGenerator(session, pkg, batchPrompts, batchSeeds)
        : await runSampler(session, pkg, batchPrompts, batchSeeds, sampling, req.signal)
      out.set(images, start * per)
      req.onProgress?.(end, prompts.length)
    }
    return { pixels: out, count: prompts.length, imageSize: S, elapsedMs: performance.now() - started }
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()]
    this.sessions.clear()
    await Promise.all(all.map(async (s) => (await s.catch(() => null))?.release()))
  }
}

function checkSampling(s: SamplingSettings): void {
  if (s.sampler !== 'ddim' && s.sampler !== 'dpmpp-2m') throw new Error(`generate: unknown sampler '${String(s.sampler)}' (ddim or dpmpp-2m)`)
  if (!Number.isInteger(s.steps) || s.steps < 1 || s.steps > 1000) throw new Error(`generate: steps must be an integer in 1..1000, got ${s.steps}`)
  if (!Number.isFinite(s.guidance)) throw new Error(`generate: guidance must be a finite number, got ${s.guidance}`)
}

function tokensFor(pkg: LoadedPackage, prompts: string[]): ort.Tensor | undefined {
  if (!pkg.tokenizer) return undefined
  return new ort.Tensor('int32', pkg.tokenizer.encodeBatch(prompts), [prompts.length, pkg.tokenizer.maxLength])
}

async function runGenerator(session: ort.InferenceSession, pkg: LoadedPackage, prompts: string[], seeds: number[]): Promise<Float32Array> {
  const S = pkg.manifest.imageSize
  const B = prompts.length
  const feeds: Record<string, ort.Tensor> = { z: new ort.Tensor('float32', initialNoise(seeds, [S, S, 3]), [B, S, S, 3]) }
  const tokens = tokensFor(pkg, prompts)
  if (tokens) feeds.tokens = tokens
  const x0 = (await session.run(feeds)).x0
  if (!x0) throw new Error(`model ${pkg.manifest.name}: the graph returned no 'x0'`)
  const data = x0.data as Float32Array
  // clip like the samplers' final x0; an imported model may overshoot [-1, 1]
  const out = new Float32Array(data.length)
  for (let k = 0; k < data.length; k++) out[k] = Math.min(1, Math.max(-1, data[k]!))
  return out
}

async function runSampler(session: ort.InferenceSession, pkg: LoadedPackage, prompts: string[], seeds: number[], s: SamplingSettings, signal?: AbortSignal): Promise<Float32Array> {
  const S = pkg.manifest.imageSize
  const B = prompts.length
  const L = pkg.tokenizer!.maxLength
  const stepper = new SamplerStepper(new VpSchedule(pkg.manifest.schedule), s.sampler, s.steps)
  const guided = s.guidance !== 1
  // with guidance the conditional and the null-prompt halves go through one run of batch 2B
  const ids = pkg.tokenizer!.encodeBatch(guided ? [...prompts, ...prompts.map(() => '')] : prompts)
  const rows = guided ? 2 * B : B
  const tokens = new ort.Tensor('int32', ids, [rows, L])
  let x = initialNoise(seeds, [S, S, 3])
  const per = B * S * S * 3
  for (const [i, t] of stepper.timesteps.entries()) {
    if (signal?.aborted) throw new InferenceAbortedError()
    const xt = guided ? concat2(x) : x
    const result = await session.run({
      xt: new ort.Tensor('float32', xt, [rows, S, S, 3]),
      t: new ort.Tensor('float32', new Float32Array(rows).fill(t), [rows]),
      tokens,
    })
    const eps = result.eps?.data as Float32Array | undefined
    if (!eps) throw new Error(`model ${pkg.manifest.name}: the graph returned no 'eps'`)
    const e = guided ? guideEps(eps.subarray(0, per), eps.subarray(per, 2 * per), s.guidance) : eps
    x = stepper.step(i, x, e)
  }
  return x
}

function concat2(x: Float32Array): Float32Array {
  const out = new Float32Array(2 * x.length)
  out.set(x)
  out.set(x, x.length)
  return out
}
