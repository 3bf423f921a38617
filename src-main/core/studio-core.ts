// The studio core: plain Node, no Electron. It owns the settings, the workspace and the job manager and
// answers every request channel of the contract. Switching the workspace (Settings) replaces the
// workspace, its job manager and its data together, only while no job is queued or running. Electron's IPC handlers and the web host only call
// dispatch() and forward events; neither adds behaviour of its own.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { StudioError, parseRequest, requestContract } from '../contract/index.ts'
import type {
  BackendReport, DatasetImportJobParams, ParsedParams, RequestChannel, RequestHandlers, Response, SettingsReport, StudioEvent, WorkspaceInfo,
} from '../contract/index.ts'
import type { RewardSpec } from '../ml/rewards/reward-spec.ts'
import { collectBackendReport } from './backend-report.ts'
import { JobManager, jobKindList } from './jobs/job-manager.ts'
import { createLogger } from './logger.ts'
import type { Logger } from './logger.ts'
import { KnownEmojiLists } from './known-emoji.ts'
import { StudioData, referenceModelDir, referenceModelMissingMessage, referenceModelPresent, runProcessGone } from './studio-data.ts'
import { readStatus } from './runs/run-files.ts'
import { SETTINGS_FILE, SettingsStore, prepareWorkspaceFolder } from './settings.ts'
import { Workspace } from './workspace.ts'
import { BuiltinDatasets } from './datasets/builtin-datasets.ts'
import { DatasetStore, newDatasetId } from './datasets/dataset-store.ts'
import { checkSourceFolder } from './datasets/source-folder.ts'
import { basename } from 'node:path'
import { EMBEDDED_GENERATOR_INIT } from './runs/run-config.ts'
import { EMBEDDED_ONE_STEP_MODEL, embeddedGeneratorInitPresent, embeddedGeneratorMissingMessage } from './runs/generator-init.ts'

export interface StudioCoreOptions {
  /** Where the studio was told to keep its data (--workspace, DI_STUDIO_HOME, or the default). */
  workspace: WorkspaceInfo
  host: 'electron' | 'web'
  /** Folder of settings.json; without it the settings live in memory only (tests). */
  configDir?: string
  /** Override the job worker script (tests). */
  workerEntry?: string
  /** Overrides the saved "jobs at once" setting (tests). */
  maxConcurrentJobs?: number
  logger?: Logger
  /** The desktop app's folder dialog (Electron main passes it); absent on the web host, where a path is typed. */
  pickFolder?: () => Promise<string | null>
}

/** Everything tied to one workspace folder; replaced as a whole when the user switches folders. */
interface WorkspaceScope {
  workspace: Workspace
  jobs: JobManager
  data: StudioData
  /** DI* runs being trained by a job of this studio: run id -> job id. */
  activeRuns: Map<string, string>
  datasets: DatasetStore
  /** dataset-import jobs of this studio: job id -> the dataset id it writes. */
  activeImports: Map<string, string>
  stopForwarding: () => void
}

export class StudioCore {
  readonly handlers: RequestHandlers
  private readonly log: Logger
  private readonly listeners = new Set<(event: StudioEvent) => void>()
  private scope!: WorkspaceScope
  /** A workspace switch in progress: other switches wait for it. */
  private switching: Promise<unknown> = Promise.resolve()
  /** prompts.emoji: one list per style set, kept across workspace switches (it does not depend on the workspace) */
  private readonly knownEmoji = new KnownEmojiLists({
    referenceDir: referenceModelDir,
    referenceMissing: () => (referenceModelPresent() ? null : referenceModelMissingMessage()),
  })
  /** datasets.list: the built-in emoji datasets, listed once (they do not depend on the workspace) */
  private readonly builtinDatasets = new BuiltinDatasets()

