// The DI* run loop: start or resume a run directory, step the trainer, apply live controls from the next
// step (recording them with that step), pause / resume / stop, write metrics, sample grids and
// checkpoints, and report everything through callbacks (the job runner maps them onto JobContext, the
// CLI onto a progress line).
//
// Determinism: the trainer draws step n's randomness from (seed, n), and a checkpoint holds the weights,
// both optimiser states, the counters and the controls in force. So pausing, stopping and resuming, or
// being killed and resuming from the last checkpoint, reach the same weights as an uninterrupted run.
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs } from 'node:fs'
import { join, resolve } from 'node:path'
import { atomicWriteFile } from '../../util/atomic-write.ts'
import { validateControls, type DiStarControls } from '../../ml/distar/controls.ts'
import type { DiStarStepResult } from '../../ml/distar/trainer.ts'
import { EMBEDDED_GENERATOR_INIT, parseRunConfig, RunConfigError, RunId, type RunConfig } from './run-config.ts'
import {
  checkpointPath, listCheckpointSteps, MetricsLog, pruneCheckpoints, removeInterruptedDeletes, removeStaleTempFiles, RUN_FILES, runDir, samplePaths, truncateMetrics, writeStatus,
  type RunState, type RunStatus,
} from './run-files.ts'
import { NonFiniteWeightsError, RunSession, type RunSessionOptions } from './run-session.ts'
import { resolveGeneratorInit } from './generator-init.ts'

/** One finished trainer step, as streamed (and written to metrics.jsonl). */
export interface RunStepEvent {
  runId: string
  /** index of the step (0-based); after it, `step + 1` steps are done */
  step: number
  totalSteps: number
  /** 'skipped': the NaN guard refused the update; 'paused': and the run paused (see reason) */
  status: DiStarStepResult['status']
  reason?: string
  losses: DiStarStepResult['losses']
  gradNorms: DiStarStepResult['gradNorms']
  timings: DiStarStepResult['timings']
  /** the controls this step ran with */
  controls: DiStarControls
  /** wall time of this step including grids and checkpoints written after it */
  wallMs: number
  /** estimated time to the last step, from the recent steps' wall time */
  etaMs: number
}

export interface RunControlsEvent {
  /** the first step that runs with the new values */
  step: number
  changes: Partial<DiStarControls>
  controls: DiStarControls
}

export interface RunSamplesEvent {
  step: number
  /** absolute paths; relative to the workspace: runs/<id>/samples/step-<N>.png */
  png: string
  sidecar: string
  prompts: string[]
  seeds: number[]
}

export interface RunEvents {
  onStep?(e: RunStepEvent): void
  onControls?(e: RunControlsEvent): void
  onSamples?(e: RunSamplesEvent): void
  onStatus?(s: RunStatus): void
  onCheckpoint?(e: { step: number; path: string }): void
  onLog?(message: string, level: 'info' | 'warn' | 'error'): void
}

export interface RunLoopOptions {
  /** awaited before every step: a job's pause point (it may throw to abort) */
  gate?: () => Promise<void>
  /** aborting stops the run after the current step, with a checkpoint */
  signal?: AbortSignal
}

export interface StartRunOptions extends RunSessionOptions {
  /** directory name under runs/; default run-<date>-<time>-<random> */
  runId?: string
}

const ETA_WINDOW = 20

