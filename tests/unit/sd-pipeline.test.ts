// The Stable Diffusion pipeline end to end in onnxruntime-node on tiny folders that have a real export's
// signature (tests/helpers/sd-tiny-export.ts): text encoder(s) -> scheduler loop with the UNet -> VAE
// decoder -> RGB bytes, for SD and SDXL, float32 and float16, one-step Turbo settings and multi-step CFG,
// with progress per step, cancel, seeded reproducibility, and the memory refusal before loading.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SdPipeline } from '../../src-main/ml/sd/pipeline.ts'
import { ort } from '../../src-main/ml/onnx/runtime.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { writeTinySdExport, type TinyExportOptions } from '../helpers/sd-tiny-export.ts'

async function withPipeline(opts: TinyExportOptions, body: (p: SdPipeline, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-pipe-'))
  try {
    writeTinySdExport(dir, opts)
    const p = await SdPipeline.load(dir, { threads: 1 })
    try {
      await body(p, dir)
    } finally {
      await p.release()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const base = { prompt: 'lower newer', seed: 42, width: 64, height: 48 }

test('SD-Turbo-style: one step, guidance 0, RGB bytes of the asked size, same seed same image, another seed another', async () => {
  await withPipeline({ family: 'sd' }, async (p) => {
    const steps: [number, number][] = []
    const a = await p.generate({ ...base, steps: 1, guidance: 0 }, { onStep: (d, t) => steps.push([d, t]) })
    assert.equal(a.width, 64)
    assert.equal(a.height, 48)
    assert.equal(a.rgb.length, 64 * 48 * 3)
    assert.equal(a.scheduler, 'EulerAncestralDiscreteScheduler')
    assert.deepEqual(steps, [[1, 1]])
    assert.ok(new Set(a.rgb).size > 10, 'the image is not flat')
    const again = await p.generate({ ...base, steps: 1, guidance: 0 })
    assert.deepEqual(again.rgb, a.rgb)
    const other = await p.generate({ ...base, seed: 43, steps: 1, guidance: 0 })
    assert.notDeepEqual(other.rgb, a.rgb)
    const otherPrompt = await p.generate({ ...base, prompt: 'wider lowest', steps: 1, guidance: 0 })
    assert.notDeepEqual(otherPrompt.rgb, a.rgb, 'the prompt reaches the UNet')
  })
})

test('one Turbo step gives, pixel for pixel, what the formulas give on the tiny graphs (scheduler, scaling, VAE factor, NCHW to RGB)', async () => {
  await withPipeline({ family: 'sd' }, async (p, dir) => {
    const img = await p.generate({ ...base, steps: 1, guidance: 0 })
    // the text encoder run directly on transformers' documented ids for "lower newer" (10 2 16 9 3 2 16),
    // between <|startoftext|> (21) and <|endoftext|> (22), padded with <|endoftext|> to 77
    const ids = [21, 10, 2, 16, 9, 3, 2, 16, 22, ...Array(68).fill(22)]
    const te = await ort.InferenceSession.create(join(dir, 'text_encoder', 'model.onnx'))
    const hidden = (await te.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, 77]) })).last_hidden_state!.data as Float32Array
    await te.release()
    const m = hidden.reduce((a, b) => a + b, 0) / hidden.length
    // the tiny UNet: eps = 0.07 x_in + 0.3 mean(encoder_hidden_states) + 0.0005 t + bias_c; the tiny VAE:
    // tanh(0.01 z) of channels 0-2, nearest x8. One trailing step: t = 999, sigma = 14.614641229333639
    // (sd-schedulers test), x = sigma * noise, x_in = x / sqrt(sigma^2 + 1), x0 = x - sigma eps, z = x0 / 0.18215
    const sigma = 14.614641229333639
    const bias = [0.01, -0.02, 0.03, -0.04]
    const h = 6, w = 8
    const noise = new Rng(42).normals(4 * h * w)
    let worst = 0
    for (let r = 0; r < 48; r++) {
      for (let c = 0; c < 64; c++) {
        for (let ch = 0; ch < 3; ch++) {
          const x = noise[ch * h * w + Math.floor(r / 8) * w + Math.floor(c / 8)]! * sigma
          const eps = (0.07 * x) / Math.sqrt(sigma * sigma + 1) + 0.3 * m + 0.0005 * 999 + bias[ch]!
          const z = (x - sigma * eps) / 0.18215
          const want = Math.round(Math.min(1, Math.max(0, Math.tanh(0.01 * z) / 2 + 0.5)) * 255)
          worst = Math.max(worst, Math.abs(img.rgb[(r * 64 + c) * 3 + ch]! - want))
        }
      }
    }
    assert.ok(worst <= 1, `largest pixel difference ${worst}`)
    assert.ok(new Set(img.rgb).size > 40, 'the values spread (not saturated), so the comparison means something')
  })
})