  private constructor(
    private readonly options: StudioCoreOptions,
    private readonly settings: SettingsStore,
    /** Problems met at start-up (a saved workspace that could not be opened), shown in Settings. */
    private readonly startWarnings: string[],
    logger: Logger,
  ) {
    this.log = logger
    const backendReport = collectBackendReport(options.host)
    this.handlers = {
      'app.getBackendReport': async () => backendReport,
      'app.getWorkspace': async () => this.workspace.info,
      'settings.get': async () => this.settingsReport(backendReport),
      'settings.update': async (update) => {
        await this.applySettings(update)
        return this.settingsReport(backendReport)
      },
      'jobs.listKinds': async () => jobKindList(),
      'jobs.list': async () => this.jobs.list(),
      'jobs.start': async (request) => {
        const { workspace, jobs, activeRuns } = this.scope
        // Refuse bad paths and missing models now, with a clear error, rather than from inside the worker later.
        checkJobRequest(request, workspace)
        if (request.kind === 'dataset-import') return this.startImport(request.params)
        if (request.kind !== 'distar-train') return jobs.start(request)
        const params = request.params
        const runId = 'resume' in params ? params.resume : (params.runId ?? newRunId())
        if (activeRuns.has(runId)) throw new StudioError('conflict', `Run ${runId} is already training (job ${activeRuns.get(runId)})`)
        if ('resume' in params && !existsSync(workspace.resolve(`runs/${runId}`))) throw new StudioError('not-found', `No run named ${runId} to resume`)
        if ('resume' in params) {
          // another live process (npm run train, another studio) writes this run: a resume would train it twice over
          const status = await readStatus(workspace.resolve(`runs/${runId}`))
          if (status && !runProcessGone(status) && ['starting', 'running', 'paused'].includes(status.state)) {
            throw new StudioError('conflict', `Run ${runId} is being trained by another process (pid ${status.pid}): stop it before resuming it`)
          }
        }
        if (!('resume' in params) && existsSync(workspace.resolve(`runs/${runId}`))) throw new StudioError('conflict', `A run named ${runId} exists already: resume it or choose another name`)
        const started = await jobs.start('resume' in params ? request : { kind: 'distar-train', params: { ...params, runId } })
        activeRuns.set(runId, started.jobId)
        return { ...started, runId }
      },
      'jobs.cancel': async ({ jobId }) => ({ jobId, status: this.jobs.cancel(jobId) }),
      'jobs.control': async ({ jobId, control }) => ({ jobId, delivered: this.jobs.control(jobId, control) }),
      'gallery.list': (params) => this.scope.data.listGallery(params),
      'gallery.get': (params) => this.scope.data.getGalleryImage(params),
      'gallery.facets': () => this.scope.data.gallery.facets(),
      'gallery.delete': (params) => this.scope.data.gallery.delete(params),
      'gallery.export': (params) => this.scope.data.exportGallery(params),
      'runs.list': () => this.scope.data.listRuns(this.scope.activeRuns),
      'runs.open': ({ runId }) => this.scope.data.openRun(runId, this.scope.activeRuns.get(runId)),
      'runs.delete': ({ runId }) => this.scope.data.deleteRun(runId, this.scope.activeRuns.get(runId)),
      'preferences.nextPair': (params) => this.scope.data.nextPreferencePair(params),
      'preferences.choose': (params) => this.scope.data.recordPreference(params),
      'preferences.status': () => this.scope.data.preferenceStatus(),
      'preferences.undo': (params) => this.scope.data.undoPreference(params),
      'models.list': () => this.scope.data.listModels(),
      'prompts.check': (params) => this.scope.data.prompts.check(params),
      'prompts.emoji': (params) => this.knownEmoji.list(params, this.scope.workspace),
      'datasets.list': () => this.scope.datasets.list(),
      'datasets.open': (params) => this.scope.datasets.open(params),
      'datasets.delete': async ({ id }) => {
        if ([...this.scope.activeImports.values()].includes(id)) throw new StudioError('conflict', `Dataset ${id} is being imported: stop the import first`)
        return this.scope.datasets.delete(id)
      },
      'datasets.pickFolder': async () => {
        if (!this.options.pickFolder) return { supported: false, folder: null }
        return { supported: true, folder: await this.options.pickFolder() }
      },
    }
  }

  static async create(options: StudioCoreOptions): Promise<StudioCore> {
    const logger = options.logger ?? createLogger('core')
    const settings = await SettingsStore.open(options.configDir ? join(options.configDir, SETTINGS_FILE) : null)
    for (const warning of settings.warnings) logger.warn(warning)
    const warnings: string[] = []
    // An explicit --workspace or DI_STUDIO_HOME wins over the folder saved in Settings.
    const saved = settings.settings.workspace
    const launchIsExplicit = options.workspace.source === 'flag' || options.workspace.source === 'env'
    let workspace: Workspace | null = null
    if (saved !== null && !launchIsExplicit) {
      workspace = await Workspace.open({ root: saved, source: 'settings' }).catch((err: Error) => {
        const message = `The workspace saved in Settings (${saved}) could not be opened (${err.message}); using ${options.workspace.root} instead.`
        logger.warn(message)
        warnings.push(message)
        return null
      })
    }
    workspace ??= await Workspace.open(options.workspace)
    const core = new StudioCore(options, settings, warnings, logger)
    core.scope = await core.openScope(workspace)
    return core
  }

  /** The workspace in use now (it changes when the user switches folders in Settings). */
  get workspace(): Workspace {
    return this.scope.workspace
  }

  get jobs(): JobManager {
    return this.scope.jobs
  }

