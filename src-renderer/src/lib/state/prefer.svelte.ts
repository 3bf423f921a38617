// The Prefer view's state: the pair on screen, the stored choices and the preference model's status.
import type { PreferenceStatus, RequestResult, StudioEvent } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'
import type { JobsState } from './jobs.svelte.ts'

export class PreferState {
  pair = $state<RequestResult<'preferences.nextPair'>>(null)
  status = $state<PreferenceStatus | null>(null)
  loaded = $state(false)
  error = $state<string | null>(null)
  trainJobId = $state<string | null>(null)
  /** guards against a double key press recording one pair twice */
  private busy = false

  constructor(
    private readonly client: StudioClient,
    private readonly jobs: JobsState,
    /** called when a newly trained model becomes selectable as a reward */
    private readonly onModelTrained: () => void,
  ) {
    client.onEvent((event) => this.onEvent(event))
  }

  async load(): Promise<void> {
    try {
      const [pair, status] = await Promise.all([this.client.nextPreferencePair({}), this.client.getPreferenceStatus({})])
      this.pair = pair
      this.status = status
      this.loaded = true
      this.error = null
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  async choose(winner: 'A' | 'B'): Promise<void> {
    const pair = this.pair
    if (!pair || this.busy) return
    this.busy = true
    try {
      await this.client.recordPreference({ prompt: pair.prompt, imageA: pair.imageA, imageB: pair.imageB, winner })
      await this.load()
    } catch (err) {
      this.error = (err as Error).message
    } finally {
      this.busy = false
    }
  }

  async train(): Promise<void> {
    this.trainJobId = await this.jobs.startAndReturn({ kind: 'preference-train', params: {} })
    if (!this.trainJobId) this.error = this.jobs.actionError
  }

  private onEvent(event: StudioEvent): void {
    if (event.channel === 'job.done' && event.payload.jobId === this.trainJobId) {
      void this.load()
      this.onModelTrained()
    }
  }
}
