// The studio core: plain Node, no Electron. It owns the workspace and the job manager and answers
// every request channel of the contract. Electron's IPC handlers and the web host only call
// dispatch() and forward events; neither adds behaviour of its own.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { StudioError, parseRequest, requestContract } from '../contract/index.ts'
import type { ParsedParams, RequestChannel, RequestHandlers, Response, StudioEvent, WorkspaceInfo } from '../contract/index.ts'
import type { RewardSpec } from '../ml/rewards/reward-spec.ts'
import { collectBackendReport } from './backend-report.ts'
import { JobManager, jobKindList } from './jobs/job-manager.ts'
import { createLogger } from './logger.ts'
import type { Logger } from './logger.ts'
import { StudioData, referenceModelMissingMessage, referenceModelPresent } from './studio-data.ts'
import { Workspace } from './workspace.ts'

export interface StudioCoreOptions {
  workspace: WorkspaceInfo
  host: 'electron' | 'web'
  /** Override the job worker script (tests). */
  workerEntry?: string
  maxConcurrentJobs?: number
  logger?: Logger
}

export class StudioCore {
  readonly handlers: RequestHandlers
  private readonly log: Logger

  private constructor(
    readonly workspace: Workspace,
    readonly jobs: JobManager,
    host: 'electron' | 'web',
    logger: Logger,
  ) {
    this.log = logger
    const backendReport = collectBackendReport(host)
    const data = new StudioData(workspace, (m) => logger.warn(m))
    /** DI* runs being trained by a job of this studio: run id -> job id. */
    const activeRuns = new Map<string, string>()
    jobs.onEvent((event) => {
      if (event.channel !== 'job.done') return
      for (const [runId, jobId] of activeRuns) if (jobId === event.payload.jobId) activeRuns.delete(runId)
    })
    this.handlers = {
      'app.getBackendReport': async () => backendReport,
      'app.getWorkspace': async () => workspace.info,
      'jobs.listKinds': async () => jobKindList(),
      'jobs.list': async () => jobs.list(),
      'jobs.start': async (request) => {
        // Refuse bad paths and missing models now, with a clear error, rather than from inside the worker later.
        checkJobRequest(request, workspace)
        if (request.kind !== 'distar-train') return jobs.start(request)
        const params = request.params
        const runId = 'resume' in params ? params.resume : (params.runId ?? newRunId())
        if (activeRuns.has(runId)) throw new StudioError('conflict', `Run ${runId} is already training (job ${activeRuns.get(runId)})`)
        if ('resume' in params && !existsSync(workspace.resolve(`runs/${runId}`))) throw new StudioError('not-found', `No run named ${runId} to resume`)
        if (!('resume' in params) && existsSync(workspace.resolve(`runs/${runId}`))) throw new StudioError('conflict', `A run named ${runId} exists already: resume it or choose another name`)
        const started = await jobs.start('resume' in params ? request : { kind: 'distar-train', params: { ...params, runId } })
        activeRuns.set(runId, started.jobId)
        return { ...started, runId }
      },
      'jobs.cancel': async ({ jobId }) => ({ jobId, status: jobs.cancel(jobId) }),
      'jobs.control': async ({ jobId, control }) => ({ jobId, delivered: jobs.control(jobId, control) }),
      'gallery.list': (params) => data.listGallery(params),
      'gallery.get': (params) => data.getGalleryImage(params),
      'gallery.facets': () => data.gallery.facets(),
      'gallery.delete': (params) => data.gallery.delete(params),
      'gallery.export': (params) => data.exportGallery(params),
      'runs.list': () => data.listRuns(activeRuns),
      'runs.open': ({ runId }) => data.openRun(runId, activeRuns.get(runId)),
      'preferences.nextPair': () => data.nextPreferencePair(),
      'preferences.choose': (params) => data.recordPreference(params),
      'preferences.status': () => data.preferenceStatus(),
      'models.list': () => data.listModels(),
    }
  }

