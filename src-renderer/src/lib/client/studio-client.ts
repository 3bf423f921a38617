// The one client the renderer talks to: a method per contract verb, over any transport.
// Results and events are checked against the contract before the UI sees them.
import { parseEvent, requestContract } from '../../../../src-main/contract/index.ts'
import type {
  RequestChannel, RequestParams, RequestResult, REQUEST_VERBS, Response, StudioErrorInfo, StudioEvent,
} from '../../../../src-main/contract/index.ts'
import type { ConnectionState, Transport } from './transport.ts'

/** Error codes from the core, plus the one a client can hit alone. */
export type ClientErrorCode = StudioErrorInfo['code'] | 'disconnected' | 'bad-response'

export class StudioRequestError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'StudioRequestError'
  }
}

/** Every contract verb, typed from the contract; StudioClient must implement all of them. */
export type ClientVerbs = {
  [C in RequestChannel as (typeof REQUEST_VERBS)[C]]: (params: RequestParams<C>) => Promise<RequestResult<C>>
}

export interface StudioClient extends ClientVerbs {
  readonly transportKind: Transport['kind']
  onEvent(listener: (event: StudioEvent) => void): () => void
  onConnectionState(listener: (state: ConnectionState) => void): () => void
}

export class ContractClient implements StudioClient {
  constructor(private readonly transport: Transport) {}

  get transportKind(): Transport['kind'] {
    return this.transport.kind
  }

  getBackendReport(params: RequestParams<'app.getBackendReport'> = {}) {
    return this.call('app.getBackendReport', params)
  }
  getWorkspace(params: RequestParams<'app.getWorkspace'> = {}) {
    return this.call('app.getWorkspace', params)
  }
  getSettings(params: RequestParams<'settings.get'> = {}) {
    return this.call('settings.get', params)
  }
  updateSettings(params: RequestParams<'settings.update'>) {
    return this.call('settings.update', params)
  }
  listJobKinds(params: RequestParams<'jobs.listKinds'> = {}) {
    return this.call('jobs.listKinds', params)
  }
  listJobs(params: RequestParams<'jobs.list'> = {}) {
    return this.call('jobs.list', params)
  }
  startJob(params: RequestParams<'jobs.start'>) {
    return this.call('jobs.start', params)
  }
  cancelJob(params: RequestParams<'jobs.cancel'>) {
    return this.call('jobs.cancel', params)
  }
  controlJob(params: RequestParams<'jobs.control'>) {
    return this.call('jobs.control', params)
  }
  listGallery(params: RequestParams<'gallery.list'>) {
    return this.call('gallery.list', params)
  }
  getGalleryImage(params: RequestParams<'gallery.get'>) {
    return this.call('gallery.get', params)
  }
  getGalleryFacets(params: RequestParams<'gallery.facets'> = {}) {
    return this.call('gallery.facets', params)
  }
  deleteGalleryImages(params: RequestParams<'gallery.delete'>) {
    return this.call('gallery.delete', params)
  }
  exportGalleryImages(params: RequestParams<'gallery.export'>) {
    return this.call('gallery.export', params)
  }
  listRuns(params: RequestParams<'runs.list'> = {}) {
    return this.call('runs.list', params)
  }
  openRun(params: RequestParams<'runs.open'>) {
    return this.call('runs.open', params)
  }
  deleteRun(params: RequestParams<'runs.delete'>) {
    return this.call('runs.delete', params)
  }
  nextPreferencePair(params: RequestParams<'preferences.nextPair'> = {}) {
    return this.call('preferences.nextPair', params)
  }
  recordPreference(params: RequestParams<'preferences.choose'>) {
    return this.call('preferences.choose', params)
  }
  getPreferenceStatus(params: RequestParams<'preferences.status'> = {}) {
    return this.call('preferences.status', params)
  }
  undoPreference(params: RequestParams<'preferences.undo'>) {
    return this.call('preferences.undo', params)
  }
  listModels(params: RequestParams<'models.list'> = {}) {
    return this.call('models.list', params)
  }

  checkPrompts(params: RequestParams<'prompts.check'>) {
    return this.call('prompts.check', params)
  }
  listKnownEmoji(params: RequestParams<'prompts.emoji'>) {
    return this.call('prompts.emoji', params)
  }
  listDatasets(params: RequestParams<'datasets.list'> = {}) {
    return this.call('datasets.list', params)
  }
  openDataset(params: RequestParams<'datasets.open'>) {
    return this.call('datasets.open', params)
  }
  deleteDataset(params: RequestParams<'datasets.delete'>) {
    return this.call('datasets.delete', params)
  }
  pickFolder(params: RequestParams<'datasets.pickFolder'> = {}) {
    return this.call('datasets.pickFolder', params)
  }

  onEvent(listener: (event: StudioEvent) => void): () => void {
    return this.transport.onEvent((channel, payload) => {
      const event = parseEvent(channel, payload)
      if (event) listener(event)
      else console.warn(`Ignored an event outside the contract on ${channel}`)
    })
  }

  onConnectionState(listener: (state: ConnectionState) => void): () => void {
    return this.transport.onState(listener)
  }

  private async call<C extends RequestChannel>(channel: C, params: RequestParams<C>): Promise<RequestResult<C>> {
    let response: Response<unknown>
    try {
      response = await this.transport.request(channel, params)
    } catch (err) {
      throw new StudioRequestError('disconnected', (err as Error).message)
    }
    if (!response.ok) throw new StudioRequestError(response.error.code, response.error.message)
    const checked = requestContract[channel].result.safeParse(response.result)
    if (!checked.success) throw new StudioRequestError('bad-response', `The studio answered ${channel} with data outside the contract`)
    return checked.data as RequestResult<C>
  }
}
