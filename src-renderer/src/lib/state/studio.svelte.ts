// Connection state, backend report, workspace and settings: what the shell and Settings show.
import type { BackendReport, RequestParams, SettingsReport, WorkspaceInfo } from '../../../../src-main/contract/index.ts'
import type { ConnectionState } from '../client/transport.ts'
import type { StudioClient } from '../client/studio-client.ts'

export class StudioState {
  connection = $state<ConnectionState>('connecting')
  backend = $state<BackendReport | null>(null)
  workspace = $state<WorkspaceInfo | null>(null)
  settings = $state<SettingsReport | null>(null)
  loadError = $state<string | null>(null)
  /** A settings change on its way (a workspace switch opens a folder and its history: can take a moment). */
  saving = $state<string | null>(null)
  settingsError = $state<string | null>(null)
  settingsNotice = $state<string | null>(null)

  constructor(
    readonly client: StudioClient,
    /** Everything on screen comes from the workspace: the app reloads it all after a switch. */
    private readonly onWorkspaceChanged: () => void = () => {},
  ) {
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
      const [backend, workspace, settings] = await Promise.all([this.client.getBackendReport({}), this.client.getWorkspace({}), this.client.getSettings({})])
      this.backend = backend
      this.workspace = workspace
      this.settings = settings
      this.loadError = null
    } catch (err) {
      this.loadError = (err as Error).message
    }
  }

  /** Saves a change; true when the studio accepted it (settingsError says why not otherwise). */
  async saveSettings(update: RequestParams<'settings.update'>, what: string): Promise<boolean> {
    this.saving = what
    this.settingsNotice = null
    const before = this.workspace?.root
    try {
      const report = await this.client.updateSettings(update)
      this.settings = report
      this.workspace = report.workspace
      this.settingsError = null
      const moved = report.workspace.root !== before
      this.settingsNotice = moved ? `Now using the workspace ${report.workspace.root}.` : 'Saved.'
      if (moved) this.onWorkspaceChanged()
      return true
    } catch (err) {
      this.settingsError = (err as Error).message
      return false
    } finally {
      this.saving = null
    }
  }
}
