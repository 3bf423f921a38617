// Turns the Train view's form into a DI* run config (the contract's RunConfig input).
import { RunConfig, type RunConfigInput } from '../../../src-main/contract/index.ts'
import defaultRunJson from '../../../resources/configs/default-run.json'

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
    generatorStart: DEFAULT_RUN.generatorInit === 'embedded' ? 'embedded' : 'reference',
  }
}

type Spec = NonNullable<RunConfigInput['reward']>

function rewardSpec(r: RewardChoice, preferenceModelDir: string | null): Spec {
  if (r.kind === 'preference') {
    if (!preferenceModelDir) throw new Error('Train the preference model in Prefer before choosing it as a reward')
    return { kind: 'preference', modelDir: preferenceModelDir }
  }
  return { kind: r.kind }
}

/** Throws an Error with a readable message when the form cannot make a run. */
export function buildRunConfig(form: RunForm): RunConfigInput {
  const chosen = form.rewards.filter((r) => r.enabled)
  if (chosen.length === 0) throw new Error('Choose at least one reward')
  const reward: Spec = chosen.length === 1 && chosen[0]!.weight === 1
    ? rewardSpec(chosen[0]!, form.preferenceModelDir)
    : { kind: 'sum', parts: chosen.map((r) => ({ spec: rewardSpec(r, form.preferenceModelDir), weight: r.weight })) }
  const embeddedBase = !form.baseModel || form.baseModel === 'reference'
  if (form.generatorStart === 'embedded') {
    if (!embeddedBase) throw new Error('The distilled one-step generator belongs to the embedded reference model: for another base model, start from the base model at t_init')
    if (form.tInit !== DEFAULT_RUN.tInit) throw new Error(`The distilled one-step generator was made for t_init ${DEFAULT_RUN.tInit}: to try another t_init, start from the base model at t_init`)
  }
  const prompts = form.prompts.split('\n').map((p) => p.trim()).filter((p) => p.length > 0)
  return {
    ...(form.name.trim() ? { name: form.name.trim() } : {}),
    ...(form.baseModel && form.baseModel !== 'reference' ? { baseModelDir: form.baseModel } : {}),
    reward,
    controls: { ...DEFAULT_RUN.controls, regulariser: form.regulariser, rewardWeight: form.rewardWeight, regulariserWeight: form.regulariserWeight, generatorLr: form.learningRate, fakeLr: form.fakeLearningRate, cfgScale: form.cfgScale },
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
