// Transport over Electron's preload bridge (`window.studio`). IPC cannot drop while the window
// lives, so the connection is always open.
import { REQUEST_VERBS } from '../../../../src-main/contract/index.ts'
import type { RequestChannel, Response, StudioBridge } from '../../../../src-main/contract/index.ts'
import type { ConnectionState, Transport } from './transport.ts'

export class ElectronTransport implements Transport {
  readonly kind = 'electron' as const

  constructor(private readonly bridge: StudioBridge) {}

  request(channel: RequestChannel, params: unknown): Promise<Response<unknown>> {
    const verb = this.bridge[REQUEST_VERBS[channel]] as (p: unknown) => Promise<Response<unknown>>
    return verb(params)
  }

  onEvent(listener: (channel: string, payload: unknown) => void): () => void {
    return this.bridge.onEvent(listener)
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    listener('open')
    return () => {}
  }

  close(): void {}
}
