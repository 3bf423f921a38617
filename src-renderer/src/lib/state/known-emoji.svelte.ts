// The emoji a model was trained on (prompts.emoji), for the "Browse emoji" list beside a prompt box.
// Asked each time the list opens or its model changes (the core keeps the lists, so this is cheap);
// an answer for a model no longer chosen is dropped.
import type { KnownEmoji } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'

export class KnownEmojiState {
  /** the model `result` or `error` belongs to */
  model = $state<string | null>(null)
  result = $state.raw<KnownEmoji | null>(null)
  error = $state<string | null>(null)
  loading = $state(false)
  private seq = 0

  constructor(private readonly client: StudioClient) {}

  async load(model: string): Promise<void> {
    const seq = ++this.seq
    if (this.model !== model) this.result = null // another model's list must not show meanwhile
    this.model = model
    this.error = null
    this.loading = true
    try {
      const result = await this.client.listKnownEmoji({ model })
      if (seq === this.seq) this.result = result
    } catch (err) {
      if (seq === this.seq) {
        this.result = null
        this.error = (err as Error).message
      }
    } finally {
      if (seq === this.seq) this.loading = false
    }
  }
}
