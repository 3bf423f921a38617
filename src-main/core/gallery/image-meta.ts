// What a gallery image records about how it was made, and how that is written into its PNG:
//   'parameters'  A1111-style text, read by other diffusion tools:
//                 "<prompt>\nSteps: 25, Sampler: DDIM, CFG scale: 3, Seed: 7, Size: 32x32, Model: reference, ..."
//   one tEXt/iTXt chunk per field ('Prompt', 'Seed', 'Model', ...) for tools that read single keys
//   'di-studio'   the same record as JSON: the authoritative copy this studio reads back
import { PngError, readPngText } from './png-text.ts'

export type GallerySampler = 'one-step' | 'ddim' | 'dpmpp-2m'

export interface ImageMeta {
  prompt: string
  seed: number
  /** display name of the model */
  model: string
  /** the model folder used (an ONNX package or a saved diffusion model), for re-generation */
  modelPath: string
  /** sha256 of the model.onnx that made the image: re-generation refuses a different file */
  modelSha256: string
  modelKind: 'generator' | 'eps'
  /** training step of the checkpoint the model came from, when known */
  checkpointStep?: number
  /** DI* run id the generator came from, when known */
  run?: string
  /** the generator's t_init, for one-step models made from a DiT */
  tInit?: number
  sampler: GallerySampler
  /** model evaluations per image (1 for one-step) */
  steps: number
  /** classifier-free guidance scale (1 = none; one-step generators have none) */
  cfg: number
  width: number
  height: number
  /** ISO 8601 */
  createdAt: string
  /** model time per image, ms */
  generationMs: number
}

export const META_KEY = 'di-studio'
export const META_VERSION = 1

const SAMPLER_LABEL: Record<GallerySampler, string> = { 'one-step': 'One-step', ddim: 'DDIM', 'dpmpp-2m': 'DPM++ 2M' }

/** The A1111 'parameters' text (prompt line, then "Key: value" pairs; no negative prompt). */
export function parametersText(m: ImageMeta): string {
  const pairs: [string, string | number | undefined][] = [
    ['Steps', m.steps], ['Sampler', SAMPLER_LABEL[m.sampler]], ['CFG scale', m.cfg], ['Seed', m.seed],
    ['Size', `${m.width}x${m.height}`], ['Model hash', m.modelSha256.slice(0, 10)], ['Model', m.model],
    ['Checkpoint step', m.checkpointStep], ['Run', m.run], ['T init', m.tInit], ['Created', m.createdAt], ['Version', 'DI Studio'],
  ]
  // commas and newlines inside values would break the "Key: value, ..." parsing of other tools
  const clean = (v: string | number) => String(v).replace(/[,\n]/g, ' ')
  return `${m.prompt.replace(/\n/g, ' ')}\n${pairs.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${clean(v!)}`).join(', ')}`
}

export function metaToText(m: ImageMeta): Record<string, string> {
  const text: Record<string, string> = {
    parameters: parametersText(m),
    Prompt: m.prompt, Seed: String(m.seed), Model: m.model, Sampler: m.sampler, Steps: String(m.steps),
    'CFG scale': String(m.cfg), 'Creation Time': m.createdAt, 'Generation time ms': m.generationMs.toFixed(2),
  }
  if (m.checkpointStep !== undefined) text['Checkpoint step'] = String(m.checkpointStep)
  if (m.run !== undefined) text.Run = m.run
  text[META_KEY] = JSON.stringify({ version: META_VERSION, ...m })
  return text
}

/** Checks an unknown value is a complete ImageMeta; throws naming the first bad field. */
export function parseMeta(value: unknown, where: string): ImageMeta {
  const o = value as Record<string, unknown> | null
  if (!o || typeof o !== 'object') throw new PngError(`${where}: metadata is not an object`)
  const need = (key: string, ok: (v: unknown) => boolean, what: string) => {
    if (!ok(o[key])) throw new PngError(`${where}: metadata field '${key}' must be ${what}, got ${JSON.stringify(o[key])}`)
  }
  const str = (v: unknown) => typeof v === 'string'
  const int = (v: unknown) => Number.isInteger(v)
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v)
  const optional = (test: (v: unknown) => boolean) => (v: unknown) => v === undefined || test(v)
  need('prompt', str, 'a string')
  need('seed', int, 'an integer')
  need('model', str, 'a string')
  need('modelPath', str, 'a string')
  need('modelSha256', (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v), 'a sha256 hex string')
  need('modelKind', (v) => v === 'generator' || v === 'eps', "'generator' or 'eps'")
  need('checkpointStep', optional(int), 'an integer')
  need('run', optional(str), 'a string')
  need('tInit', optional(int), 'an integer')
  need('sampler', (v) => v === 'one-step' || v === 'ddim' || v === 'dpmpp-2m', "'one-step', 'ddim' or 'dpmpp-2m'")
  need('steps', (v) => int(v) && (v as number) >= 1, 'a positive integer')
  need('cfg', num, 'a finite number')
  need('width', int, 'an integer')
  need('height', int, 'an integer')
  need('createdAt', (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)), 'an ISO date')
  need('generationMs', num, 'a finite number')
  const m: ImageMeta = {
    prompt: o.prompt as string, seed: o.seed as number, model: o.model as string, modelPath: o.modelPath as string,
    modelSha256: o.modelSha256 as string, modelKind: o.modelKind as ImageMeta['modelKind'],
    sampler: o.sampler as GallerySampler, steps: o.steps as number, cfg: o.cfg as number,
    width: o.width as number, height: o.height as number, createdAt: o.createdAt as string, generationMs: o.generationMs as number,
  }
  if (o.checkpointStep !== undefined) m.checkpointStep = o.checkpointStep as number
  if (o.run !== undefined) m.run = o.run as string
  if (o.tInit !== undefined) m.tInit = o.tInit as number
  return m
}

/** Reads the studio's metadata from a PNG file; a PNG without it (or a damaged one) throws PngError. */
export function readImageMeta(file: Uint8Array, where: string): ImageMeta {
  const text = readPngText(file, where)
  const json = text[META_KEY]
  if (json === undefined) throw new PngError(`${where}: PNG carries no DI Studio metadata ('${META_KEY}' text chunk)`)
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    throw new PngError(`${where}: the '${META_KEY}' text chunk is not valid JSON`)
  }
  return parseMeta(value, where)
}