  onEvent(listener: (event: StudioEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
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
    await this.switching.catch(() => {})
    this.scope.stopForwarding()
    await this.scope.jobs.shutdown()
  }

  private async openScope(workspace: Workspace): Promise<WorkspaceScope> {
    const jobs = new JobManager({
      workspace: workspace.info,
      recordsDir: join(workspace.root, 'jobs'),
      ...(this.options.workerEntry ? { workerEntry: this.options.workerEntry } : {}),
      maxConcurrent: this.options.maxConcurrentJobs ?? this.settings.settings.jobsAtOnce,
      jobSettings: () => {
        const { tfBackend, onnxThreads, trainingThreads, jobsAtOnce } = this.settings.settings
        return {
          ...(tfBackend !== 'auto' ? { tfBackend } : {}), ...(onnxThreads > 0 ? { onnxThreads } : {}),
          ...(trainingThreads > 0 ? { trainingThreads } : {}), jobsAtOnce: this.options.maxConcurrentJobs ?? jobsAtOnce,
        }
      },
      logger: this.log,
    })
    await jobs.loadHistory()
    const activeRuns = new Map<string, string>()
    const activeImports = new Map<string, string>()
    const datasets = new DatasetStore(workspace, this.builtinDatasets)
    const stopForwarding = jobs.onEvent((event) => {
      if (event.channel === 'job.done') {
        for (const [runId, jobId] of activeRuns) if (jobId === event.payload.jobId) activeRuns.delete(runId)
        const importing = activeImports.get(event.payload.jobId)
        if (importing !== undefined) {
          activeImports.delete(event.payload.jobId)
          // a thread ended mid-write leaves its .importing folder: never a dataset, removed here
          if (event.payload.status !== 'succeeded') {
            void datasets.removeUnfinishedImport(importing).catch((err: Error) => this.log.warn(`Could not remove the unfinished import of ${importing}: ${err.message}`))
          }
        }
      }
      for (const listener of this.listeners) listener(event)
    })
    return { workspace, jobs, data: new StudioData(workspace, (m) => this.log.warn(m)), activeRuns, datasets, activeImports, stopForwarding }
  }

  /** Applies a settings change and saves it; a workspace switch waits for no job and opens the new folder first. */
  private async applySettings(update: ParsedParams<'settings.update'>): Promise<void> {
    const run = this.switching.then(async () => {
      const next = this.settings.merge(update)
      const wantedRoot = next.workspace ?? this.options.workspace.root
      let newScope: WorkspaceScope | null = null
      // Only a change that names the workspace moves it (one started with --workspace keeps it otherwise).
      const namesWorkspace = update.workspace !== undefined
      if (namesWorkspace && wantedRoot !== this.workspace.root) {
        const active = this.jobs.activeCount()
        if (active > 0) {
          throw new StudioError('conflict', `The workspace cannot change while ${active} job${active === 1 ? ' is' : 's are'} queued or running: stop ${active === 1 ? 'it' : 'them'} first`)
        }
        const root = await prepareWorkspaceFolder(wantedRoot)
        const info: WorkspaceInfo = next.workspace === null ? this.options.workspace : { root, source: 'settings' }
        newScope = await this.openScope(await Workspace.open(info))
        if (next.workspace !== null) next.workspace = root
      } else if (namesWorkspace && next.workspace !== null) {
        next.workspace = await prepareWorkspaceFolder(next.workspace) // the folder in use already: still checked
      }
      try {
        await this.settings.save(next)
      } catch (err) {
        if (newScope) {
          newScope.stopForwarding()
          await newScope.jobs.shutdown()
        }
        throw err
      }
      if (newScope) {
        const old = this.scope
        this.scope = newScope
        old.stopForwarding()
        await old.jobs.shutdown()
        this.log.info(`Workspace switched to ${newScope.workspace.root}`)
      }
      if (this.options.maxConcurrentJobs === undefined) this.jobs.setMaxConcurrent(next.jobsAtOnce)
    })
    this.switching = run.catch(() => {})
    await run
  }

  /** dataset-import: the folder checked now (a clear refusal, not a failed job), the dataset named and tracked. */
  private async startImport(params: DatasetImportJobParams): Promise<{ jobId: string }> {
    const { workspace, jobs, datasets, activeImports } = this.scope
    const folder = await checkSourceFolder(params.folder, workspace.root)
    const id = params.id ?? newDatasetId(params.name ?? basename(folder))
    if (datasets.exists(id) || [...activeImports.values()].includes(id)) throw new StudioError('conflict', `A dataset named ${id} exists already: choose another name`)
    const started = jobs.start({ kind: 'dataset-import', params: { ...params, folder, id } })
    activeImports.set(started.jobId, id)
    return started
  }

  private settingsReport(backend: BackendReport): SettingsReport {
    return {
      settings: this.settings.settings,
      file: this.settings.file,
      fileState: this.settings.fileState,
      warnings: [...this.settings.warnings, ...this.startWarnings],
      workspace: this.workspace.info,
      launchWorkspace: this.options.workspace,
      tfBackends: backend.tensorflow.candidates.filter((c) => c.available).map((c) => c.name),
      cpus: backend.runtime.cpus,
      busy: this.jobs.activeCount() > 0,
    }
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
      if (config.generatorInit === EMBEDDED_GENERATOR_INIT) {
        if (!embeddedGeneratorInitPresent()) throw new StudioError('not-found', embeddedGeneratorMissingMessage())
      } else if (config.generatorInit !== undefined) mustExist(config.generatorInit, 'Generator init')
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
        } else if (m.path === EMBEDDED_ONE_STEP_MODEL) {
          if (!embeddedGeneratorInitPresent()) throw new StudioError('not-found', embeddedGeneratorMissingMessage())
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
