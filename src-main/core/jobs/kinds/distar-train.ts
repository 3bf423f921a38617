// The DI* training job: runs the run engine (core/runs) inside a job worker and maps its events onto the
// JobContext: per-step metrics (flat names, core/runs/step-metrics.ts), progress with the run's ETA message,
// sample grids as 'sample-grid' artifacts, control changes and status changes as logs, live `set`
// controls onto the run's controls, pause via ctx.checkpoint(), cancel = stop with a checkpoint.
//
// Not registered yet: the contract needs the 'distar-train' kind with DistarTrainJobParams (below) and
// its settable controls first; see the run engine's report for the event payloads.
import { z } from 'zod'
import { JobCancelledError, type JobContext } from '../job-context.ts'
import { initJobTensorflow, jobTrainingThreads, reportTensorflowBackend } from '../job-engines.ts'
import { DiStarRun } from '../../runs/run-engine.ts'
import { stepMetrics } from '../../runs/step-metrics.ts'
import { EMBEDDED_GENERATOR_INIT, RunConfig, RunId } from '../../runs/run-config.ts'
import { controlsFromSetValues } from '../../runs/live-controls.ts'
import type { RunSessionOptions } from '../../runs/run-session.ts'
import { formatDuration } from '../../../util/format-duration.ts'
import type { RewardSpec } from '../../../ml/rewards/reward-spec.ts'
import { relative, sep } from 'node:path'
import { availableParallelism } from 'node:os'

/** Start a new run from a config, or resume an existing one by id. */
export const DistarTrainJobParams = z.union([
  z.strictObject({ config: RunConfig, runId: RunId.optional() }),
  z.strictObject({ resume: RunId }),
])
export type DistarTrainJobParams = z.output<typeof DistarTrainJobParams>

export { stepMetrics }

export interface DistarTrainResult {
  runId: string
  /** relative to the workspace */
  dir: string
  state: string
  step: number
  totalSteps: number
  checkpointStep?: number
  /** steps the NaN guard skipped */
  skippedSteps?: number
  /** what the run's status says beside its state (e.g. how many steps were skipped) */
  message?: string
}

/** Paths in a config that arrives over IPC are workspace paths: resolve them inside the workspace (refusing escapes). */
function resolveConfigPaths(config: RunConfig, ctx: JobContext): RunConfig {
  const reward = (spec: RewardSpec): RewardSpec => {
    if (spec.kind === 'sum') return { ...spec, parts: spec.parts.map((p) => ({ ...p, spec: reward(p.spec) })) }
    if ('modelDir' in spec && typeof spec.modelDir === 'string') return { ...spec, modelDir: ctx.workspace.resolve(spec.modelDir) }
    return spec
  }
  return {
    ...config,
    ...(config.baseModelDir ? { baseModelDir: ctx.workspace.resolve(config.baseModelDir) } : {}),
    // 'embedded' names the shipped generator, not a workspace folder
    ...(config.generatorInit && config.generatorInit !== EMBEDDED_GENERATOR_INIT ? { generatorInit: ctx.workspace.resolve(config.generatorInit) } : {}),
    ...(typeof config.prompts === 'object' && 'file' in config.prompts ? { prompts: { file: ctx.workspace.resolve(config.prompts.file) } } : {}),
    reward: reward(config.reward),
  }
}

export interface DistarTrainJobDeps {
  /** picks and initialises the tfjs backend (default: initTf with the Settings preference; tests pass one that keeps the cpu backend) */
  initBackend?: () => Promise<{ name: string; package: string }>
  /** TEST-ONLY: NaN/Inf injection into the run's steps (see RunSessionOptions.faultInjectionForTests) */
  faultInjectionForTests?: RunSessionOptions['faultInjectionForTests']
}

export function createDistarTrainJob(deps: DistarTrainJobDeps = {}) {
  return { run: (ctx: JobContext, params: unknown) => runDistarTrainJob(ctx, params, deps) }
}

export const distarTrainJob = createDistarTrainJob()

