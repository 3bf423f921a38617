// The Train view's state: the models and past runs to choose from, and the one run being watched
// (live from a job's events, or reopened from its files). Metric history is kept in plain arrays
// outside Svelte's deep reactivity (tens of thousands of points); `revision` tells the chart to redraw.
// The runs list follows the core's events: a DI* job's progress moves its row's step count in place,
// and a run starting or ending re-reads the list (at most a few times a second, never by polling).
import type { ModelInfo, PreferenceStatus, RunConfigInput, RunSummary, StudioEvent } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'
import { KnownEmojiState } from './known-emoji.svelte.ts'
import { PromptCheckState } from './prompt-check.svelte.ts'
import type { MetricSeries } from '../chart-data.ts'

export type { MetricSeries }

export interface SampleGrid {
  step: number
  path: string
}

// The sliders that change a running job, and their scales: live-slider.ts
import { LIVE_CONTROLS } from '../live-slider.ts'
export { LIVE_CONTROLS }
/** How soon a run starting or ending re-reads the runs list (events in between share one read). */
const RUNS_REFRESH_DELAY_MS = 250

export type LiveControlKey = (typeof LIVE_CONTROLS)[number]['key']

export class TrainState {
  models = $state<ModelInfo[]>([])
  runs = $state<RunSummary[]>([])
  /** true once the models and runs lists have arrived (a first-run hint waits for them) */
  loaded = $state(false)
  preference = $state<PreferenceStatus | null>(null)
  error = $state<string | null>(null)
  /** why the studio refused the last Start (shown beside the Start button) */
  startError = $state<string | null>(null)
  /** why a runs-list action (Resume, Delete) did not happen, shown in that run's row */
  runActionError = $state<{ runId: string; message: string } | null>(null)

  /** The run being watched. */
  runId = $state<string | null>(null)
  /** Its job, while this studio trains it. */
  jobId = $state<string | null>(null)
  /** Replaced (not mutated) when another run is watched; points are appended in place and `revision` bumped. */
  series = $state.raw<Map<string, MetricSeries>>(new Map())
  /** Metric names, in first-seen order. */
  metricNames = $state<string[]>([])
  /** Steps from which a control change applied (chart markers). */
  markers = $state<number[]>([])
  samples = $state<SampleGrid[]>([])
  latestStep = $state(0)
  /** Bumped whenever series changed; the chart redraws at most once a frame. */
  revision = $state(0)
  /** Control values the run used at its latest step (what the sliders show). */
  controls = $state<Record<string, number>>({})
  /** The watched run's saved config.json, when it was opened from its files. */
  config = $state<unknown>(null)
  private lastControls: Record<string, number> = {}
  /** Kinds of the jobs seen in events (progress events carry no kind). */
  private readonly jobKinds = new Map<string, string>()
  private runsTimer: ReturnType<typeof setTimeout> | null = null

  /** what the chosen base model makes of the training prompts being typed */
  readonly promptCheck: PromptCheckState
  /** the emoji the base model knows (Browse emoji beside the training prompts) */
  readonly emoji: KnownEmojiState

  constructor(private readonly client: StudioClient) {
    this.promptCheck = new PromptCheckState(client)
    this.emoji = new KnownEmojiState(client)
    client.onEvent((event) => this.apply(event))
    client.onConnectionState((state) => {
      if (state === 'open') void this.refresh()
    })
  }

