// Writes a tiny Stable Diffusion model folder in the layout of Hugging Face Optimum's ONNX export, with
// the exact input/output names, ranks and dtypes its configs declare (src-main/ml/sd/signatures.ts cites
// them) but toy sizes and toy maths, so the folder reader and the pipeline run end to end in a second:
//   text_encoder   input_ids int64 [batch_size, sequence_length] -> last_hidden_state [B, S, D], pooler_output [B, D],
//                  and hidden_states.0..2 for SDXL (output_hidden_states)
//   text_encoder_2 (SDXL) -> text_embeds [B, P], last_hidden_state, hidden_states.0..2
//   unet           sample [B, 4, H, W], timestep [] (scalar), encoder_hidden_states [B, S, D] (+ SDXL
//                  text_embeds [B, P], time_ids [B, 6]) -> out_sample [B, 4, H, W]
//   vae_decoder    latent_sample [B, 4, h, w] -> sample [B, 3, 8h, 8w]
// A float16 variant declares every float input and output float16 (as `--dtype fp16` exports do).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'
import { OnnxGraphBuilder, type OnnxValue } from '../../src-main/ml/onnx/graph-builder.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

const { onnx } = onnxProto

export interface TinyExportOptions {
  family: 'sd' | 'sdxl'
  float16?: boolean
  scheduler?: Record<string, unknown>
  /** move the UNet's 'w_ext_bias' weight to unet/model.onnx_data, as Optimum does for models over 2 GB */
  externalData?: boolean
  /** rename one of the UNet's inputs (to test the refusal) */
  renameUnetInput?: { from: string; to: string }
}

// transformers' CLIP test vocabulary (tests/models/clip/test_tokenization_clip.py) plus "!" for SD 2.x-style padding
export const TINY_VOCAB = ['l', 'o', 'w', 'e', 'r', 's', 't', 'i', 'd', 'n', 'lo', 'l</w>', 'w</w>', 'r</w>', 't</w>', 'low</w>', 'er</w>', 'lowest</w>', 'newer</w>', 'wider', '<unk>', '<|startoftext|>', '<|endoftext|>', '!']
const TINY_MERGES = ['#version: 0.2', 'l o', 'lo w</w>', 'e r</w>']
const D1 = 8
const D2 = 12
const P = 6

function table(rng: Rng, rows: number, cols: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.5)
}

/** float16 graphs take and give float16; inside, everything is float32 between Casts */
function floatIn(g: OnnxGraphBuilder, name: string, f16: boolean, shape: (number | string)[]): OnnxValue {
  const v = g.input(name, f16 ? 'float16' : 'float32', shape)
  return f16 ? g.op1('Cast', [v], { to: onnx.TensorProto.DataType.FLOAT }) : v
}

function floatOut(g: OnnxGraphBuilder, v: OnnxValue, name: string, f16: boolean, shape: (number | string)[]): void {
  g.output(f16 ? g.op1('Cast', [v], { to: onnx.TensorProto.DataType.FLOAT16 }) : v, name, f16 ? 'float16' : 'float32', shape)
}

function textEncoder(seed: number, dim: number, opts: { f16: boolean; hidden: boolean; projection?: number }): Uint8Array {
  const g = new OnnxGraphBuilder('text_encoder')
  const rng = new Rng(seed)
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length'])
  const emb = g.op1('Gather', [g.weight('token_embedding', [TINY_VOCAB.length, dim], table(rng, TINY_VOCAB.length, dim)), ids], { axis: 0 })
  // a position-dependent mix so that word order matters a little
  const pos = g.op1('CumSum', [emb, g.int64s([1], 'axis')])
  const h = g.op1('Add', [emb, g.op1('Mul', [pos, g.scalar(0.05)])])
  const last = g.op1('Tanh', [h])
  const pooled = g.op1('ReduceMean', [last], { axes: [1], keepdims: 0 })
  if (opts.projection !== undefined) {
    floatOut(g, g.op1('MatMul', [pooled, g.weight('text_projection', [dim, opts.projection], table(rng, dim, opts.projection))]), 'text_embeds', opts.f16, ['batch_size', 'sequence_length'])
  }
  floatOut(g, last, 'last_hidden_state', opts.f16, ['batch_size', 'sequence_length', dim])
  if (opts.projection === undefined) floatOut(g, pooled, 'pooler_output', opts.f16, ['batch_size', dim])
  if (opts.hidden) {
    for (let i = 0; i <= 2; i++) floatOut(g, g.op1('Mul', [h, g.scalar(1 + i * 0.5)]), `hidden_states.${i}`, opts.f16, ['batch_size', 'sequence_length', dim])
  }
  return g.encode()
}

