// The IPC contract: every request and event channel with its payload schema (checked at run time)
// and its TypeScript type. Main, preload, web host and renderer all import it, so it must stay
// browser-safe: zod and nothing else.
import { z } from 'zod'
import { EVENT_CHANNELS, REQUEST_CHANNELS, REQUEST_VERBS, isEventChannel, isRequestChannel } from './channels.ts'
import type { EventChannel, RequestChannel, RequestVerb } from './channels.ts'
import { FinalJobStatus, JobControl, JobId, JobRuntime, JobStatus, JobSummary, StartJobParams, WorkspacePath } from './jobs.ts'
import { BackendReport, WorkspaceInfo } from './reports.ts'
import { DatasetDetail, DatasetId, DatasetOpenParams, DatasetSummary, FolderPick } from './datasets.ts'
import { SettingsReport, SettingsUpdate } from './settings.ts'
import {
  GalleryDeleteParams, GalleryEntry, GalleryExportParams, GalleryExportResult, GalleryFacets, GalleryGetParams, GalleryListParams,
  GalleryPage, KnownEmoji, KnownEmojiParams, ModelInfo, PreferenceChoiceParams, PreferenceNextPairParams, PromptCheck, PromptCheckParams, PreferencePair, PreferenceStatus, RunDetail, RunId, RunSummary,
} from './studio-data.ts'

export * from './channels.ts'
export * from './datasets.ts'
export * from './files.ts'
export * from './jobs.ts'
export * from './limits.ts'
export * from './reports.ts'
export * from './settings.ts'
export * from './studio-data.ts'

const NoParams = z.strictObject({})

export const requestContract = {
  'app.getBackendReport': { params: NoParams, result: BackendReport },
  'app.getWorkspace': { params: NoParams, result: WorkspaceInfo },
  'settings.get': { params: NoParams, result: SettingsReport },
  /** Validates, applies (a workspace switch is refused while jobs are queued or running) and saves. */
  'settings.update': { params: SettingsUpdate, result: SettingsReport },
  'jobs.listKinds': {
    params: NoParams,
    result: z.array(z.object({ kind: z.string(), title: z.string(), description: z.string() })),
  },
  'jobs.list': { params: NoParams, result: z.array(JobSummary) },
  /** runId: the DI* run a 'distar-train' job trains (named by the core when the request names none). */
  'jobs.start': { params: StartJobParams, result: z.object({ jobId: JobId, runId: RunId.optional() }) },
  'jobs.cancel': { params: z.strictObject({ jobId: JobId }), result: z.object({ jobId: JobId, status: JobStatus }) },
  'jobs.control': {
    params: z.strictObject({ jobId: JobId, control: JobControl }),
    result: z.object({ jobId: JobId, delivered: z.boolean() }),
  },
  'gallery.list': { params: GalleryListParams, result: GalleryPage },
  'gallery.get': { params: GalleryGetParams, result: GalleryEntry.nullable() },
  'gallery.facets': { params: NoParams, result: GalleryFacets },
  'gallery.delete': { params: GalleryDeleteParams, result: z.object({ deleted: z.int().min(0) }) },
  'gallery.export': { params: GalleryExportParams, result: GalleryExportResult },
  'runs.list': { params: NoParams, result: z.array(RunSummary) },
  'runs.open': { params: z.strictObject({ runId: RunId }), result: RunDetail },
  /** Deletes a run's folder (runs/<id>) for good; refused while a job or another live process trains it. */
  'runs.delete': { params: z.strictObject({ runId: RunId }), result: z.object({ runId: RunId, deleted: z.literal(true) }) },
  /** The next pair to judge: two models' images of one prompt when there are any; skipped pairs last. */
  'preferences.nextPair': { params: PreferenceNextPairParams, result: PreferencePair },
  'preferences.choose': { params: PreferenceChoiceParams, result: z.object({ id: z.string(), choices: z.int().min(0) }) },
  'preferences.status': { params: NoParams, result: PreferenceStatus },
  /** Takes back one stored choice (the Prefer view's Undo sends the id `choose` returned). */
  'preferences.undo': { params: z.strictObject({ id: z.string().min(1).max(100) }), result: z.object({ removed: z.boolean(), choices: z.int().min(0) }) },
  'models.list': { params: NoParams, result: z.array(ModelInfo) },
  /** Unknown words (with suggestions) and over-long prompts for a model; loads no network. */
  'prompts.check': { params: PromptCheckParams, result: PromptCheck },
  /** The emoji a model was trained on (training split of its styles), by category; built once per style set. */
  'prompts.emoji': { params: KnownEmojiParams, result: KnownEmoji },
  /** The workspace's datasets (datasets/<id>) and the built-in emoji data. */
  'datasets.list': { params: NoParams, result: z.array(DatasetSummary) },
  /** One dataset: its summary, a page of items with captions and preview cells, and its import report. */
  'datasets.open': { params: DatasetOpenParams, result: DatasetDetail },
  /** Deletes an imported dataset's folder for good; built-in data cannot be deleted. */
  'datasets.delete': { params: z.strictObject({ id: DatasetId }), result: z.object({ id: DatasetId, deleted: z.literal(true) }) },
  /** The desktop app's folder dialog; the web host answers supported: false (type the path instead). */
  'datasets.pickFolder': { params: NoParams, result: FolderPick },
} as const satisfies Record<RequestChannel, { params: z.ZodType; result: z.ZodType }>

