// npm run generate -- --model <dir|reference> [--model ...] --prompts prompts.txt --seeds 0-15 --out dir
//                     [--steps 25] [--cfg 3] [--sampler ddim|dpmpp-2m] [--t-init 800] [--step N] [--batch 16] [--threads N]
// Generates prompts x seeds x models with onnxruntime-node into a gallery folder (<out>/images/*.png
// with metadata, <out>/index.json), with a progress bar and ETA. A model is an ONNX model folder, a
// saved diffusion model (exported once to <out>/.models; --t-init makes it a one-step generator),
// a DI* run folder (its generator at --step or the newest checkpoint), 'reference' (the shipped model) or
// 'one-step-init' (the one-step generator distilled from it).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { readPromptFile } from '../util/prompt-file.ts'
import { Gallery } from '../core/gallery/gallery.ts'
import { exportModelChoice, generateIntoGallery, type ModelChoice } from '../core/gallery/generate.ts'
import { join } from 'node:path'
import { OnnxInference } from '../ml/onnx/inference.ts'
import type { SamplerKind } from '../ml/diffusion/samplers.ts'

const USAGE = `usage: npm run generate -- --model <dir|reference> [--model <dir> ...] --prompts <file> --seeds <list> --out <dir>
         [--steps 25] [--cfg 3] [--sampler ddim|dpmpp-2m] [--t-init <t>] [--step <N>] [--batch 16] [--threads N]
  --model    an ONNX model folder, a saved diffusion model folder, a DI* run folder (its generator), reference, or one-step-init
  --prompts  text file, one prompt per line (blank lines and lines starting with # are skipped)
  --seeds    e.g. 0-15 or 1,5,9 or 0-3,10
  --t-init   export saved diffusion-model folders as one-step generators with this t_init
  --step     checkpoint step of DI* run folders (default: the newest)
  --export   instead of generating, write the (first) model as a standalone ONNX folder: model.onnx + manifest.json
             e.g. npm run generate -- --model <run folder> --export my-generator`

export function parseSeeds(text: string): number[] {
  const seeds: number[] = []
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (!m) throw new Error(`--seeds: '${part}' is not a number or a range like 0-15`)
    const lo = Number(m[1])
    const hi = m[2] === undefined ? lo : Number(m[2])
    if (hi < lo) throw new Error(`--seeds: range '${part}' runs backwards`)
    if (hi > 0xffffffff) throw new Error(`--seeds: ${hi} is above 4294967295`)
    if (hi - lo > 100_000) throw new Error(`--seeds: range '${part}' is too long`)
    for (let s = lo; s <= hi; s++) seeds.push(s)
  }
  if (seeds.length === 0) throw new Error('--seeds: no seeds given')
  return seeds
}

function number(value: string | undefined, name: string, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'}, got '${value}'`)
  return n
}