test('multi-step DDIM with classifier-free guidance: progress per step, the negative prompt matters, guidance <= 1 turns CFG off', async () => {
  const ddim = { _class_name: 'DDIMScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000, steps_offset: 1, timestep_spacing: 'leading', clip_sample: false, set_alpha_to_one: false, prediction_type: 'epsilon' }
  await withPipeline({ family: 'sd', scheduler: ddim }, async (p) => {
    const seen: number[] = []
    const a = await p.generate({ ...base, steps: 4, guidance: 7.5, negativePrompt: 'wider' }, { onStep: (d) => seen.push(d) })
    assert.deepEqual(seen, [1, 2, 3, 4])
    assert.equal(a.scheduler, 'DDIMScheduler')
    const b = await p.generate({ ...base, steps: 4, guidance: 7.5, negativePrompt: 'lowest' })
    assert.notDeepEqual(a.rgb, b.rgb, 'the negative prompt changes the image under CFG')
    const off1 = await p.generate({ ...base, steps: 4, guidance: 1, negativePrompt: 'wider' })
    const off2 = await p.generate({ ...base, steps: 4, guidance: 0, negativePrompt: 'lowest' })
    assert.deepEqual(off1.rgb, off2.rgb, 'without CFG the negative prompt and the scale are not used')
  })
})

test('SDXL-style float16 export: two text encoders, text_embeds and time_ids, float16 in and out', async () => {
  await withPipeline({ family: 'sdxl', float16: true }, async (p) => {
    const one = await p.generate({ ...base, steps: 1, guidance: 0 })
    assert.equal(one.rgb.length, 64 * 48 * 3)
    assert.ok(new Set(one.rgb).size > 10)
    const again = await p.generate({ ...base, steps: 1, guidance: 0 })
    assert.deepEqual(again.rgb, one.rgb)
    // empty negative prompt under CFG: force_zeros_for_empty_prompt gives zero negative embeddings
    const cfg = await p.generate({ ...base, steps: 2, guidance: 5 })
    assert.equal(cfg.rgb.length, 64 * 48 * 3)
  })
})

test('SDXL-style float32 export with the UNet weights in model.onnx_data', async () => {
  await withPipeline({ family: 'sdxl', externalData: true }, async (p) => {
    const img = await p.generate({ ...base, steps: 2, guidance: 0 })
    assert.equal(img.rgb.length, 64 * 48 * 3)
  })
})

test('cancel: an aborted signal stops before the next step; bad sizes are refused', async () => {
  await withPipeline({ family: 'sd' }, async (p) => {
    const ctrl = new AbortController()
    const seen: number[] = []
    await assert.rejects(
      p.generate({ ...base, steps: 5, guidance: 0 }, { signal: ctrl.signal, onStep: (d) => { seen.push(d); if (d === 2) ctrl.abort() } }),
      (err: Error) => err.name === 'AbortError',
    )
    assert.deepEqual(seen, [1, 2])
    await assert.rejects(p.generate({ ...base, width: 60, steps: 1, guidance: 0 }), /width must be a positive multiple of 8, got 60/)
  })
})

test('memory is checked before any session is created', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-pipe-'))
  try {
    writeTinySdExport(dir, { family: 'sd' })
    await assert.rejects(SdPipeline.load(dir, { freeMemory: 1000 }), /Not enough free memory to load .*: its model files are 0\.0 GB/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
