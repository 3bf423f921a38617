// The Prefer view's state: the pair on screen, the stored choices and the preference model's status.
// Skip moves on without a choice (skipped pairs come back only when nothing else is left); Undo takes
// back this page's choices, newest first.
import type { PreferenceStatus, RequestResult, StudioEvent } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'
import type { JobsState } from './jobs.svelte.ts'

export type PreferenceWinner = 'A' | 'B' | 'tie'

export class PreferState {
  pair = $state<RequestResult<'preferences.nextPair'>>(null)
  status = $state<PreferenceStatus | null>(null)
  loaded = $state(false)
  error = $state<string | null>(null)
  trainJobId = $state<string | null>(null)
  /** the choices made on this page, newest last (what Undo takes back) */
  made = $state<{ id: string; pair: NonNullable<RequestResult<'preferences.nextPair'>> }[]>([])
  /** pairs skipped on this page */
  private skipped: { imageA: string; imageB: string }[] = []
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
      const [pair, status] = await Promise.all([this.client.nextPreferencePair({ skip: this.skipped }), this.client.getPreferenceStatus({})])
      this.pair = pair
      this.status = status
      this.loaded = true
      this.error = null
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  async choose(winner: PreferenceWinner): Promise<void> {
    const pair = this.pair
    if (!pair || this.busy) return
    this.busy = true
    try {
      const { id } = await this.client.recordPreference({ prompt: pair.prompt, imageA: pair.imageA, imageB: pair.imageB, winner })
      this.made = [...this.made, { id, pair }]
      await this.load()
    } catch (err) {
      this.error = (err as Error).message
    } finally {
      this.busy = false
    }
  }

  /** On to another pair without choosing. */
  async skip(): Promise<void> {
    const pair = this.pair
    if (!pair || this.busy) return
    this.skipped = [...this.skipped.filter((p) => !(p.imageA === pair.imageA && p.imageB === pair.imageB)), { imageA: pair.imageA, imageB: pair.imageB }].slice(-500)
    await this.load()
  }

  /** Takes back the newest choice made on this page; its pair comes back to judge again. */
  async undo(): Promise<void> {
    const last = this.made.at(-1)
    if (last === undefined || this.busy) return
    this.busy = true
    try {
      await this.client.undoPreference({ id: last.id })
      this.made = this.made.slice(0, -1)
      await this.load()
      this.pair = last.pair
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
