// Connection state, backend report and workspace: what the shell and Settings show.
import type { BackendReport, WorkspaceInfo } from '../../../../src-main/contract/index.ts'
import type { ConnectionState } from '../client/transport.ts'
import type { StudioClient } from '../client/studio-client.ts'

export class StudioState {
  connection = $state<ConnectionState>('connecting')
  backend = $state<BackendReport | null>(null)
  workspace = $state<WorkspaceInfo | null>(null)
  loadError = $state<string | null>(null)

  constructor(readonly client: StudioClient) {
    client.onConnectionState((state) => {
      this.connection = state
      if (state === 'open') void this.refresh()
    })
  }

  get transportLabel(): string {
    return this.client.transportKind === 'electron' ? 'desktop (IPC)' : 'web host (WebSocket)'
  }

  async refresh(): Promise<void> {
    try {
      const [backend, workspace] = await Promise.all([this.client.getBackendReport({}), this.client.getWorkspace({})])
      this.backend = backend
      this.workspace = workspace
      this.loadError = null
    } catch (err) {
      this.loadError = (err as Error).message
    }
  }
}
