// The Compare view's state: one generation job that renders the same prompts and seeds with a
// one-step generator and with a model's multi-step sampler, then the pairs side by side with the
// time each model took per image.
import { GenerateGalleryJobParams, type GalleryEntry, type ModelInfo, type ScoreImagesResult, type StudioEvent } from '../../../../src-main/contract/index.ts'
import { fieldErrors, plainError, type FieldOf } from '../form-errors.ts'
import { isDiffusionModel } from '../models.ts'
import type { StudioClient } from '../client/studio-client.ts'
import type { JobsState } from './jobs.svelte.ts'
import { KnownEmojiState } from './known-emoji.svelte.ts'
import { PromptCheckState } from './prompt-check.svelte.ts'

export interface CompareSetup {
  generator: ModelInfo
  tInit: number
  reference: ModelInfo
  sampler: 'ddim' | 'dpmpp-2m'
  steps: number
  cfg: number
  prompts: string[]
  seeds: number[]
}

export interface CompareRow {
  prompt: string
  seed: number
  generator?: GalleryEntry
  reference?: GalleryEntry
}

export interface CompareTiming {
  model: string
  kind: string
  images: number
  msPerImage: number
}

/** The comparison's job params paths -> the Compare form's labels (for refusals in the form's words). */
export const compareField: FieldOf<'prompts' | 'seeds' | 'steps' | 'cfg' | 'tInit'> = (path) => {
  const prompt = /^prompts(?:\.(\d+))?$/.exec(path)
  if (prompt) return { field: 'prompts', label: prompt[1] === undefined ? 'Prompts:' : `Prompt ${Number(prompt[1]) + 1}:` }
  if (path === 'seeds' || path.startsWith('seeds.')) return { field: 'seeds', label: 'Seeds:' }
  if (path === 'steps') return { field: 'steps', label: 'Steps' }
  if (path === 'cfg') return { field: 'cfg', label: 'CFG' }
  if (path === 'models.0.tInit') return { field: 'tInit', label: 'Generator t_init' }
  return null
}

export class CompareState {
  jobId = $state<string | null>(null)
  rows = $state<CompareRow[]>([])
  timings = $state<CompareTiming[]>([])
  error = $state<string | null>(null)
  /** why the last Compare did not start, in the form's words (shown beside the button) */
  startError = $state<string | null>(null)
  /** reward scores by image path, once the scoring job is done */
  scores = $state<Record<string, Record<string, number>>>({})
  scoreJobId = $state<string | null>(null)
  private setup: CompareSetup | null = null
  private names = { generator: '', reference: '' }

  /** what the one-step generator makes of the prompts being typed */
  readonly promptCheck: PromptCheckState
  /** the emoji the one-step generator knows (Browse emoji beside the prompts) */
  readonly emoji: KnownEmojiState

  constructor(
    private readonly client: StudioClient,
    private readonly jobs: JobsState,
  ) {
    this.promptCheck = new PromptCheckState(client)
    this.emoji = new KnownEmojiState(client)
    client.onEvent((event) => this.onEvent(event))
  }

  /** Drop the comparison on screen (its images belong to a workspace no longer in use). */
  reset(): void {
    this.jobId = null
    this.rows = []
    this.timings = []
    this.scores = {}
    this.scoreJobId = null
    this.error = null
    this.startError = null
    this.setup = null
  }

  /**
   * Start a comparison. What cannot start (checked with the job's own schema first, then the studio's
   * refusal) is left in `error` in the form's words, for the view to show beside Compare.
   */
  async start(setup: CompareSetup): Promise<void> {
    // Names mark this comparison's images in the gallery (and keep the two sides apart for one folder).
    const names = { generator: `${setup.generator.name} one-step`.slice(0, 64), reference: `${setup.reference.name} ${setup.sampler} ${setup.steps}`.slice(0, 64) }
    const params = {
      models: [
        { path: setup.generator.path, ...(isDiffusionModel(setup.generator) ? { tInit: setup.tInit } : {}), name: names.generator },
        { path: setup.reference.path, name: names.reference },
      ],
      prompts: setup.prompts,
      seeds: setup.seeds,
      sampler: setup.sampler,
      steps: setup.steps,
      cfg: setup.cfg,
    }
    const parsed = GenerateGalleryJobParams.safeParse(params)
    if (!parsed.success) {
      this.startError = `Not started: ${Object.values(fieldErrors(parsed.error, compareField)).join(' ')}`
      return
    }
    this.setup = setup
    this.names = names
    this.rows = []
    this.timings = []
    this.scores = {}
    this.scoreJobId = null
    const started = await this.jobs.tryStart({ kind: 'generate-gallery', params })
    this.jobId = 'jobId' in started ? started.jobId : null
    this.startError = 'error' in started ? `Not started: ${plainError(started.error, compareField, 'params.')}` : null
    this.error = null
  }

  /** Mean of one score over one side's images; undefined until scored. */
  mean(side: 'generator' | 'reference', reward: string): number | undefined {
    const values = this.rows.map((r) => r[side] && this.scores[r[side].path]?.[reward]).filter((v): v is number => typeof v === 'number')
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined
  }

  private onEvent(event: StudioEvent): void {
    if (event.channel !== 'job.done') return
    if (event.payload.jobId === this.scoreJobId) {
      const result = event.payload.result as ScoreImagesResult | undefined
      if (event.payload.status === 'succeeded' && result) this.scores = Object.fromEntries(result.scores.map((s) => [s.path, s.values]))
      else if (event.payload.error) this.error = `Scoring failed: ${event.payload.error}`
      return
    }
    if (event.payload.jobId !== this.jobId || event.payload.status !== 'succeeded') return
    const result = event.payload.result as { perModel?: CompareTiming[] } | undefined
    this.timings = result?.perModel ?? []
    void this.loadRows()
  }

  /** The newest image of each (prompt, seed) for both sides, from the gallery. */
  private async loadRows(): Promise<void> {
    const setup = this.setup
    if (!setup) return
    try {
      const newest = async (model: string) => {
        const page = await this.client.listGallery({ model, limit: 1000 })
        const map = new Map<string, GalleryEntry>()
        for (const e of page.entries) {
          const key = `${e.prompt}\n${e.seed}`
          if (!map.has(key)) map.set(key, e)
        }
        return map
      }
      const [gen, ref] = [await newest(this.names.generator), await newest(this.names.reference)]
      this.rows = setup.prompts.flatMap((prompt) =>
        setup.seeds.map((seed) => ({ prompt, seed, generator: gen.get(`${prompt}\n${seed}`), reference: ref.get(`${prompt}\n${seed}`) })),
      )
      const images = this.rows.flatMap((r) => [r.generator, r.reference]).filter((e): e is GalleryEntry => e !== undefined).slice(0, 512)
      if (images.length > 0) {
        this.scoreJobId = await this.jobs.startAndReturn({ kind: 'score-images', params: { images: images.map((e) => ({ path: e.path, prompt: e.prompt })) } })
      }
    } catch (err) {
      this.error = (err as Error).message
    }
  }
}
