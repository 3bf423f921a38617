// WebSocket transport for the web host: JSON request/response envelopes with ids, events pushed by
// the server, and automatic reconnection with back-off.
import { ServerMessage } from '../../../../src-main/contract/index.ts'
import type { RequestChannel, Response } from '../../../../src-main/contract/index.ts'
import type { ConnectionState, Transport } from './transport.ts'

const REQUEST_TIMEOUT_MS = 30_000

interface Pending {
  resolve: (response: Response<unknown>) => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout>
}

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const
  private socket: WebSocket | null = null
  private state: ConnectionState = 'connecting'
  private nextId = 1
  private retryDelayMs = 500
  private closedByUs = false
  private readonly pending = new Map<number, Pending>()
  private readonly eventListeners = new Set<(channel: string, payload: unknown) => void>()
  private readonly stateListeners = new Set<(state: ConnectionState) => void>()

  constructor(private readonly url: string) {
    this.connect()
  }

  request(channel: RequestChannel, params: unknown): Promise<Response<unknown>> {
    const socket = this.socket
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`Not connected to the studio (${this.state})`))
    }
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`No answer to ${channel} within ${REQUEST_TIMEOUT_MS / 1000} s`))
      }, REQUEST_TIMEOUT_MS)
      this.pending.set(id, { resolve, reject, timer })
      socket.send(JSON.stringify({ type: 'request', id, channel, params }))
    })
  }

  onEvent(listener: (channel: string, payload: unknown) => void): () => void {
    this.eventListeners.add(listener)
    return () => this.eventListeners.delete(listener)
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener)
    listener(this.state)
    return () => this.stateListeners.delete(listener)
  }

  close(): void {
    this.closedByUs = true
    this.socket?.close()
    this.setState('closed')
  }

  private connect(): void {
    const socket = new WebSocket(this.url)
    this.socket = socket
    socket.onopen = () => {
      this.retryDelayMs = 500
      this.setState('open')
    }
    socket.onmessage = (message) => this.receive(message.data)
    socket.onclose = () => {
      for (const [id, pending] of this.pending) {
        clearTimeout(pending.timer)
        pending.reject(new Error('The connection to the studio closed'))
        this.pending.delete(id)
      }
      if (this.closedByUs) return
      this.setState('reconnecting')
      setTimeout(() => this.connect(), this.retryDelayMs)
      this.retryDelayMs = Math.min(this.retryDelayMs * 2, 10_000)
    }
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return
    let parsed: ReturnType<typeof ServerMessage.safeParse>
    try {
      parsed = ServerMessage.safeParse(JSON.parse(data))
    } catch {
      return
    }
    if (!parsed.success) return
    const message = parsed.data
    if (message.type === 'event') {
      for (const listener of this.eventListeners) listener(message.channel, message.payload)
    } else if (message.type === 'response' && typeof message.id === 'number') {
      const pending = this.pending.get(message.id)
      if (!pending) return
      this.pending.delete(message.id)
      clearTimeout(pending.timer)
      pending.resolve(message.ok ? { ok: true, result: message.result } : { ok: false, error: message.error })
    }
  }

  private setState(state: ConnectionState): void {
    this.state = state
    for (const listener of this.stateListeners) listener(state)
  }
}
