// The Train view's state: the models and past runs to choose from, and the one run being watched
// (live from a job's events, or reopened from its files). Metric history is kept in plain arrays
// outside Svelte's deep reactivity (tens of thousands of points); `revision` tells the chart to redraw.
import type { ModelInfo, PreferenceStatus, RunConfigInput, RunSummary, StudioEvent } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'

export interface MetricSeries {
  steps: number[]
  values: (number | null)[]
}

export interface SampleGrid {
  step: number
  path: string
}

/** The sliders that change a running job (flat `set` control names of the DI* job). */
export const LIVE_CONTROLS = [
  { key: 'rewardWeight', label: 'Reward weight', min: 0, max: 10, step: 0.1, log: false },
  { key: 'regulariserWeight', label: 'Regulariser weight', min: 0, max: 10, step: 0.1, log: false },
  { key: 'cfgScale', label: 'CFG scale', min: 0, max: 10, step: 0.1, log: false },
  // learning rate on a log slider: the value is 10^x
  { key: 'generatorLr', label: 'Learning rate (generator)', min: -7, max: -2, step: 0.1, log: true },
] as const
export type LiveControlKey = (typeof LIVE_CONTROLS)[number]['key']

export class TrainState {
  models = $state<ModelInfo[]>([])
  runs = $state<RunSummary[]>([])
  preference = $state<PreferenceStatus | null>(null)
  error = $state<string | null>(null)

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

  constructor(private readonly client: StudioClient) {
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
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  async start(config: RunConfigInput): Promise<boolean> {
    return this.act(async () => {
      const { jobId, runId } = await this.client.startJob({ kind: 'distar-train', params: { config } })
      this.watch(runId ?? null, jobId)
    })
  }

  async resume(runId: string): Promise<boolean> {
    return this.act(async () => {
      await this.open(runId)
      const { jobId } = await this.client.startJob({ kind: 'distar-train', params: { resume: runId } })
      this.jobId = jobId
      // the resumed run repeats the steps after its last checkpoint: drop them from the curves
      await this.refresh()
    })
  }

  /** Show a past (or running) run from its files: config, metric history, sample grids. */
  async open(runId: string): Promise<boolean> {
    return this.act(async () => {
      const detail = await this.client.openRun({ runId })
      this.watch(runId, detail.summary.activeJobId ?? null)
      for (const m of detail.metrics) this.addMetrics(m.step, m.values)
      this.samples = detail.samples
      this.config = detail.config
      this.revision++
    })
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

  private apply(event: StudioEvent): void {
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
        void this.refresh()
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
