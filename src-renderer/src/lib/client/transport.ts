// A transport carries contract requests and events. Two exist: Electron's preload and a WebSocket.
import type { RequestChannel, Response } from '../../../../src-main/contract/index.ts'

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface Transport {
  readonly kind: 'electron' | 'websocket'
  /** Resolves with the core's response; rejects only when the transport itself failed. */
  request(channel: RequestChannel, params: unknown): Promise<Response<unknown>>
  onEvent(listener: (channel: string, payload: unknown) => void): () => void
  /** Called at once with the current state, then on every change. */
  onState(listener: (state: ConnectionState) => void): () => void
  close(): void
}
