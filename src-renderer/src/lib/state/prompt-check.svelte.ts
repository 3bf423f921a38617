// What a model makes of the prompts being typed (prompts.check): unknown words with a suggestion, and
// prompts past its length. Asked once typing pauses; an answer to an older question is dropped.
import type { PromptCheck } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'

export class PromptCheckState {
  result = $state<PromptCheck | null>(null)
  private timer: ReturnType<typeof setTimeout> | undefined
  private seq = 0

  constructor(private readonly client: StudioClient) {}

  /** Checks `prompts` against `model`'s vocabulary after `delayMs`; null model or no prompts clears it. */
  checkSoon(model: string | null, prompts: string[], delayMs = 300): void {
    clearTimeout(this.timer)
    const seq = ++this.seq
    if (model === null || prompts.length === 0) {
      this.result = null
      return
    }
    this.timer = setTimeout(() => {
      this.client.checkPrompts({ model, prompts: prompts.slice(0, 1000).map((p) => p.slice(0, 1000)) }).then(
        (check) => { if (seq === this.seq) this.result = check },
        // a failed check (model just deleted, connection lost) only hides the hint; starting the job reports errors
        () => { if (seq === this.seq) this.result = null },
      )
    }, delayMs)
  }
}
