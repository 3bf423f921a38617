// The model folder reader on tiny folders in Optimum's export layout (tests/helpers/sd-tiny-export.ts):
// complete SD and SDXL (float32, float16, external data) folders are read with their signatures, and
// incomplete or corrupt ones are refused with a message naming the file and what is wrong.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync, readFileSync, truncateSync, statSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readSdModelFolder, checkSdMemory, SdModelFolderError } from '../../src-main/ml/sd/model-folder.ts'
import { readOnnxHeader } from '../../src-main/ml/sd/onnx-header.ts'
import { writeTinySdExport, type TinyExportOptions } from '../helpers/sd-tiny-export.ts'

function withFolder(opts: TinyExportOptions, body: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-folder-'))
    try {
      writeTinySdExport(dir, opts)
      await body(dir)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function refusal(dir: string): Promise<string> {
  try {
    await readSdModelFolder(dir)
  } catch (err) {
    assert.ok(err instanceof SdModelFolderError, `expected SdModelFolderError, got ${(err as Error).message}`)
    return err.message
  }
  assert.fail('the folder was accepted')
}

test('an SD 1.x/2.x-style export is read: signatures, tokenizer, scheduler, VAE scaling factor', withFolder({ family: 'sd' }, async (dir) => {
  const f = await readSdModelFolder(dir)
  assert.equal(f.family, 'sd')
  assert.equal(f.pipelineClass, 'StableDiffusionPipeline')
  assert.equal(f.textEncoder2, undefined)
  assert.equal(f.vaeScalingFactor, 0.18215)
  assert.equal(f.vaeScale, 8)
  assert.equal(f.defaultSize, 64)
  assert.equal(f.latentChannels, 4)
  assert.deepEqual(f.unet.signature, { floatType: 'float32', timestepType: 'float32', timestepRank: 0, sdxl: false, hasTimestepCond: false })
  assert.equal(f.textEncoder.signature.idsType, 'int64')
  assert.equal(f.tokenizer.padId, f.tokenizer.eosId)
  assert.equal(f.scheduler._class_name, 'EulerAncestralDiscreteScheduler')
  assert.ok(f.totalBytes > 0)
  const unet = await readOnnxHeader(join(dir, 'unet', 'model.onnx'))
  assert.deepEqual(unet.inputs.map((i) => [i.name, i.type, i.dims]), [
    ['sample', 'float32', ['batch_size', 4, 'height', 'width']],
    ['timestep', 'float32', []],
    ['encoder_hidden_states', 'float32', ['batch_size', 'sequence_length', 8]],
  ])
  assert.deepEqual(unet.outputs.map((o) => o.name), ['out_sample'])
}))

test('an SDXL-style float16 export is read: text_encoder_2, text_embeds/time_ids, pad "!" in tokenizer_2, 0.13025', withFolder({ family: 'sdxl', float16: true }, async (dir) => {
  const f = await readSdModelFolder(dir)
  assert.equal(f.family, 'sdxl')
  assert.equal(f.vaeScalingFactor, 0.13025)
  assert.equal(f.forceZerosForEmptyPrompt, true)
  assert.deepEqual(f.unet.signature, { floatType: 'float16', timestepType: 'float16', timestepRank: 0, sdxl: true, timeIdsLength: 6, hasTimestepCond: false })
  assert.equal(f.vaeDecoder.signature.floatType, 'float16')
  assert.equal(f.textEncoder.signature.floatType, 'float16')
  assert.deepEqual(f.textEncoder2!.signature.hiddenStates, ['hidden_states.0', 'hidden_states.1', 'hidden_states.2'])
  assert.equal(f.textEncoder2!.signature.hasTextEmbeds, true)
  assert.equal(f.tokenizer2!.padId, 23)
  assert.equal(f.tokenizer.padId, 22)
}))

test('external data (model.onnx_data) is found, counted, and a truncated or missing one is refused', withFolder({ family: 'sd', externalData: true }, async (dir) => {
  const f = await readSdModelFolder(dir)
  const data = join(dir, 'unet', 'model.onnx_data')
  assert.equal(f.unet.bytes, statSync(join(dir, 'unet', 'model.onnx')).size + statSync(data).size)
  truncateSync(data, 8)
  assert.match(await refusal(dir), /unet\/model\.onnx_data is truncated: 8 bytes, but unet\/model\.onnx reads up to byte 16/)
  unlinkSync(data)
  assert.match(await refusal(dir), /unet\/model\.onnx_data is missing \(unet\/model\.onnx keeps its weights there\)/)
}))

test('a missing unet/model.onnx is refused by name', withFolder({ family: 'sd' }, async (dir) => {
  unlinkSync(join(dir, 'unet', 'model.onnx'))
  const msg = await refusal(dir)
  assert.match(msg, /is not a usable Stable Diffusion ONNX export: unet\/model\.onnx is missing/)
}))

test('a wrong input name is refused naming the file, the input and what Optimum calls it', withFolder({ family: 'sd', renameUnetInput: { from: 'encoder_hidden_states', to: 'text_hidden_states' } }, async (dir) => {
  const msg = await refusal(dir)
  assert.match(msg, /unet\/model\.onnx: it has no input named 'encoder_hidden_states' \(inputs: 'sample', 'timestep', 'text_hidden_states'; Optimum's UNetOnnxConfig names it 'encoder_hidden_states'\)/)
  assert.match(msg, /unexpected input\(s\) 'text_hidden_states'/)
}))

test('an SDXL UNet without time_ids is refused', withFolder({ family: 'sdxl', renameUnetInput: { from: 'time_ids', to: 'add_time_ids' } }, async (dir) => {
  assert.match(await refusal(dir), /unet\/model\.onnx: it has no input named 'time_ids'/)
}))

test('a truncated model.onnx is refused as truncated', withFolder({ family: 'sd' }, async (dir) => {
  const p = join(dir, 'vae_decoder', 'model.onnx')
  const bytes = readFileSync(p)
  writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length / 2)))
  assert.match(await refusal(dir), /vae_decoder\/model\.onnx: .*truncated/)
  writeFileSync(p, '')
  assert.match(await refusal(dir), /vae_decoder\/model\.onnx: the file is empty/)
  writeFileSync(p, 'this is not a protobuf file at all')
  assert.match(await refusal(dir), /vae_decoder\/model\.onnx: /)
}))

test('malformed or missing JSON is refused naming the file', withFolder({ family: 'sdxl' }, async (dir) => {
  writeFileSync(join(dir, 'scheduler', 'scheduler_config.json'), '{"_class_name": "EulerAncestralDiscreteScheduler",')
  writeFileSync(join(dir, 'tokenizer_2', 'vocab.json'), '[1, 2')
  unlinkSync(join(dir, 'vae_decoder', 'config.json'))
  const msg = await refusal(dir)
  assert.match(msg, /scheduler\/scheduler_config\.json is not valid JSON/)
  assert.match(msg, /tokenizer_2\/vocab\.json is not valid JSON/)
  assert.match(msg, /vae_decoder\/config\.json is missing/)
  writeFileSync(join(dir, 'model_index.json'), 'nope')
  assert.match(await refusal(dir), /model_index\.json is not valid JSON/)
}))

test('an unsupported scheduler and a missing second text encoder are refused by name', withFolder({ family: 'sdxl', scheduler: { _class_name: 'LMSDiscreteScheduler' } }, async (dir) => {
  rmSync(join(dir, 'text_encoder_2'), { recursive: true })
  const msg = await refusal(dir)
  assert.match(msg, /scheduler\/scheduler_config\.json: scheduler "LMSDiscreteScheduler" is not supported/)
  assert.match(msg, /text_encoder_2\/model\.onnx is missing/)
}))

test('memory is checked before loading, with a clear refusal', () => {
  const folder = { dir: '/models/sdxl-turbo', totalBytes: 6.9 * 1024 ** 3 }
  assert.throws(() => checkSdMemory(folder, 4 * 1024 ** 3), /Not enough free memory to load \/models\/sdxl-turbo: its model files are 6\.9 GB and loading them needs about 8\.6 GB, but 4\.0 GB is free/)
  assert.doesNotThrow(() => checkSdMemory(folder, 16 * 1024 ** 3))
})
