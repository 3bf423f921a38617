// The input/output signatures of the ONNX files that Hugging Face Optimum's Stable Diffusion export
// writes, as its exporter declares them, and the check of a file's declared graph against them.
//
// Source: optimum/exporters/onnx/model_configs.py (huggingface/optimum v1.27.0; the ONNX exporter moved to
// the optimum-onnx package afterwards with the same configs) and optimum/utils/input_generators.py:
//   CLIPTextOnnxConfig ("clip-text", SD's text_encoder, SDXL's text_encoder):
//     inputs  input_ids {0: batch_size, 1: sequence_length}                       int64 (int_dtype default)
//     outputs last_hidden_state {0: batch_size, 1: sequence_length}, pooler_output {0: batch_size}
//             and hidden_states.0 .. hidden_states.N when output_hidden_states is set, which
//             optimum/exporters/utils.py (_get_submodels_for_export_diffusion) does for SDXL only
//   CLIPTextWithProjectionOnnxConfig ("clip-text-with-projection", SDXL's text_encoder_2):
//     outputs text_embeds {0: batch_size}, last_hidden_state, hidden_states.0 .. hidden_states.N
//   UNetOnnxConfig ("unet-2d-condition"):
//     inputs  sample {0: batch_size, 2: height, 3: width}, timestep {} ("a scalar with no dimension",
//             DummyTimestepInputGenerator: a float of the export's float dtype),
//             encoder_hidden_states {0: batch_size, 1: sequence_length},
//             and when unet.config.addition_embed_type == "text_time" (SDXL): text_embeds {0: batch_size}
//             ([B, text_encoder_projection_dim]) and time_ids {0: batch_size} ([B, 6], or [B, 5] when
//             requires_aesthetics_score); timestep_cond {0: batch_size} when time_cond_proj_dim is set (LCM)
//     outputs out_sample {0: batch_size, 2: height, 3: width}
//   VaeDecoderOnnxConfig ("vae-decoder"):
//     inputs  latent_sample {0: batch_size, 2: latent_height, 3: latent_width}
//     outputs sample {0: batch_size, 2: latent_height * 2^(len(up_block_types)-1), 3: ...}
// Float inputs and outputs are float32, or float16 for an export with `--dtype fp16`. Older exports
// gave timestep a dimension ([1] or [batch]); optimum/onnxruntime/modeling_diffusion.py (ORTUnet) still
// accepts them by unsqueezing, and so does this reader.
import type { OnnxHeader, OnnxValueDesc } from './onnx-header.ts'

export type FloatType = 'float32' | 'float16'
export type ComponentName = 'text_encoder' | 'text_encoder_2' | 'unet' | 'vae_decoder'

export interface ExpectedSizes {
  /** unet/config.json in_channels (4) */
  latentChannels?: number
  /** unet/config.json cross_attention_dim: 768 SD 1.x, 1024 SD 2.x, 2048 SDXL */
  crossAttentionDim?: number
  /** SDXL: text_encoder_2's projection_dim (1280) */
  textEmbedsDim?: number
}

export interface TextEncoderSignature {
  floatType: FloatType
  idsType: 'int32' | 'int64'
  /** names of hidden_states.i outputs, by i */
  hiddenStates: string[]
  hasTextEmbeds: boolean
  hasPooler: boolean
}

export interface UnetSignature {
  floatType: FloatType
  timestepType: FloatType | 'int64' | 'int32'
  /** 0 for Optimum's scalar timestep; 1 for older exports */
  timestepRank: 0 | 1
  sdxl: boolean
  /** 6 or 5 (requires_aesthetics_score) for SDXL */
  timeIdsLength?: number
  hasTimestepCond: boolean
}

export interface VaeDecoderSignature {
  floatType: FloatType
}

const FLOATS = new Set(['float32', 'float16'])
const shape = (v: OnnxValueDesc) => `[${v.dims.join(', ')}]`

class Problems {
  readonly list: string[] = []
  constructor(private readonly where: string) {}
  add(msg: string): void {
    this.list.push(`${this.where}: ${msg}`)
  }
}

function find(p: Problems, values: OnnxValueDesc[], name: string, kind: 'input' | 'output', source: string): OnnxValueDesc | undefined {
  const v = values.find((x) => x.name === name)
  if (!v) p.add(`it has no ${kind} named '${name}' (${kind}s: ${values.map((x) => `'${x.name}'`).join(', ') || 'none'}; ${source} names it '${name}')`)
  return v
}

