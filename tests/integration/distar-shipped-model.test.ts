// A short real DI* run on the embedded default: the shipped reference, the shipped alignment model as the
// reward, resources/configs/default-run.json's controls and t_init, on both threads. Held-out validation
// captions with fixed seeds are scored before and after: the alignment score must rise on captions the
// run never trained on (measured: 25.8 -> 43.7 after 16 steps at batch 8, scoring the generator EMA the grids show; 45.3 with the raw weights).
// Whether the samples stay recognisable is not measurable in 16 steps (each sample's similarity to its
// nearest real emoji moved by less than 0.01, with or without the regulariser); the eval (`npm run eval`,
// docs/results.md: FD to real images, sample sheets) measures that at 300 steps.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { DiStarRun } from '../../src-main/core/runs/run-engine.ts'
import { AlignmentModel } from '../../src-main/ml/rewards/alignment-model.ts'
import { shippedAlignmentModelDir, hasShippedAlignmentModel } from '../../src-main/ml/rewards/alignment-reward.ts'
import { scoreImages } from '../../src-main/eval/scoring.ts'
import { promptSubset } from '../../src-main/eval/pipeline.ts'
import { readPromptFile } from '../../src-main/util/prompt-file.ts'
import { fileURLToPath } from 'node:url'

const referenceDir = new URL('../../resources/models/reference/', import.meta.url).pathname
const skip = !existsSync(join(referenceDir, 'model.safetensors')) || !hasShippedAlignmentModel()
  ? 'the shipped reference or alignment model is missing'
  : false
const STEPS = 16

let workspace = ''
let alignment: AlignmentModel

before(async () => {
  if (skip) return
  await initTf()
  workspace = await mkdtemp(join(tmpdir(), 'distar-shipped-'))
  alignment = await AlignmentModel.load(shippedAlignmentModelDir())
})

after(async () => {
  alignment?.dispose()
  if (workspace) await rm(workspace, { recursive: true, force: true })
})

/** 24 held-out captions spread over the validation list (as the eval picks a subset), seeds 0-23. */
function heldOutPrompts(): string[] {
  return promptSubset(readPromptFile(fileURLToPath(new URL('../../resources/prompts/validation-captions.txt', import.meta.url))), 24)
}

test('a short DI* run on the shipped model raises the alignment score on held-out captions', { skip, timeout: 600_000 }, async () => {
  const config = JSON.parse(readFileSync(new URL('../../resources/configs/default-run.json', import.meta.url), 'utf8')) as Record<string, unknown>
  const run = await DiStarRun.start(workspace, {
    ...config, steps: STEPS, batchSize: 8, samples: { every: 0 }, checkpoints: { every: 1000, keep: 1 },
  }, { runId: 'shipped', trainingThreads: 2 })
  try {
    const prompts = heldOutPrompts()
    const measure = async () => {
      const pixels = await run.session.sampleImages(prompts, prompts.map((_, i) => i))
      const scored = await scoreImages(alignment, { pixels, count: prompts.length, size: run.session.reference.dit.imageSize }, prompts)
      const meanAlignment = scored.alignment.reduce((a, b) => a + b, 0) / scored.alignment.length
      return { meanAlignment }
    }
    const atInit = await measure()
    const final = await run.run()
    assert.equal(final.state, 'completed', final.message)
    const trained = await measure()
    process.stdout.write(`# shipped-model DI*, ${STEPS} steps at batch 8: held-out alignment ${atInit.meanAlignment.toFixed(1)} -> ${trained.meanAlignment.toFixed(1)}\n`)
    assert.ok(trained.meanAlignment > atInit.meanAlignment + 8, `held-out alignment ${atInit.meanAlignment} -> ${trained.meanAlignment}`)
  } finally {
    run.dispose()
  }
})
