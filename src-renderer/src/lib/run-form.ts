// Turns the Train view's form into a DI* run config (the contract's RunConfig input), and says what is
// wrong with it beside each field: the form is checked with the contract's RunConfig schema itself, so
// it refuses exactly what the studio would, with the same limits as the live sliders (contract/limits.ts).
import { RunConfig, type RunConfigInput } from '../../../src-main/contract/index.ts'
import defaultRunJson from '../../../resources/configs/default-run.json'
import { fieldErrors, type FieldErrors } from './form-errors.ts'

/**
 * The embedded default run (resources/configs/default-run.json, what `npm run train` and `npm run eval`
 * start from), checked by the contract's schema: the form starts from its values, and every control the
 * form does not show (pseudo-Huber constant, t range, ...) comes from it, so a run started
 * in the studio trains like the documented default.
 */
export const DEFAULT_RUN: RunConfig = RunConfig.parse(defaultRunJson)

export interface RewardChoice {
  kind: 'alignment' | 'colourfulness' | 'brightness' | 'contrast' | 'preference'
  label: string
  enabled: boolean
  weight: number
}

export const REWARD_CHOICES: Omit<RewardChoice, 'enabled' | 'weight'>[] = [
  { kind: 'alignment', label: 'Alignment (CLIP-score analogue)' },
  { kind: 'colourfulness', label: 'Colourfulness' },
  { kind: 'brightness', label: 'Brightness' },
  { kind: 'contrast', label: 'Contrast' },
  { kind: 'preference', label: 'My preferences' },
]

export interface RunForm {
  name: string
  baseModel: string
  rewards: RewardChoice[]
  regulariser: 'score' | 'kl'
  /** scales the whole reward mix (the per-reward weights only share it out) */
  rewardWeight: number
  regulariserWeight: number
  prompts: string
  steps: number
  batchSize: number
  seed: number
  samplesEvery: number
  checkpointEvery: number
  /** the generator's learning rate */
  learningRate: number
  /** the fake score's learning rate (it has to track the generator, so it may be faster) */
  fakeLearningRate: number
  cfgScale: number
  tInit: number
  /** decay of the generator's moving average, which grids and exports show (0 = the raw weights) */
  emaDecay: number
  /** the pseudo-Huber constant per dimension (score regulariser only); absent: the default run's */
  huberC?: number
  /** where classifier-free guidance goes: inside the divergence, or out as an implicit reward; absent: the default run's */
  cfgPlacement?: 'in' | 'out'
  /** workspace folder of the trained preference model, when there is one */
  preferenceModelDir: string | null
  /**
   * where the generator starts: the distilled one-step generator shipped with the embedded reference
   * (generatorInit 'embedded'), or the base model itself read at t_init (DI*'s own init)
   */
  generatorStart: GeneratorStart
}

export type GeneratorStart = 'embedded' | 'reference'

export const GENERATOR_STARTS: { value: GeneratorStart; label: string }[] = [
  { value: 'embedded', label: 'Distilled one-step generator (embedded)' },
  { value: 'reference', label: 'The base model read at t_init' },
]

/** The form's initial values: the default run's. */
export function defaultRunForm(): Omit<RunForm, 'name' | 'baseModel' | 'rewards' | 'prompts' | 'preferenceModelDir'> {
  const c = DEFAULT_RUN.controls
  return {
    regulariser: c.regulariser ?? 'score',
    rewardWeight: c.rewardWeight ?? 1,
    regulariserWeight: c.regulariserWeight ?? 1,
    steps: DEFAULT_RUN.steps,
    batchSize: DEFAULT_RUN.batchSize,
    seed: DEFAULT_RUN.seed,
    samplesEvery: DEFAULT_RUN.samples.every,
    checkpointEvery: DEFAULT_RUN.checkpoints.every,
    learningRate: c.generatorLr ?? 1e-4,
    fakeLearningRate: c.fakeLr ?? c.generatorLr ?? 1e-4,
    cfgScale: c.cfgScale ?? 4.5,
    tInit: DEFAULT_RUN.tInit,
    emaDecay: DEFAULT_RUN.generatorEmaDecay,
    huberC: c.huberC ?? 0.03,
    cfgPlacement: c.cfgPlacement ?? 'in',
    generatorStart: DEFAULT_RUN.generatorInit === 'embedded' ? 'embedded' : 'reference',
  }
}

type Spec = NonNullable<RunConfigInput['reward']>

/** The form's fields that can be wrong: each shows its own message. */
export type RunFormField =
  | 'name' | 'rewards' | `reward-${RewardChoice['kind']}` | 'rewardWeight' | 'regulariserWeight' | 'prompts' | 'steps' | 'batchSize' | 'seed'
  | 'samplesEvery' | 'checkpointEvery' | 'learningRate' | 'fakeLearningRate' | 'cfgScale' | 'generatorStart' | 'tInit' | 'emaDecay' | 'huberC'

/** A problem of one field that stops the form making a run. */
export class RunFormError extends Error {
  override name = 'RunFormError'
  constructor(
    readonly field: RunFormField,
    message: string,
  ) {
    super(message)
  }
}