function expectRank(p: Problems, v: OnnxValueDesc | undefined, rank: number, kind: string): void {
  if (v && v.dims.length !== rank) p.add(`${kind} '${v.name}' has shape ${shape(v)}, expected rank ${rank}`)
}

function expectFloat(p: Problems, v: OnnxValueDesc | undefined, kind: string, want?: FloatType): void {
  if (!v) return
  if (!FLOATS.has(v.type)) p.add(`${kind} '${v.name}' is ${v.type}, expected float32 or float16`)
  else if (want && v.type !== want) p.add(`${kind} '${v.name}' is ${v.type} while the model's other inputs are ${want}`)
}

function expectDim(p: Problems, v: OnnxValueDesc | undefined, axis: number, size: number | undefined, what: string): void {
  if (!v || size === undefined) return
  const d = v.dims[axis]
  if (typeof d === 'number' && d !== size) p.add(`'${v.name}' has ${d} at axis ${axis} (shape ${shape(v)}), but ${what} is ${size}`)
}

export class SignatureProblems extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '))
    this.name = 'SignatureProblems'
  }
}

/** CLIPTextOnnxConfig / CLIPTextWithProjectionOnnxConfig. `needs` says what the pipeline reads of it. */
export function checkTextEncoder(
  header: OnnxHeader,
  where: string,
  needs: { lastHidden?: boolean; hiddenStates?: boolean; textEmbeds?: boolean },
): TextEncoderSignature {
  const p = new Problems(where)
  const ids = find(p, header.inputs, 'input_ids', 'input', "Optimum's CLIPTextOnnxConfig")
  expectRank(p, ids, 2, 'input')
  if (ids && ids.type !== 'int64' && ids.type !== 'int32') p.add(`input 'input_ids' is ${ids.type}, expected int64 (or int32)`)
  const extra = header.inputs.filter((i) => i.name !== 'input_ids')
  if (extra.length > 0) p.add(`unexpected input(s) ${extra.map((i) => `'${i.name}'`).join(', ')} (a CLIP text encoder export has only 'input_ids')`)
  const hidden: string[] = []
  for (const o of header.outputs) {
    const m = /^hidden_states\.(\d+)$/.exec(o.name)
    if (m) {
      hidden[Number(m[1])] = o.name
      expectRank(p, o, 3, 'output')
    }
  }
  const floatOuts = header.outputs.filter((o) => o.name === 'last_hidden_state' || o.name === 'text_embeds' || o.name === 'pooler_output' || o.name.startsWith('hidden_states.'))
  const floatType = (floatOuts.find((o) => FLOATS.has(o.type))?.type ?? 'float32') as FloatType
  for (const o of floatOuts) expectFloat(p, o, 'output')
  if (needs.lastHidden) expectRank(p, find(p, header.outputs, 'last_hidden_state', 'output', "Optimum's CLIPTextOnnxConfig"), 3, 'output')
  if (needs.textEmbeds) expectRank(p, find(p, header.outputs, 'text_embeds', 'output', "Optimum's CLIPTextWithProjectionOnnxConfig"), 2, 'output')
  if (needs.hiddenStates) {
    const count = hidden.filter(Boolean).length
    if (count < 2 || hidden.length !== count) {
      p.add(`it has ${count === 0 ? 'no' : 'incomplete'} 'hidden_states.N' outputs (an SDXL export sets output_hidden_states, and the pipeline reads the penultimate layer)`)
    }
  }
  if (p.list.length > 0) throw new SignatureProblems(p.list)
  return {
    floatType,
    idsType: (ids!.type as 'int32' | 'int64'),
    hiddenStates: hidden,
    hasTextEmbeds: header.outputs.some((o) => o.name === 'text_embeds'),
    hasPooler: header.outputs.some((o) => o.name === 'pooler_output'),
  }
}