const Level = z.enum(['info', 'warn', 'error'])

export const eventContract = {
  'job.status': z.object({ jobId: JobId, kind: z.string(), status: JobStatus, at: z.string() }),
  'job.progress': z.object({
    jobId: JobId,
    done: z.number().min(0),
    total: z.number().positive(),
    /** done / total, in [0, 1] */
    fraction: z.number().min(0).max(1),
    message: z.string().max(1000).optional(),
    /** Seconds left at the current pace; absent until it can be estimated. */
    etaSeconds: z.number().min(0).optional(),
  }),
  'job.metrics': z.object({ jobId: JobId, step: z.int().min(0), values: z.record(z.string().max(128), z.number()) }),
  'job.log': z.object({ jobId: JobId, level: Level, message: z.string().max(10_000) }),
  /** A file the job wrote in the workspace (a sample grid, a checkpoint, a result): pages show it by URL. */
  'job.artifact': z.object({
    jobId: JobId,
    /** What it is, e.g. 'samples', 'checkpoint', 'result', 'image'. */
    kind: z.string().min(1).max(64),
    /** Relative to the workspace, forward slashes. */
    path: WorkspacePath,
    step: z.int().min(0).optional(),
    caption: z.string().max(1000).optional(),
  }),
  'job.error': z.object({ jobId: JobId, message: z.string().max(10_000) }),
  /** What a job actually computes on, reported once its engine is initialised (it may differ from the preference). */
  'job.runtime': JobRuntime.extend({ jobId: JobId }),
  'job.done': z.object({
    jobId: JobId,
    kind: z.string(),
    status: FinalJobStatus,
    elapsedMs: z.number().min(0),
    result: z.unknown().optional(),
    error: z.string().optional(),
  }),
} as const satisfies Record<EventChannel, z.ZodType>

/** What a caller sends (defaults may be omitted). */
export type RequestParams<C extends RequestChannel> = z.input<(typeof requestContract)[C]['params']>
/** What a handler receives, after validation and defaults. */
export type ParsedParams<C extends RequestChannel> = z.output<(typeof requestContract)[C]['params']>
export type RequestResult<C extends RequestChannel> = z.output<(typeof requestContract)[C]['result']>
export type EventPayload<E extends EventChannel> = z.output<(typeof eventContract)[E]>
export type StudioEvent = { [E in EventChannel]: { channel: E; payload: EventPayload<E> } }[EventChannel]

/** Handlers for every request channel: the core implements exactly this. */
export type RequestHandlers = { [C in RequestChannel]: (params: ParsedParams<C>) => Promise<RequestResult<C>> }

/** The verbs the preload exposes as `window.studio` and the renderer client implements. */
export type StudioVerbs = {
  [C in RequestChannel as (typeof REQUEST_VERBS)[C]]: (params: RequestParams<C>) => Promise<Response<RequestResult<C>>>
}
export type { RequestVerb }

// ---- Errors and responses --------------------------------------------------------------------