function progressBar(done: number, total: number, startedAt: number, label: string): string {
  const width = 30
  const fraction = total > 0 ? done / total : 0
  const filled = Math.round(fraction * width)
  const elapsed = (Date.now() - startedAt) / 1000
  const eta = fraction > 0 ? (elapsed * (1 - fraction)) / fraction : NaN
  const time = (s: number) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}` : '--:--')
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${(fraction * 100).toFixed(0)}%  elapsed ${time(elapsed)}  ETA ${time(eta)}  ${label}`
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', multiple: true },
      prompts: { type: 'string' },
      seeds: { type: 'string', default: '0-3' },
      out: { type: 'string' },
      steps: { type: 'string' },
      cfg: { type: 'string' },
      sampler: { type: 'string', default: 'ddim' },
      't-init': { type: 'string' },
      step: { type: 'string' },
      export: { type: 'string' },
      batch: { type: 'string' },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  if (values.help) {
    console.log(USAGE)
    return
  }
  if (!values.model?.length) throw new Error('--model is required')
  if (values.export !== undefined) {
    const tInit = values['t-init'] === undefined ? undefined : number(values['t-init'], 't-init', 0, true)
    const step = values.step === undefined ? undefined : number(values.step, 'step', 0, true)
    const path = values.model[0]!
    const scratch = await mkdtemp(join(tmpdir(), 'di-studio-export-'))
    let pkg: Awaited<ReturnType<typeof exportModelChoice>>
    try {
      pkg = await exportModelChoice({ path, ...(tInit !== undefined && path !== 'reference' ? { tInit } : {}), ...(step !== undefined ? { step } : {}) }, values.export, scratch)
    } finally {
      await rm(scratch, { recursive: true, force: true })
    }
    const m = pkg.manifest
    console.log(`exported ${m.name} (${m.kind === 'eps' ? 'eps network for multi-step sampling' : 'one-step generator'}, ${m.imageSize}x${m.imageSize}) to ${pkg.dir}`)
    return
  }
  if (!values.prompts) throw new Error('--prompts is required')
  if (!values.out) throw new Error('--out is required')
  if (values.sampler !== 'ddim' && values.sampler !== 'dpmpp-2m') throw new Error(`--sampler must be ddim or dpmpp-2m, got '${values.sampler}'`)
  let prompts: string[]
  try {
    prompts = readPromptFile(values.prompts)
  } catch (err) {
    throw new Error(`--prompts: ${(err as Error).message}`)
  }
  const seeds = parseSeeds(values.seeds!)
  const tInit = values['t-init'] === undefined ? undefined : number(values['t-init'], 't-init', 0, true)
  const step = values.step === undefined ? undefined : number(values.step, 'step', 0, true)
  const models: ModelChoice[] = values.model.map((path) => ({
    path, ...(tInit !== undefined && path !== 'reference' ? { tInit } : {}), ...(step !== undefined ? { step } : {}),
  }))
  const threads = values.threads === undefined ? undefined : number(values.threads, 'threads', 0, true)
  const inference = new OnnxInference(threads !== undefined ? { threads } : {})
  console.log(`onnxruntime execution providers: ${inference.providers.chosen.join(', ')}`)
  const gallery = new Gallery(values.out)
  const report = await gallery.open()
  for (const p of report.problems) console.warn(`gallery: ${p}`)

  const abort = new AbortController()
  process.once('SIGINT', () => {
    process.stderr.write('\ninterrupted: finishing the current batch...\n')
    abort.abort()
  })
  const started = Date.now()
  const interactive = process.stderr.isTTY
  let lastLine = 0
  try {
    const result = await generateIntoGallery(gallery, inference, {
      models, prompts, seeds,
      sampling: { sampler: values.sampler as SamplerKind, steps: number(values.steps, 'steps', 25, true), guidance: number(values.cfg, 'cfg', 3, false) },
      batchSize: number(values.batch, 'batch', 16, true),
    }, {
      signal: abort.signal,
      onProgress: (p) => {
        const line = progressBar(p.done, p.total, started, p.model)
        if (interactive) process.stderr.write(`\r${line}`)
        else if (p.done === p.total || Date.now() - lastLine > 2000) {
          process.stderr.write(`${line}\n`)
          lastLine = Date.now()
        }
      },
    })
    if (interactive) process.stderr.write('\n')
    for (const m of result.perModel) console.log(`${m.model} (${m.kind === 'eps' ? 'multi-step' : 'one-step'}): ${m.images} images, ${m.msPerImage.toFixed(1)} ms per image`)
    console.log(`wrote ${result.entries.length} PNGs to ${gallery.root}/images (index: ${gallery.root}/index.json)`)
    if (result.prompts.notice) console.warn(`note: ${result.prompts.notice}`)
  } finally {
    await inference.dispose()
  }
}

// run only as the entry point (tests import parseSeeds)
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(`\ngenerate: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`)
    process.exit(err instanceof Error && err.name === 'InferenceAbortedError' ? 130 : 1)
  })
}