  static async create(options: StudioCoreOptions): Promise<StudioCore> {
    const logger = options.logger ?? createLogger('core')
    const workspace = await Workspace.open(options.workspace)
    const jobs = new JobManager({
      workspace: workspace.info,
      recordsDir: join(workspace.root, 'jobs'),
      ...(options.workerEntry ? { workerEntry: options.workerEntry } : {}),
      ...(options.maxConcurrentJobs ? { maxConcurrent: options.maxConcurrentJobs } : {}),
      logger,
    })
    await jobs.loadHistory()
    return new StudioCore(workspace, jobs, options.host, logger)
  }

  onEvent(listener: (event: StudioEvent) => void): () => void {
    return this.jobs.onEvent(listener)
  }

  /**
   * Validate and answer one request from any transport. Never throws: every failure becomes an
   * error response with a code, and refusals are logged with the transport's description.
   */
  async dispatch(channel: unknown, params: unknown, origin = 'client'): Promise<Response<unknown>> {
    const parsed = parseRequest(channel, params)
    if (!parsed.ok) {
      this.log.warn(`Refused request from ${origin}: ${parsed.error.message}`)
      return parsed
    }
    try {
      const handler = this.handlers[parsed.channel] as (p: unknown) => Promise<unknown>
      const result = await handler(parsed.params)
      return { ok: true, result: checkResult(parsed.channel, result) }
    } catch (err) {
      if (err instanceof StudioError) {
        this.log.warn(`Request ${parsed.channel} from ${origin} refused: ${err.message}`)
        return { ok: false, error: { code: err.code, message: err.message } }
      }
      this.log.error(`Request ${parsed.channel} from ${origin} failed: ${(err as Error)?.stack ?? String(err)}`)
      return { ok: false, error: { code: 'internal', message: `Internal error in ${parsed.channel}: ${(err as Error)?.message ?? String(err)}` } }
    }
  }

  async close(): Promise<void> {
    await this.jobs.shutdown()
  }
}

/** A run id from the clock: sortable, unique enough for one user, a valid folder name. */
function newRunId(): string {
  return `run-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-${Math.random().toString(36).slice(2, 6)}`
}

/** Every workspace path in a job request resolves inside the workspace; named models must exist. */
function checkJobRequest(request: ParsedParams<'jobs.start'>, workspace: Workspace): void {
  const mustExist = (path: string, what: string) => {
    if (!existsSync(workspace.resolve(path))) throw new StudioError('not-found', `${what} ${path} does not exist in the workspace`)
  }
  switch (request.kind) {
    case 'demo':
      if (request.params.saveResultAs !== undefined) workspace.resolve(request.params.saveResultAs)
      return
    case 'distar-train': {
      if ('resume' in request.params) return
      const config = request.params.config
      if (config.baseModelDir !== undefined) mustExist(config.baseModelDir, 'Base model')
      else if (!referenceModelPresent()) throw new StudioError('not-found', referenceModelMissingMessage())
      if (typeof config.prompts === 'object' && 'file' in config.prompts) mustExist(config.prompts.file, 'Prompt file')
      const visit = (spec: RewardSpec): void => {
        if (spec.kind === 'sum') spec.parts.forEach((p) => visit(p.spec))
        else if ('modelDir' in spec && spec.modelDir !== undefined) mustExist(spec.modelDir, spec.kind === 'preference' ? 'The preference model (train it in Prefer first):' : 'Reward model')
      }
      visit(config.reward)
      return
    }
    case 'generate-gallery':
      for (const m of request.params.models) {
        if (m.path === 'reference') {
          if (!referenceModelPresent()) throw new StudioError('not-found', referenceModelMissingMessage())
        } else mustExist(m.path, 'Model')
      }
      return
    case 'onnx-import':
      mustExist(request.params.file, 'ONNX file')
      if (request.params.tokenizerFrom !== 'reference') mustExist(request.params.tokenizerFrom, 'Tokenizer model')
      return
    case 'score-images':
      for (const image of request.params.images) mustExist(image.path, 'Image')
      return
    default:
      return
  }
}

/** A handler returning something outside the contract is a bug in the core: fail loudly. */
function checkResult(channel: RequestChannel, result: unknown): unknown {
  const checked = requestContract[channel].result.safeParse(result)
  if (!checked.success) throw new Error(`Handler for ${channel} returned a result outside the contract`)
  return checked.data
}