function unet(opts: { f16: boolean; sdxl: boolean; crossDim: number; rename?: { from: string; to: string } }): Uint8Array {
  const g = new OnnxGraphBuilder('unet')
  const name = (n: string) => (opts.rename?.from === n ? opts.rename.to : n)
  const sample = floatIn(g, name('sample'), opts.f16, ['batch_size', 4, 'height', 'width'])
  const timestep = floatIn(g, name('timestep'), opts.f16, [])
  const ehs = floatIn(g, name('encoder_hidden_states'), opts.f16, ['batch_size', 'sequence_length', opts.crossDim])
  const perBatch = (v: OnnxValue) => g.op1('Reshape', [v, g.int64s([-1, 1, 1, 1], 'shape')])
  let cond = g.op1('Mul', [perBatch(g.op1('ReduceMean', [ehs], { axes: [1, 2], keepdims: 0 })), g.scalar(0.3)])
  if (opts.sdxl) {
    const textEmbeds = floatIn(g, name('text_embeds'), opts.f16, ['batch_size', P])
    const timeIds = floatIn(g, name('time_ids'), opts.f16, ['batch_size', 6])
    cond = g.op1('Add', [cond, g.op1('Mul', [perBatch(g.op1('ReduceMean', [textEmbeds], { axes: [1], keepdims: 0 })), g.scalar(0.2)])])
    cond = g.op1('Add', [cond, g.op1('Mul', [perBatch(g.op1('ReduceMean', [timeIds], { axes: [1], keepdims: 0 })), g.scalar(0.001)])])
  }
  // eps ~ 0.9 x / sqrt(1 + sigma^2)-ish toy: a fraction of the sample, the condition, the timestep and a bias
  let out = g.op1('Add', [g.op1('Mul', [sample, g.scalar(0.07)]), cond])
  out = g.op1('Add', [out, g.op1('Mul', [timestep, g.scalar(0.0005)])])
  out = g.op1('Add', [out, g.weight('w_ext_bias', [1, 4, 1, 1], Float32Array.from([0.01, -0.02, 0.03, -0.04]))])
  floatOut(g, out, 'out_sample', opts.f16, ['batch_size', 4, 'height', 'width'])
  return g.encode()
}

function vaeDecoder(opts: { f16: boolean }): Uint8Array {
  const g = new OnnxGraphBuilder('vae_decoder')
  const latent = floatIn(g, 'latent_sample', opts.f16, ['batch_size', 4, 'latent_height', 'latent_width'])
  const rgb = g.op1('Slice', [latent, g.int64s([0]), g.int64s([3]), g.int64s([1])])
  const up = g.op1('Resize', [rgb, null, g.weight('scales', [4], Float32Array.from([1, 1, 8, 8]))], { mode: 'nearest' })
  floatOut(g, g.op1('Tanh', [g.op1('Mul', [up, g.scalar(0.01)])]), 'sample', opts.f16, ['batch_size', 3, 'latent_height * 8', 'latent_width * 8'])
  return g.encode()
}

/** Move the named initializers' bytes into `<file>_data`, as onnx.save_model(save_as_external_data=True) does. */
function externalise(bytes: Uint8Array, dir: string, names: string[]): Uint8Array {
  const model = onnx.ModelProto.decode(bytes)
  const chunks: Uint8Array[] = []
  let offset = 0
  for (const t of model.graph!.initializer ?? []) {
    if (!names.includes(t.name ?? '')) continue
    const raw = t.rawData as Uint8Array
    chunks.push(raw)
    t.externalData = [
      onnx.StringStringEntryProto.create({ key: 'location', value: 'model.onnx_data' }),
      onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
      onnx.StringStringEntryProto.create({ key: 'length', value: String(raw.length) }),
    ]
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL
    t.rawData = new Uint8Array(0)
    offset += raw.length
  }
  writeFileSync(join(dir, 'model.onnx_data'), Buffer.concat(chunks))
  return onnx.ModelProto.encode(model).finish()
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value, null, 2))
}