  async refresh(): Promise<void> {
    try {
      const [models, runs, preference] = await Promise.all([this.client.listModels({}), this.client.listRuns({}), this.client.getPreferenceStatus({})])
      this.models = models
      this.runs = runs
      this.preference = preference
      this.loaded = true
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  /** Re-reads only the runs list, soon and once however many events ask for it. */
  private scheduleRunsRefresh(): void {
    if (this.runsTimer) return
    this.runsTimer = setTimeout(async () => {
      try {
        this.runs = await this.client.listRuns({})
      } catch (err) {
        this.error = (err as Error).message
      } finally {
        this.runsTimer = null
      }
    }, RUNS_REFRESH_DELAY_MS)
  }

  /** Another workspace: nothing watched, its lists loaded afresh. */
  async resetForWorkspace(): Promise<void> {
    this.watch(null, null)
    this.jobKinds.clear()
    this.error = null
    await this.refresh()
  }

  async start(config: RunConfigInput): Promise<boolean> {
    try {
      const { jobId, runId } = await this.client.startJob({ kind: 'distar-train', params: { config } })
      this.watch(runId ?? null, jobId)
      this.startError = null
      return true
    } catch (err) {
      this.startError = (err as Error).message
      return false
    }
  }

  /** Resume a run from the runs list; a refusal goes to runActionError, beside that run's Resume. */
  async resume(runId: string): Promise<boolean> {
    this.runActionError = null
    try {
      await this.load(runId)
      const { jobId } = await this.client.startJob({ kind: 'distar-train', params: { resume: runId } })
      this.jobId = jobId
    } catch (err) {
      this.runActionError = { runId, message: `Not resumed: ${(err as Error).message}` }
      return false
    }
    // the resumed run repeats the steps after its last checkpoint: drop them from the curves
    await this.refresh()
    return true
  }

  /** Show a past (or running) run from its files: config, metric history, sample grids. */
  async open(runId: string): Promise<boolean> {
    return this.act(() => this.load(runId))
  }

  private async load(runId: string): Promise<void> {
    const detail = await this.client.openRun({ runId })
    this.watch(runId, detail.summary.activeJobId ?? null)
    for (const m of detail.metrics) this.addMetrics(m.step, m.values)
    this.samples = detail.samples
    this.config = detail.config
    this.revision++
  }

  /**
   * Deletes a run's folder for good (the view asks first); the core refuses a run that is training,
   * and the refusal goes to runActionError, beside that run's Delete.
   */
  async deleteRun(runId: string): Promise<boolean> {
    this.runActionError = null
    let ok = true
    try {
      await this.client.deleteRun({ runId })
      if (this.runId === runId) this.watch(null, null)
    } catch (err) {
      this.runActionError = { runId, message: `Not deleted: ${(err as Error).message}` }
      ok = false
    }
    await this.refresh()
    return ok
  }

  setControl(key: LiveControlKey, value: number): Promise<boolean> {
    const jobId = this.jobId
    if (!jobId) return Promise.resolve(false)
    return this.act(() => this.client.controlJob({ jobId, control: { type: 'set', values: { [key]: value } } }))
  }

  pause(): Promise<boolean> {
    const jobId = this.jobId
    return jobId ? this.act(() => this.client.controlJob({ jobId, control: { type: 'pause' } })) : Promise.resolve(false)
  }

  resumeJob(): Promise<boolean> {
    const jobId = this.jobId
    return jobId ? this.act(() => this.client.controlJob({ jobId, control: { type: 'resume' } })) : Promise.resolve(false)
  }

  /** Stop = cancel the job: the run saves a checkpoint first and can be resumed later. */
  stop(): Promise<boolean> {
    const jobId = this.jobId
    return jobId ? this.act(() => this.client.cancelJob({ jobId })) : Promise.resolve(false)
  }

  private watch(runId: string | null, jobId: string | null): void {
    this.runId = runId
    this.jobId = jobId
    this.series = new Map()
    this.metricNames = []
    this.markers = []
    this.samples = []
    this.latestStep = 0
    this.controls = {}
    this.config = null
    this.lastControls = {}
    this.revision++
  }

  private addMetrics(step: number, values: Record<string, number>): void {
    // A resumed run repeats steps after its checkpoint: keep one point per step, the newest.
    const newNames: string[] = []
    for (const [name, value] of Object.entries(values)) {
      let s = this.series.get(name)
      if (!s) {
        s = { steps: [], values: [] }
        this.series.set(name, s)
        newNames.push(name)
      }
      while (s.steps.length > 0 && s.steps[s.steps.length - 1]! >= step) {
        s.steps.pop()
        s.values.pop()
      }
      s.steps.push(step)
      s.values.push(Number.isFinite(value) ? value : null)
    }
    if (newNames.length > 0) this.metricNames = [...this.metricNames, ...newNames]
    // A marker wherever a control value differs from the step before.
    const controls: Record<string, number> = {}
    let changed = false
    for (const [name, value] of Object.entries(values)) {
      if (!name.startsWith('control/')) continue
      const key = name.slice('control/'.length)
      controls[key] = value
      if (key in this.lastControls && this.lastControls[key] !== value) changed = true
    }
    if (changed && !this.markers.includes(step)) this.markers = [...this.markers.filter((m) => m < step), step]
    if (Object.keys(controls).length > 0) {
      this.lastControls = controls
      this.controls = controls
    }
    this.latestStep = step
  }

  /** Keeps the runs list current from any DI* job's events, watched or not. */
  private followRuns(event: StudioEvent): void {
    if (event.channel === 'job.status') {
      this.jobKinds.set(event.payload.jobId, event.payload.kind)
      if (event.payload.kind === 'distar-train') this.scheduleRunsRefresh()
      return
    }
    if (event.channel === 'job.done' && event.payload.kind === 'distar-train') {
      this.scheduleRunsRefresh()
      return
    }
    if (event.channel !== 'job.progress' || this.jobKinds.get(event.payload.jobId) !== 'distar-train') return
    const row = this.runs.find((r) => r.activeJobId === event.payload.jobId)
    if (!row) {
      this.scheduleRunsRefresh() // its folder exists now that it reports steps
      return
    }
    row.step = event.payload.done
    row.totalSteps = event.payload.total
  }

  private apply(event: StudioEvent): void {
    this.followRuns(event)
    if (!this.jobId || event.payload.jobId !== this.jobId) return
    switch (event.channel) {
      case 'job.metrics':
        this.addMetrics(event.payload.step, event.payload.values)
        this.revision++
        break
      case 'job.artifact':
        if (event.payload.kind === 'sample-grid' && event.payload.step !== undefined) {
          const grid = { step: event.payload.step, path: event.payload.path }
          this.samples = [...this.samples.filter((s) => s.step !== grid.step), grid].sort((a, b) => a.step - b.step)
        }
        break
      case 'job.done':
        void this.refresh() // the preference model or a checkpoint may be new
        break
    }
  }

  private async act(action: () => Promise<unknown>): Promise<boolean> {
    try {
      await action()
      this.error = null
      return true
    } catch (err) {
      this.error = (err as Error).message
      return false
    }
  }
}
