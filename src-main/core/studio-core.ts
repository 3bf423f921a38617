// The studio core: plain Node, no Electron. It owns the workspace and the job manager and answers
// every request channel of the contract. Electron's IPC handlers and the web host only call
// dispatch() and forward events; neither adds behaviour of its own.
import { join } from 'node:path'
import { StudioError, parseRequest, requestContract } from '../contract/index.ts'
import type { RequestChannel, RequestHandlers, Response, StudioEvent, WorkspaceInfo } from '../contract/index.ts'
import { collectBackendReport } from './backend-report.ts'
import { JobManager, jobKindList } from './jobs/job-manager.ts'
import { createLogger } from './logger.ts'
import type { Logger } from './logger.ts'
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
    this.handlers = {
      'app.getBackendReport': async () => backendReport,
      'app.getWorkspace': async () => workspace.info,
      'jobs.listKinds': async () => jobKindList(),
      'jobs.list': async () => jobs.list(),
      'jobs.start': async (request) => {
        // Refuse a bad path now, with a clear error, rather than from inside the worker later.
        if (request.kind === 'demo' && request.params.saveResultAs !== undefined) workspace.resolve(request.params.saveResultAs)
        return jobs.start(request)
      },
      'jobs.cancel': async ({ jobId }) => ({ jobId, status: jobs.cancel(jobId) }),
      'jobs.control': async ({ jobId, control }) => ({ jobId, delivered: jobs.control(jobId, control) }),
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

/** A handler returning something outside the contract is a bug in the core: fail loudly. */
function checkResult(channel: RequestChannel, result: unknown): unknown {
  const checked = requestContract[channel].result.safeParse(result)
  if (!checked.success) throw new Error(`Handler for ${channel} returned a result outside the contract`)
  return checked.data
}