export class DiStarRun {
  private pending: Partial<DiStarControls> = {}
  private pauseRequested = false
  private stopRequested = false
  /** why the run paused itself because its weights went non-finite (cleared by resume()) */
  private nonFiniteWeights: string | undefined
  private wake: (() => void) | null = null
  private state: RunState = 'starting'
  private message: string | undefined
  private checkpointStep: number | undefined
  private readonly recentWallMs: number[] = []
  private running = false
  /** why the newest skipped step was skipped (named when the run ends on skipped steps) */
  private lastSkipReason: string | undefined

  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly config: RunConfig,
    readonly session: RunSession,
    /** notes from opening the run (e.g. a corrupt checkpoint skipped), emitted when run() starts */
    private readonly openNotes: { message: string; level: 'info' | 'warn' }[],
  ) {}

  /** Creates runs/<id>/ with its config.json and loads the models. Nothing is trained until run(). */
  static async start(workspaceRoot: string, configInput: unknown, opts: StartRunOptions = {}): Promise<DiStarRun> {
    const config = parseRunConfig(configInput)
    const id = opts.runId ?? newRunId()
    if (!RunId.safeParse(id).success) throw new RunConfigError(`Invalid run id ${JSON.stringify(id)}: letters, digits, - and _ only`)
    const dir = runDir(workspaceRoot, id)
    if (existsSync(dir)) throw new RunConfigError(`A run named '${id}' already exists in ${join(workspaceRoot, 'runs')}; resume it or pick another id`)
    const session = await RunSession.create(config, opts)
    try {
      const generatorInit = config.generatorInit === undefined ? undefined : resolveGeneratorInit(config.generatorInit, opts.baseDir)
      if (generatorInit) await session.loadGeneratorInit(generatorInit)
      await fs.mkdir(join(dir, RUN_FILES.samples), { recursive: true })
      await fs.mkdir(join(dir, RUN_FILES.checkpoints), { recursive: true })
      // resolved paths go into config.json, so a resume uses the same reference and prompts from anywhere
      const prompts = typeof config.prompts === 'object' && 'file' in config.prompts ? { file: resolve(opts.baseDir ?? process.cwd(), config.prompts.file) } : config.prompts
      // 'embedded' stays a keyword: it follows the app's resources folder, which moves with updates
      const savedInit = config.generatorInit === EMBEDDED_GENERATOR_INIT ? EMBEDDED_GENERATOR_INIT : generatorInit
      const saved: RunConfig = { ...config, baseModelDir: session.modelDir, prompts, ...(savedInit ? { generatorInit: savedInit } : {}) }
      await atomicWriteFile(join(dir, RUN_FILES.config), JSON.stringify(saved, null, 2) + '\n')
      return new DiStarRun(id, dir, saved, session, [...session.promptNotes])
    } catch (err) {
      session.dispose()
      throw err
    }
  }

  /**
   * Opens an existing run and restores its newest complete checkpoint; a checkpoint that fails to load
   * (corrupt, truncated, mismatched) is reported and the one before it is used. With no loadable
   * checkpoint the run starts again from step 0. Metrics of steps after the checkpoint are dropped.
   */
  static async resume(workspaceRoot: string, runId: string, opts: RunSessionOptions = {}): Promise<DiStarRun> {
    if (!RunId.safeParse(runId).success) throw new RunConfigError(`Invalid run id ${JSON.stringify(runId)}`)
    const dir = runDir(workspaceRoot, runId)
    let raw: string
    try {
      raw = await fs.readFile(join(dir, RUN_FILES.config), 'utf8')
    } catch {
      throw new RunConfigError(`No run '${runId}' in ${join(workspaceRoot, 'runs')} (missing ${RUN_FILES.config})`)
    }
    let json: unknown
    try {
      json = JSON.parse(raw)
    } catch (err) {
      throw new RunConfigError(`runs/${runId}/${RUN_FILES.config} is not valid JSON: ${(err as Error).message}`)
    }
    const config = parseRunConfig(json, `runs/${runId}/${RUN_FILES.config}`)
    const session = await RunSession.create(config, opts)
    const notes: { message: string; level: 'info' | 'warn' }[] = [...session.promptNotes]
    let restored: number | undefined
    try {
      for (const step of await listCheckpointSteps(dir)) {
        try {
          await session.loadCheckpoint(checkpointPath(dir, step))
          restored = step
          break
        } catch (err) {
          notes.push({ level: 'warn', message: `Checkpoint step-${step} refused, trying the one before: ${(err as Error).message}` })
        }
      }
      // from step 0 the generator starts where the run started it (config.json holds the absolute path)
      if (restored === undefined && config.generatorInit !== undefined) await session.loadGeneratorInit(resolveGeneratorInit(config.generatorInit))
      notes.push({ level: 'info', message: restored === undefined ? 'No complete checkpoint: starting again from step 0' : `Resumed from the checkpoint at step ${restored}` })
      await truncateMetrics(dir, restored ?? 0)
      await removeInterruptedDeletes(dir) // a run killed while pruning after its last checkpoint never prunes again
      const stale = await removeStaleTempFiles(dir)
      if (stale.length > 0) notes.push({ level: 'info', message: `Removed ${stale.length} temp file(s) of writes cut short by an earlier stop: ${stale.join(', ')}` })
    } catch (err) {
      session.dispose()
      throw err
    }
    const run = new DiStarRun(runId, dir, config, session, notes)
    run.checkpointStep = restored
    return run
  }

  get step(): number {
    return this.session.step
  }

  get controls(): DiStarControls {
    return { ...this.session.trainer.controls, ...this.pending }
  }

  /**
   * Queues control changes for the next step. They are checked now (DiStarControlError names the bad
   * field) and recorded in metrics.jsonl with the step they apply from.
   */
  setControls(changes: Partial<DiStarControls>): void {
    const T = this.session.reference.schedule.alphas.length
    validateControls({ ...this.controls, ...changes }, T)
    this.pending = { ...this.pending, ...changes }
  }

  /** Pauses before the next step (the current one finishes). */
  pause(): void {
    this.pauseRequested = true
  }

  /** Resumes a pause, including one the NaN guard made. */
  resume(): void {
    this.pauseRequested = false
    this.nonFiniteWeights = undefined
    if (this.session.trainer.paused !== null) this.session.trainer.resume()
    this.wakeUp()
  }

  /** Stops after the current step; run() then saves a checkpoint and returns. */
  stop(): void {
    this.stopRequested = true
    this.wakeUp()
  }

  status(): RunStatus {
    const skipped = this.session.trainer.skips.total
    return {
      runId: this.id, state: this.state, step: this.step, totalSteps: this.config.steps,
      ...(this.message ? { message: this.message } : {}),
      ...(this.checkpointStep !== undefined ? { checkpointStep: this.checkpointStep } : {}),
      ...(skipped > 0 ? { skippedSteps: skipped } : {}),
      pid: process.pid,
      updatedAt: new Date().toISOString(),
    }
  }

  /** Runs until the last step, stop() or the signal; returns the final status. Call once. */
  async run(events: RunEvents = {}, opts: RunLoopOptions = {}): Promise<RunStatus> {
    if (this.running) throw new Error('DiStarRun.run is already running')
    this.running = true
    const onAbort = () => this.stop()
    opts.signal?.addEventListener('abort', onAbort)
    if (opts.signal?.aborted) this.stopRequested = true
    const metrics = await MetricsLog.open(this.dir)
    try {
      for (const note of this.openNotes) events.onLog?.(note.message, note.level)
      await this.setState('running', undefined, events)
      if (this.step === 0) await this.writeSamples(events)
      while (this.step < this.config.steps && !this.stopRequested) {
        await opts.gate?.()
        if (this.stopRequested) break
        if (this.pauseRequested || this.session.trainer.paused !== null) {
          await this.setState('paused', this.session.trainer.paused ?? this.nonFiniteWeights, events)
          await new Promise<void>((resolve) => { this.wake = resolve })
          this.wake = null
          if (!this.stopRequested) await this.setState('running', undefined, events)
          continue
        }
        await this.applyPendingControls(metrics, events)
        const started = performance.now()
        const result = await this.session.trainStep()
        if (result.status === 'paused' && result.step === this.step) continue // a pause that consumed no step
        const done = this.step
        const wallMs = performance.now() - started
        this.recentWallMs.push(wallMs)
        if (this.recentWallMs.length > ETA_WINDOW) this.recentWallMs.shift()
        const meanMs = this.recentWallMs.reduce((a, b) => a + b, 0) / this.recentWallMs.length
        const event: RunStepEvent = {
          runId: this.id, step: result.step, totalSteps: this.config.steps, status: result.status,
          ...(result.reason ? { reason: result.reason } : {}),
          losses: result.losses, gradNorms: result.gradNorms, timings: result.timings, controls: result.controls,
          wallMs, etaMs: meanMs * (this.config.steps - done),
        }
        // The step's line goes to disk before the checkpoint that covers it: a kill in between then
        // resumes from the previous checkpoint (whose resume truncates the log), never leaves a gap.
        await metrics.append({ type: 'step', ...event, time: new Date().toISOString() })
        events.onStep?.(event)
        if (result.status !== 'ok' && result.reason) this.lastSkipReason = result.reason
        if (result.status === 'skipped') events.onLog?.(`step ${result.step} skipped: ${result.reason ?? 'non-finite values'}`, 'warn')
        if (result.status === 'paused') events.onLog?.(result.reason ?? 'paused by the NaN guard', 'warn')
        if (this.config.samples.every > 0 && done % this.config.samples.every === 0 || done === this.config.steps) await this.writeSamples(events)
        if (done % this.config.checkpoints.every === 0 || done === this.config.steps) await this.writeCheckpoint(events)
        await new Promise((resolve) => setImmediate(resolve)) // let controls arrive between steps
      }
      if (this.step >= this.config.steps && this.nonFiniteWeights === undefined) {
        // a run whose last steps the NaN guard skipped diverged: it did not complete, whatever its step count
        const { inARow, total } = this.session.trainer.skips
        if (inARow > 0) {
          const message = `diverged: the last ${inARow} of ${this.config.steps} steps were skipped (non-finite values${this.lastSkipReason ? `: ${this.lastSkipReason}` : ''}); lower the learning rate and start again`
          await this.setState('failed', message, events)
        } else {
          await this.setState('completed', total > 0 ? `${total} of ${this.config.steps} steps were skipped (non-finite values); the others trained` : undefined, events)
        }
      } else {
        if (Object.keys(this.pending).length > 0) events.onLog?.(`Stopped before control changes applied; not kept: ${JSON.stringify(this.pending)}`, 'warn')
        if (this.checkpointStep !== this.step) await this.writeCheckpoint(events)
        await this.setState('stopped', this.nonFiniteWeights, events)
      }
      return this.status()
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      await this.setState('failed', message, events).catch(() => {})
      throw err
    } finally {
      opts.signal?.removeEventListener('abort', onAbort)
      await metrics.close()
      this.running = false
    }
  }

  /** Frees the models; call after run() returned (or instead of it). */
  dispose(): void {
    this.session.dispose()
  }

  // ---------------------------------------------------------------------------------------------

  private wakeUp(): void {
    this.wake?.()
  }

  private async applyPendingControls(metrics: MetricsLog, events: RunEvents): Promise<void> {
    if (Object.keys(this.pending).length === 0) return
    const changes = this.pending
    this.pending = {}
    const T = this.session.reference.schedule.alphas.length
    this.session.trainer.controls = validateControls({ ...this.session.trainer.controls, ...changes }, T)
    const step = this.step
    await metrics.append({ type: 'controls', step, changes, time: new Date().toISOString() })
    events.onControls?.({ step, changes, controls: this.session.trainer.controls })
  }

  private async writeSamples(events: RunEvents): Promise<void> {
    const step = this.step
    const { png, sidecar } = samplePaths(this.dir, step)
    await this.session.writeSampleGrid(png, sidecar, step)
    const plan = JSON.parse(await fs.readFile(sidecar, 'utf8')) as { prompts: string[]; seeds: number[] }
    events.onSamples?.({ step, png, sidecar, prompts: plan.prompts, seeds: plan.seeds })
  }

  private async writeCheckpoint(events: RunEvents): Promise<void> {
    const step = this.step
    const path = checkpointPath(this.dir, step)
    try {
      await this.session.saveCheckpoint(path)
    } catch (err) {
      if (!(err instanceof NonFiniteWeightsError)) throw err
      // keep every earlier checkpoint (no pruning) and pause; reopening the run (DiStarRun.resume) starts from the last good one
      this.nonFiniteWeights = `${err.message}; the last good checkpoint (step ${this.checkpointStep ?? 'none'}) is kept`
      this.pauseRequested = true
      events.onLog?.(this.nonFiniteWeights, 'error')
      return
    }
    this.checkpointStep = step
    await pruneCheckpoints(this.dir, this.config.checkpoints.keep, step)
    await writeStatus(this.dir, this.status())
    events.onCheckpoint?.({ step, path })
  }

  private async setState(state: RunState, message: string | undefined, events: RunEvents): Promise<void> {
    this.state = state
    this.message = message
    const status = this.status()
    await writeStatus(this.dir, status)
    events.onStatus?.(status)
  }
}

function newRunId(): string {
  const iso = new Date().toISOString() // 2026-11-26T12:34:56.789Z
  return `run-${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${randomBytes(2).toString('hex')}`
}