/** UNetOnnxConfig. */
export function checkUnet(header: OnnxHeader, where: string, opts: { sdxl: boolean } & ExpectedSizes): UnetSignature {
  const p = new Problems(where)
  const src = "Optimum's UNetOnnxConfig"
  const sample = find(p, header.inputs, 'sample', 'input', src)
  const timestep = find(p, header.inputs, 'timestep', 'input', src)
  const ehs = find(p, header.inputs, 'encoder_hidden_states', 'input', src)
  expectRank(p, sample, 4, 'input')
  expectRank(p, ehs, 3, 'input')
  expectFloat(p, sample, 'input')
  const floatType = (sample && FLOATS.has(sample.type) ? sample.type : 'float32') as FloatType
  expectFloat(p, ehs, 'input', floatType)
  expectDim(p, sample, 1, opts.latentChannels, 'unet/config.json in_channels')
  expectDim(p, ehs, 2, opts.crossAttentionDim, 'unet/config.json cross_attention_dim')
  let timestepRank: 0 | 1 = 0
  if (timestep) {
    if (timestep.dims.length > 1) p.add(`input 'timestep' has shape ${shape(timestep)}, expected a scalar (rank 0)`)
    else timestepRank = timestep.dims.length as 0 | 1
    if (!FLOATS.has(timestep.type) && timestep.type !== 'int64' && timestep.type !== 'int32') p.add(`input 'timestep' is ${timestep.type}, expected ${floatType}`)
  }
  let timeIdsLength: number | undefined
  const textEmbeds = header.inputs.find((i) => i.name === 'text_embeds')
  const timeIds = header.inputs.find((i) => i.name === 'time_ids')
  if (opts.sdxl) {
    find(p, header.inputs, 'text_embeds', 'input', `${src} (addition_embed_type "text_time", SDXL)`)
    find(p, header.inputs, 'time_ids', 'input', `${src} (addition_embed_type "text_time", SDXL)`)
    expectRank(p, textEmbeds, 2, 'input')
    expectRank(p, timeIds, 2, 'input')
    expectFloat(p, textEmbeds, 'input', floatType)
    expectFloat(p, timeIds, 'input', floatType)
    expectDim(p, textEmbeds, 1, opts.textEmbedsDim, "text_encoder_2's projection_dim")
    if (timeIds) {
      const n = timeIds.dims[1]
      if (typeof n === 'number') {
        if (n !== 6 && n !== 5) p.add(`input 'time_ids' has shape ${shape(timeIds)}, expected [batch, 6] (or [batch, 5] with an aesthetic score)`)
        else timeIdsLength = n
      } else timeIdsLength = 6
    }
  } else if (textEmbeds || timeIds) {
    p.add(`it has SDXL's 'text_embeds'/'time_ids' inputs, but model_index.json names a pipeline without a second text encoder`)
  }
  const hasTimestepCond = header.inputs.some((i) => i.name === 'timestep_cond')
  const known = new Set(['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids', 'timestep_cond'])
  const extra = header.inputs.filter((i) => !known.has(i.name))
  if (extra.length > 0) p.add(`unexpected input(s) ${extra.map((i) => `'${i.name}'`).join(', ')} (${src} declares sample, timestep, encoder_hidden_states${opts.sdxl ? ', text_embeds, time_ids' : ''})`)
  const out = find(p, header.outputs, 'out_sample', 'output', src)
  expectRank(p, out, 4, 'output')
  expectFloat(p, out, 'output')
  if (p.list.length > 0) throw new SignatureProblems(p.list)
  return {
    floatType,
    timestepType: timestep!.type as UnetSignature['timestepType'],
    timestepRank,
    sdxl: opts.sdxl,
    ...(timeIdsLength !== undefined ? { timeIdsLength } : {}),
    hasTimestepCond,
  }
}

/** VaeDecoderOnnxConfig. */
export function checkVaeDecoder(header: OnnxHeader, where: string, opts: { latentChannels?: number }): VaeDecoderSignature {
  const p = new Problems(where)
  const src = "Optimum's VaeDecoderOnnxConfig"
  const latent = find(p, header.inputs, 'latent_sample', 'input', src)
  expectRank(p, latent, 4, 'input')
  expectFloat(p, latent, 'input')
  expectDim(p, latent, 1, opts.latentChannels, 'vae_decoder/config.json latent_channels')
  const extra = header.inputs.filter((i) => i.name !== 'latent_sample')
  if (extra.length > 0) p.add(`unexpected input(s) ${extra.map((i) => `'${i.name}'`).join(', ')} (${src} declares only 'latent_sample')`)
  const out = find(p, header.outputs, 'sample', 'output', src)
  expectRank(p, out, 4, 'output')
  expectFloat(p, out, 'output')
  expectDim(p, out, 1, 3, 'an RGB image')
  if (p.list.length > 0) throw new SignatureProblems(p.list)
  return { floatType: (latent!.type as FloatType) }
}
