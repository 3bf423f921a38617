// Builds the `window.studio` object from the contract's channel list. Kept apart from preload.ts
// (which needs Electron) so a test can check it exposes exactly the contract's verbs.
import { EVENT_CHANNELS, REQUEST_VERBS } from '../contract/channels.ts'
import type { EventChannel, RequestChannel } from '../contract/channels.ts'
import type { StudioBridge } from '../contract/index.ts'

export type Invoke = (channel: RequestChannel, params: unknown) => Promise<unknown>
export type Subscribe = (channel: EventChannel, listener: (payload: unknown) => void) => () => void

export function createPreloadApi(invoke: Invoke, subscribe: Subscribe): StudioBridge {
  const api: Record<string, unknown> = {}
  for (const [channel, verb] of Object.entries(REQUEST_VERBS) as [RequestChannel, string][]) {
    api[verb] = (params: unknown) => invoke(channel, params)
  }
  api.onEvent = (listener: (channel: EventChannel, payload: unknown) => void) => {
    const unsubscribers = EVENT_CHANNELS.map((channel) => subscribe(channel, (payload) => listener(channel, payload)))
    return () => unsubscribers.forEach((off) => off())
  }
  return Object.freeze(api) as StudioBridge
}