export const ERROR_CODES = [
  'invalid-message', // not JSON, or not a request envelope
  'too-large', // message over MAX_MESSAGE_BYTES
  'unknown-channel',
  'invalid-params',
  'forbidden', // foreign sender, or a path outside the workspace
  'not-found',
  'conflict', // e.g. cancelling a job that already ended
  'internal',
] as const
export const ErrorCode = z.enum(ERROR_CODES)
export type ErrorCode = z.output<typeof ErrorCode>

export const StudioErrorInfo = z.object({ code: ErrorCode, message: z.string() })
export type StudioErrorInfo = z.output<typeof StudioErrorInfo>

/** Every request, over IPC or WebSocket, is answered with this envelope; nothing is thrown across. */
export type Response<T> = { ok: true; result: T } | { ok: false; error: StudioErrorInfo }

/** An error a handler throws on purpose; its code and message go to the client unchanged. */
export class StudioError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'StudioError'
  }
}

/** Largest request accepted over the WebSocket (bytes); none of today's requests comes close. */
export const MAX_MESSAGE_BYTES = 64 * 1024

/** Validate a request; returns the parsed params or a readable error naming the bad fields. */
export function parseRequest(
  channel: unknown,
  params: unknown,
): { ok: true; channel: RequestChannel; params: unknown } | { ok: false; error: StudioErrorInfo } {
  if (!isRequestChannel(channel)) {
    const shown = typeof channel === 'string' ? JSON.stringify(channel.slice(0, 100)) : typeof channel
    return { ok: false, error: { code: 'unknown-channel', message: `Unknown request channel ${shown}` } }
  }
  const parsed = requestContract[channel].params.safeParse(params ?? {})
  if (!parsed.success) {
    return { ok: false, error: { code: 'invalid-params', message: `Invalid params for ${channel}: ${describeIssues(parsed.error)}` } }
  }
  return { ok: true, channel, params: parsed.data }
}

export function parseEvent(channel: unknown, payload: unknown): StudioEvent | null {
  if (!isEventChannel(channel)) return null
  const parsed = eventContract[channel].safeParse(payload)
  return parsed.success ? ({ channel, payload: parsed.data } as StudioEvent) : null
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .flatMap((i) => closestIssues(i))
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ')
}

/**
 * A union that matched no option ("Invalid input") is described by the option the value was meant
 * for: the one whose keys it has (no unrecognised key at the union itself), then the one with the
 * fewest problems, so a DI* run config with one bad field names that field.
 */
function closestIssues(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string }[] {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue]
  const score = (branch: z.core.$ZodIssue[]) => (branch.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0) ? 1_000 : 0) + branch.length
  const best = issue.errors.reduce((a, b) => (score(b) < score(a) ? b : a))
  return best.flatMap((i) => closestIssues(i)).map((i) => ({ path: [...issue.path, ...i.path], message: i.message }))
}

// ---- WebSocket wire format -------------------------------------------------------------------

export const PROTOCOL_VERSION = 1

export const ClientMessage = z.strictObject({
  type: z.literal('request'),
  id: z.union([z.string().max(64), z.int()]),
  channel: z.string().max(200),
  params: z.unknown().optional(),
})
export type ClientMessage = z.output<typeof ClientMessage>

export type ServerMessage =
  | { type: 'hello'; protocol: number }
  | ({ type: 'response'; id: string | number | null } & Response<unknown>)
  | { type: 'event'; channel: EventChannel; payload: unknown }

export const ServerMessage = z.union([
  z.object({ type: z.literal('hello'), protocol: z.int() }),
  z.object({ type: z.literal('response'), id: z.union([z.string(), z.int(), z.null()]), ok: z.literal(true), result: z.unknown() }),
  z.object({ type: z.literal('response'), id: z.union([z.string(), z.int(), z.null()]), ok: z.literal(false), error: StudioErrorInfo }),
  z.object({ type: z.literal('event'), channel: z.enum(EVENT_CHANNELS), payload: z.unknown() }),
])

export { REQUEST_CHANNELS, EVENT_CHANNELS, REQUEST_VERBS }

/** `window.studio` in Electron: the task verbs plus one event subscription. Nothing else crosses the bridge. */
export type StudioBridge = StudioVerbs & {
  onEvent(listener: (channel: EventChannel, payload: unknown) => void): () => void
}