async function runDistarTrainJob(ctx: JobContext, rawParams: unknown, deps: DistarTrainJobDeps): Promise<DistarTrainResult> {
  const params = DistarTrainJobParams.parse(rawParams)
  let backend: { name: string; package: string }
  if (deps.initBackend) reportTensorflowBackend(ctx, (backend = await deps.initBackend()))
  else backend = await initJobTensorflow(ctx) // the backend preferred in Settings, if installed
  const trainingThreads = jobTrainingThreads(ctx.settings, backend.name, availableParallelism())
  const threadText = `gradients on ${trainingThreads} thread${trainingThreads === 1 ? '' : 's'}`
  ctx.log(`DI* training on ${backend.name} (${backend.package}), ${threadText}`)
  ctx.reportRuntime?.({ engine: 'tensorflow.js', backend: backend.name, threads: trainingThreads, detail: `${backend.package}; ${threadText}` })
  const root = ctx.workspace.root
  const sessionOptions = { trainingThreads, ...(deps.faultInjectionForTests ? { faultInjectionForTests: deps.faultInjectionForTests } : {}) }
  const run = 'resume' in params
    ? await DiStarRun.resume(root, params.resume, sessionOptions)
    : await DiStarRun.start(root, resolveConfigPaths(params.config, ctx), { ...sessionOptions, ...(params.runId ? { runId: params.runId } : {}) })
  const rel = (p: string) => relative(root, p)
  ctx.log(`run ${run.id}: ${rel(run.dir)}`)

  const stopListening = ctx.onControl((control) => {
    try {
      const { resumeAfterNonFinite, ...values } = control.values
      if (Object.keys(values).length > 0) run.setControls(controlsFromSetValues(values, run.controls))
      if (resumeAfterNonFinite === true) run.resume()
    } catch (err) {
      // a bad slider value is reported, never fatal
      ctx.log(`control refused: ${err instanceof Error ? err.message : String(err)}`, 'warn')
    }
  })
  let cancelled = false
  try {
    const status = await run.run(
      {
        onStep: (e) => {
          ctx.metrics(e.step, stepMetrics(e))
          ctx.progress(e.step + 1, e.totalSteps, `step ${e.step + 1}/${e.totalSteps}, ETA ${formatDuration(e.etaMs / 1000)}${e.status === 'ok' ? '' : ` (${e.status})`}`)
        },
        onControls: (e) => ctx.log(`controls from step ${e.step}: ${JSON.stringify(e.changes)}`),
        onSamples: (e) => {
          ctx.artifact('sample-grid', rel(e.png).split(sep).join('/'), { step: e.step, caption: `step ${e.step}: ${e.prompts.length} fixed prompts and seeds` })
          ctx.log(`samples at step ${e.step}: ${rel(e.png)}`)
        },
        onCheckpoint: (e) => ctx.log(`checkpoint at step ${e.step}: ${rel(e.path)}`),
        onStatus: (s) => {
          const problem = (s.state === 'paused' || s.state === 'failed') && s.message !== undefined
          ctx.log(`run ${s.state} at step ${s.step}/${s.totalSteps}${s.message ? `: ${s.message}` : ''}`, problem ? 'warn' : 'info')
          // the NaN guard paused the run: the job shows as paused until the user resumes (or stops) it
          if (s.state === 'paused' && s.message !== undefined && !cancelled) ctx.pausedByJob?.(() => run.resume())
        },
        onLog: (m, level) => ctx.log(m, level),
      },
      {
        signal: ctx.signal,
        gate: async () => {
          try {
            await ctx.checkpoint()
          } catch (err) {
            if (!(err instanceof JobCancelledError)) throw err
            cancelled = true // finish as a stop: the run saves a checkpoint first
            run.stop()
          }
        },
      },
    )
    const result: DistarTrainResult = {
      runId: run.id, dir: rel(run.dir), state: status.state, step: status.step, totalSteps: status.totalSteps,
      ...(status.checkpointStep !== undefined ? { checkpointStep: status.checkpointStep } : {}),
      ...(status.skippedSteps !== undefined ? { skippedSteps: status.skippedSteps } : {}),
      ...(status.message !== undefined ? { message: status.message } : {}),
    }
    // a stop keeps what it saved as the job's result ("stopped, saved at step N")
    if (cancelled || ctx.signal.aborted) throw new JobCancelledError(result)
    // a run that ends otherwise than completed (diverged, or non-finite weights it refused to save) failed
    if (status.state !== 'completed') throw new Error(`Run ${status.state} at step ${status.step}/${status.totalSteps}${status.message ? `: ${status.message}` : ''}`)
    return result
  } finally {
    stopListening()
    run.dispose()
  }
}