export const TURBO_SCHEDULER = {
  _class_name: 'EulerAncestralDiscreteScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  steps_offset: 1,
  timestep_spacing: 'trailing',
  trained_betas: null,
}

export function writeTinySdExport(dir: string, opts: TinyExportOptions): void {
  const f16 = opts.float16 === true
  const sdxl = opts.family === 'sdxl'
  const sub = (name: string) => {
    const p = join(dir, name)
    mkdirSync(p, { recursive: true })
    return p
  }
  const components: Record<string, [string, string]> = {
    scheduler: ['diffusers', String((opts.scheduler ?? TURBO_SCHEDULER)._class_name)],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  }
  if (sdxl) {
    components.text_encoder_2 = ['transformers', 'CLIPTextModelWithProjection']
    components.tokenizer_2 = ['transformers', 'CLIPTokenizer']
  }
  writeJson(join(dir, 'model_index.json'), {
    _class_name: sdxl ? 'StableDiffusionXLPipeline' : 'StableDiffusionPipeline',
    _diffusers_version: '0.30.0',
    ...(sdxl ? { force_zeros_for_empty_prompt: true } : { requires_safety_checker: false }),
    ...components,
  })
  const te = sub('text_encoder')
  writeFileSync(join(te, 'model.onnx'), textEncoder(1, D1, { f16, hidden: sdxl }))
  writeJson(join(te, 'config.json'), { architectures: ['CLIPTextModel'], hidden_size: D1, num_hidden_layers: 2, projection_dim: D1, max_position_embeddings: 77 })
  const tokenizers = sdxl ? ['tokenizer', 'tokenizer_2'] : ['tokenizer']
  for (const [k, name] of tokenizers.entries()) {
    const t = sub(name)
    writeJson(join(t, 'vocab.json'), Object.fromEntries(TINY_VOCAB.map((v, i) => [v, i])))
    writeFileSync(join(t, 'merges.txt'), TINY_MERGES.join('\n') + '\n')
    // SD 1.x pads with <|endoftext|>; SDXL's tokenizer_2 (OpenCLIP) pads with "!"
    writeJson(join(t, 'special_tokens_map.json'), { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', pad_token: k === 1 ? '!' : '<|endoftext|>', unk_token: '<unk>' })
    writeJson(join(t, 'tokenizer_config.json'), { model_max_length: 77, do_lower_case: true, tokenizer_class: 'CLIPTokenizer' })
  }
  if (sdxl) {
    const te2 = sub('text_encoder_2')
    writeFileSync(join(te2, 'model.onnx'), textEncoder(2, D2, { f16, hidden: true, projection: P }))
    writeJson(join(te2, 'config.json'), { architectures: ['CLIPTextModelWithProjection'], hidden_size: D2, num_hidden_layers: 2, projection_dim: P })
  }
  const u = sub('unet')
  const crossDim = sdxl ? D1 + D2 : D1
  let unetBytes = unet({ f16, sdxl, crossDim, ...(opts.renameUnetInput ? { rename: opts.renameUnetInput } : {}) })
  if (opts.externalData) unetBytes = externalise(unetBytes, u, ['w_ext_bias'])
  writeFileSync(join(u, 'model.onnx'), unetBytes)
  writeJson(join(u, 'config.json'), {
    _class_name: 'UNet2DConditionModel',
    in_channels: 4,
    out_channels: 4,
    sample_size: 8,
    cross_attention_dim: crossDim,
    ...(sdxl ? { addition_embed_type: 'text_time', projection_class_embeddings_input_dim: 6 * 256 + P } : {}),
  })
  const v = sub('vae_decoder')
  writeFileSync(join(v, 'model.onnx'), vaeDecoder({ f16 }))
  writeJson(join(v, 'config.json'), {
    _class_name: 'AutoencoderKL',
    latent_channels: 4,
    block_out_channels: [128, 256, 512, 512],
    up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
    scaling_factor: sdxl ? 0.13025 : 0.18215,
  })
  writeJson(join(sub('scheduler'), 'scheduler_config.json'), opts.scheduler ?? TURBO_SCHEDULER)
}
