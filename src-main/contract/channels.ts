// Channel names and the task verbs that expose them, with no dependencies at all.
// The sandboxed Electron preload imports only this file (it cannot load zod), so keep it free of imports.

/** Request channel -> the verb the preload (`window.studio`) and the renderer client expose for it. */
export const REQUEST_VERBS = {
  'app.getBackendReport': 'getBackendReport',
  'app.getWorkspace': 'getWorkspace',
  'settings.get': 'getSettings',
  'settings.update': 'updateSettings',
  'jobs.listKinds': 'listJobKinds',
  'jobs.list': 'listJobs',
  'jobs.start': 'startJob',
  'jobs.cancel': 'cancelJob',
  'jobs.control': 'controlJob',
  'gallery.list': 'listGallery',
  'gallery.get': 'getGalleryImage',
  'gallery.facets': 'getGalleryFacets',
  'gallery.delete': 'deleteGalleryImages',
  'gallery.export': 'exportGalleryImages',
  'runs.list': 'listRuns',
  'runs.open': 'openRun',
  'runs.delete': 'deleteRun',
  'preferences.nextPair': 'nextPreferencePair',
  'preferences.choose': 'recordPreference',
  'preferences.status': 'getPreferenceStatus',
  'preferences.undo': 'undoPreference',
  'models.list': 'listModels',
  'prompts.check': 'checkPrompts',
  'prompts.emoji': 'listKnownEmoji',
  'datasets.list': 'listDatasets',
  'datasets.open': 'openDataset',
  'datasets.delete': 'deleteDataset',
  'datasets.pickFolder': 'pickFolder',
} as const

export type RequestChannel = keyof typeof REQUEST_VERBS
export type RequestVerb = (typeof REQUEST_VERBS)[RequestChannel]

export const REQUEST_CHANNELS = Object.keys(REQUEST_VERBS) as RequestChannel[]

/** Events flow from the core to every connected client. */
export const EVENT_CHANNELS = [
  'job.status',
  'job.progress',
  'job.metrics',
  'job.log',
  'job.artifact',
  'job.error',
  'job.runtime',
  'job.done',
] as const

export type EventChannel = (typeof EVENT_CHANNELS)[number]

export function isRequestChannel(value: unknown): value is RequestChannel {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(REQUEST_VERBS, value)
}

export function isEventChannel(value: unknown): value is EventChannel {
  return typeof value === 'string' && (EVENT_CHANNELS as readonly string[]).includes(value)
}
