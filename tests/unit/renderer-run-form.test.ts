// The Train view's form: its initial values are the embedded default run (default-run.json), and a run
// started from the untouched form trains exactly like that default (same controls, t_init, budget), so
// the studio, `npm run train` and `npm run eval` agree.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { parseRunConfig } from '../../src-main/core/runs/run-config.ts'
import { buildRunConfig, defaultRunForm, REWARD_CHOICES, runFormField, validateRunForm, type RunForm } from '../../src-renderer/src/lib/run-form.ts'
import { plainError } from '../../src-renderer/src/lib/form-errors.ts'
import { parseRequest } from '../../src-main/contract/index.ts'

const defaultRun = JSON.parse(await readFile(new URL('../../resources/configs/default-run.json', import.meta.url), 'utf8')) as Record<string, unknown>

function untouchedForm(): RunForm {
  return {
    ...defaultRunForm(),
    name: '', baseModel: 'reference', prompts: '', preferenceModelDir: null,
    rewards: REWARD_CHOICES.map((r) => ({ ...r, enabled: r.kind === 'alignment', weight: 1 })),
  }
}

describe('Train form', () => {
  it('builds the default run from its initial values', () => {
    const fromForm = parseRunConfig(buildRunConfig(untouchedForm()))
    const expected = parseRunConfig(defaultRun)
    assert.deepEqual(fromForm.controls, expected.controls)
    for (const key of ['tInit', 'steps', 'batchSize', 'seed', 'reward', 'generatorEmaDecay', 'generatorInit'] as const) assert.deepEqual(fromForm[key], expected[key], key)
    assert.equal(fromForm.samples.every, expected.samples.every)
    assert.equal(fromForm.checkpoints.every, expected.checkpoints.every)
  })

  it('keeps the default run\'s hidden controls when the shown ones change', () => {
    const form = { ...untouchedForm(), learningRate: 3e-5, fakeLearningRate: 9e-5, cfgScale: 2, tInit: 600, regulariser: 'kl' as const, emaDecay: 0.9, generatorStart: 'reference' as const }
    const c = parseRunConfig(buildRunConfig(form))
    const expected = parseRunConfig(defaultRun).controls
    assert.deepEqual([c.controls.generatorLr, c.controls.fakeLr, c.controls.cfgScale, c.controls.regulariser, c.tInit, c.generatorEmaDecay], [3e-5, 9e-5, 2, 'kl', 600, 0.9])
    assert.equal(c.controls.rewardWeight, expected.rewardWeight)
    assert.deepEqual(c.controls.tRange, expected.tRange)
    assert.equal(c.controls.huberC, expected.huberC)
  })

  it('shows the default run\'s reward weight and passes both weights on', () => {
    assert.equal(defaultRunForm().rewardWeight, (defaultRun.controls as { rewardWeight: number }).rewardWeight)
    const c = parseRunConfig(buildRunConfig({ ...untouchedForm(), rewardWeight: 0.5, regulariserWeight: 2 })).controls
    assert.deepEqual([c.rewardWeight, c.regulariserWeight], [0.5, 2])
  })

  it('starts from the distilled generator only on the embedded reference at its t_init', () => {
    const embedded = { ...untouchedForm(), generatorStart: 'embedded' as const }
    assert.equal(parseRunConfig(buildRunConfig(embedded)).generatorInit, 'embedded')
    assert.equal(parseRunConfig(buildRunConfig({ ...embedded, generatorStart: 'reference' })).generatorInit, undefined)
    assert.throws(() => buildRunConfig({ ...embedded, baseModel: 'models/my-model' }), /belongs to the embedded reference/)
    assert.throws(() => buildRunConfig({ ...embedded, tInit: 600 }), /made for t_init 800/)
    assert.equal(parseRunConfig(buildRunConfig({ ...embedded, baseModel: 'models/my-model', generatorStart: 'reference' })).generatorInit, undefined)
  })

  it('refuses a form with no reward', () => {
    const form = { ...untouchedForm(), rewards: untouchedForm().rewards.map((r) => ({ ...r, enabled: false })) }
    assert.throws(() => buildRunConfig(form), /at least one reward/)
  })

  it('says beside each field what the contract refuses, in the field\'s words', () => {
    assert.ok(validateRunForm(untouchedForm()).ok, 'the default form is valid')
    const errorsOf = (form: RunForm) => {
      const v = validateRunForm(form)
      assert.equal(v.ok, false)
      return v.ok ? {} : v.errors
    }
    assert.deepEqual(errorsOf({ ...untouchedForm(), cfgScale: -50 }), { cfgScale: 'CFG scale must be between 0 and 10.' })
    assert.deepEqual(errorsOf({ ...untouchedForm(), rewardWeight: 1e9 }), { rewardWeight: 'Reward weight must be between 0 and 10.' })
    assert.deepEqual(errorsOf({ ...untouchedForm(), learningRate: 1e6, generatorStart: 'reference' }), { learningRate: 'Generator learning rate must be between 0 and 0.01.' })
    // an emptied number box binds to null
    assert.deepEqual(errorsOf({ ...untouchedForm(), steps: null as unknown as number }), { steps: 'Steps must be a number.' })
    const twoRewards = untouchedForm().rewards.map((r) => (r.kind === 'brightness' ? { ...r, enabled: true, weight: -1 } : r))
    assert.deepEqual(errorsOf({ ...untouchedForm(), rewards: twoRewards }), { 'reward-brightness': 'The Brightness weight must be between 0 and 10.' })
    const lone = untouchedForm().rewards.map((r) => (r.kind === 'alignment' ? { ...r, weight: -1 } : r))
    assert.deepEqual(errorsOf({ ...untouchedForm(), rewards: lone }), { 'reward-alignment': 'The Alignment (CLIP-score analogue) weight must be between 0 and 10.' })
    assert.match(errorsOf({ ...untouchedForm(), prompts: `red apple\n${'a'.repeat(301)}` }).prompts ?? '', /^Training prompt 2: a prompt may have at most 300 characters\.$/)
    assert.deepEqual(errorsOf({ ...untouchedForm(), rewards: untouchedForm().rewards.map((r) => ({ ...r, enabled: false })) }), { rewards: 'Choose at least one reward' })
  })

  it('words a refusal from the studio as the form does', () => {
    const refused = parseRequest('jobs.start', { kind: 'distar-train', params: { config: { controls: { cfgScale: -50 }, steps: 0 } } })
    assert.equal(refused.ok, false)
    const message = refused.ok ? '' : refused.error.message
    assert.equal(plainError(message, (path) => runFormField(path), 'params.config.'), 'CFG scale must be between 0 and 10; Steps must be a whole number from 1 to 10,000,000')
    assert.equal(plainError('The reference model is not installed', (path) => runFormField(path)), 'The reference model is not installed', 'other messages are kept')
  })
})
