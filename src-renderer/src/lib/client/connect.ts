// Pick the transport: the preload bridge inside Electron, else the web host's WebSocket.
import { ElectronTransport } from './electron-transport.ts'
import { ContractClient } from './studio-client.ts'
import type { StudioClient } from './studio-client.ts'
import { WebSocketTransport } from './ws-transport.ts'

export function connectStudio(): StudioClient {
  if (window.studio) return new ContractClient(new ElectronTransport(window.studio))
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return new ContractClient(new WebSocketTransport(`${scheme}//${location.host}/ws`))
}