/** Run config paths -> the form field and its label, as the view shows them. */
const FIELDS: [path: RegExp, field: RunFormField, label: string][] = [
  [/^name$/, 'name', 'Run name'],
  [/^controls\.rewardWeight$/, 'rewardWeight', 'Reward weight'],
  [/^controls\.regulariserWeight$/, 'regulariserWeight', 'Regulariser weight'],
  [/^controls\.generatorLr$/, 'learningRate', 'Generator learning rate'],
  [/^controls\.fakeLr$/, 'fakeLearningRate', 'Fake-score learning rate'],
  [/^controls\.cfgScale$/, 'cfgScale', 'CFG scale'],
  [/^controls\.huberC$/, 'huberC', 'Pseudo-Huber constant'],
  [/^steps$/, 'steps', 'Steps'],
  [/^batchSize$/, 'batchSize', 'Batch size'],
  [/^seed$/, 'seed', 'Seed'],
  [/^samples\.every$/, 'samplesEvery', 'Samples every'],
  [/^checkpoints\.every$/, 'checkpointEvery', 'Checkpoint every'],
  [/^tInit$/, 'tInit', 'Generator t_init'],
  [/^generatorEmaDecay$/, 'emaDecay', 'Generator EMA decay'],
]

/** The form field a run config path belongs to; `chosen` are the enabled rewards, in the order of the config's sum. */
export function runFormField(path: string, chosen: readonly Pick<RewardChoice, 'kind' | 'label'>[] = []): { field: RunFormField; label: string } | null {
  const part = /^reward\.parts\.(\d+)\.weight$/.exec(path)
  if (part) {
    const reward = chosen[Number(part[1])]
    return reward ? { field: `reward-${reward.kind}`, label: `The ${reward.label} weight` } : null
  }
  // the sample grid shows the first training prompts: their problems are the training prompts' own
  const prompt = /^(?:samples\.)?prompts(?:\.(\d+))?$/.exec(path)
  if (prompt) return { field: 'prompts', label: prompt[1] === undefined ? 'Training prompts:' : `Training prompt ${Number(prompt[1]) + 1}:` }
  for (const [re, field, label] of FIELDS) if (re.test(path)) return { field, label }
  return null
}

/**
 * The run config the form makes, checked with the contract's schema; else a message for each wrong
 * field (and under '' what belongs to none).
 */
export function validateRunForm(form: RunForm): { ok: true; config: RunConfigInput } | { ok: false; errors: FieldErrors<RunFormField> } {
  let config: RunConfigInput
  try {
    config = buildRunConfig(form)
  } catch (err) {
    return { ok: false, errors: err instanceof RunFormError ? { [err.field]: err.message } : { '': (err as Error).message } }
  }
  const parsed = RunConfig.safeParse(config)
  if (parsed.success) return { ok: true, config }
  const chosen = form.rewards.filter((r) => r.enabled)
  return { ok: false, errors: fieldErrors(parsed.error, (path) => runFormField(path, chosen)) }
}

function rewardSpec(r: RewardChoice, preferenceModelDir: string | null): Spec {
  if (r.kind === 'preference') {
    if (!preferenceModelDir) throw new RunFormError('reward-preference', 'Train the preference model in Prefer before choosing it as a reward')
    return { kind: 'preference', modelDir: preferenceModelDir }
  }
  return { kind: r.kind }
}

/** Throws a RunFormError naming the field when the form cannot make a run (the schema checks the rest: validateRunForm). */
export function buildRunConfig(form: RunForm): RunConfigInput {
  const chosen = form.rewards.filter((r) => r.enabled)
  if (chosen.length === 0) throw new RunFormError('rewards', 'Choose at least one reward')
  const reward: Spec = chosen.length === 1 && chosen[0]!.weight === 1
    ? rewardSpec(chosen[0]!, form.preferenceModelDir)
    : { kind: 'sum', parts: chosen.map((r) => ({ spec: rewardSpec(r, form.preferenceModelDir), weight: r.weight })) }
  const embeddedBase = !form.baseModel || form.baseModel === 'reference'
  if (form.generatorStart === 'embedded') {
    if (!embeddedBase) throw new RunFormError('generatorStart', 'The distilled one-step generator belongs to the embedded reference model: for another base model, start from the base model at t_init')
    if (form.tInit !== DEFAULT_RUN.tInit) throw new RunFormError('generatorStart', `The distilled one-step generator was made for t_init ${DEFAULT_RUN.tInit}: to try another t_init, start from the base model at t_init`)
  }
  const prompts = form.prompts.split('\n').map((p) => p.trim()).filter((p) => p.length > 0)
  return {
    ...(form.name.trim() ? { name: form.name.trim() } : {}),
    ...(form.baseModel && form.baseModel !== 'reference' ? { baseModelDir: form.baseModel } : {}),
    reward,
    controls: { ...DEFAULT_RUN.controls, regulariser: form.regulariser, rewardWeight: form.rewardWeight, regulariserWeight: form.regulariserWeight, generatorLr: form.learningRate, fakeLr: form.fakeLearningRate, cfgScale: form.cfgScale,
      ...(form.huberC !== undefined ? { huberC: form.huberC } : {}), ...(form.cfgPlacement !== undefined ? { cfgPlacement: form.cfgPlacement } : {}) },
    steps: form.steps,
    batchSize: form.batchSize,
    seed: form.seed,
    tInit: form.tInit,
    generatorEmaDecay: form.emaDecay,
    ...(form.generatorStart === 'embedded' ? { generatorInit: 'embedded' } : {}),
    ...(prompts.length > 0 ? { prompts } : {}),
    samples: { every: form.samplesEvery, ...(prompts.length > 0 ? { prompts: prompts.slice(0, 8) } : {}) },
    checkpoints: { every: form.checkpointEvery },
  }
}
