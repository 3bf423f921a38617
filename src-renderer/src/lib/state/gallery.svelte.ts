// The Gallery view's state: the current query (search and filters), its result loaded page by page
// as the virtual grid scrolls, the facets for the filter menus, and the selected image.
import type { GalleryEntry, RequestParams, StudioEvent } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'
import { KnownEmojiState } from './known-emoji.svelte.ts'
import { PromptCheckState } from './prompt-check.svelte.ts'
import { parseSeedFilter } from '../seeds.ts'

export const PAGE_SIZE = 200
/** ids per export request (an id is about 45 bytes; a request must stay under 64 KiB) */
const EXPORT_BATCH = 500

export interface GalleryFilters {
  text: string
  model: string
  run: string
  seed: string
}

export class GalleryState {
  filters = $state<GalleryFilters>({ text: '', model: '', run: '', seed: '' })
  total = $state(0)
  /** entries by position in the current result; pages arrive as the grid scrolls */
  entries = $state<(GalleryEntry | undefined)[]>([])
  facets = $state<{ models: string[]; runs: string[]; total: number }>({ models: [], runs: [], total: 0 })
  selected = $state<GalleryEntry | null>(null)
  error = $state<string | null>(null)
  /** why the seed filter cannot be read ("abc", "-5"); the list is not re-queried until it can */
  seedError = $state<string | null>(null)
  notice = $state<string | null>(null)
  /** what the chosen model makes of the prompts being typed (unknown words, over-long prompts) */
  readonly promptCheck: PromptCheckState
  /** the emoji the chosen model knows (Browse emoji beside the prompts) */
  readonly emoji: KnownEmojiState
  /** bumped on every new query, so late pages of an old query are dropped */
  private generation = 0
  private loading = new Set<number>()

  constructor(private readonly client: StudioClient) {
    this.promptCheck = new PromptCheckState(client)
    this.emoji = new KnownEmojiState(client)
    client.onEvent((event) => this.onEvent(event))
    // a page opened on the Gallery asks before the connection is up: ask again once it is (as TrainState does)
    client.onConnectionState((state) => {
      if (state === 'open') void this.reload()
    })
  }

  private query(offset: number): RequestParams<'gallery.list'> {
    const f = this.filters
    // reload() checked the filter first; a bad one never gets here
    const seeds = parseSeedFilter(f.seed)
    return {
      offset,
      limit: PAGE_SIZE,
      ...(f.text.trim() ? { text: f.text.trim() } : {}),
      ...(f.model ? { model: f.model } : {}),
      ...(f.run ? { run: f.run } : {}),
      ...(seeds !== undefined ? { seeds } : {}),
    }
  }

  /** Run the query from the top. */
  async reload(): Promise<void> {
    const generation = ++this.generation
    this.loading.clear()
    try {
      parseSeedFilter(this.filters.seed)
      this.seedError = null
    } catch (err) {
      this.seedError = (err as Error).message
      return
    }
    try {
      const [page, facets] = await Promise.all([this.client.listGallery(this.query(0)), this.client.getGalleryFacets({})])
      if (generation !== this.generation) return
      this.total = page.total
      this.entries = page.entries.concat(new Array(Math.max(0, page.total - page.entries.length)).fill(undefined))
      this.facets = facets
      this.error = null
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  /** Make sure the entries from `first` to `last` are loaded (called by the grid as it scrolls). */
  async ensure(first: number, last: number): Promise<void> {
    const generation = this.generation
    for (let page = Math.floor(first / PAGE_SIZE); page <= Math.floor(last / PAGE_SIZE); page++) {
      const offset = page * PAGE_SIZE
      if (offset >= this.total || this.entries[offset] !== undefined || this.loading.has(offset)) continue
      this.loading.add(offset)
      try {
        const result = await this.client.listGallery(this.query(offset))
        if (generation !== this.generation) return
        const next = this.entries.slice()
        result.entries.forEach((e, i) => (next[offset + i] = e))
        this.entries = next
      } catch (err) {
        this.error = (err as Error).message
      } finally {
        this.loading.delete(offset)
      }
    }
  }

  async remove(ids: string[]): Promise<void> {
    try {
      const { deleted } = await this.client.deleteGalleryImages({ ids })
      this.notice = `Deleted ${deleted} image${deleted === 1 ? '' : 's'}`
      if (this.selected && ids.includes(this.selected.id)) this.selected = null
      await this.reload()
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  /**
   * Export the given images, or every image matching the current query, into one folder of the
   * workspace; the folder and the copies' paths, or null when nothing was exported (error says why).
   */
  async export(ids?: string[]): Promise<{ folder: string; files: string[] } | null> {
    try {
      let chosen = ids
      if (!chosen) {
        chosen = []
        for (let offset = 0; offset < Math.min(this.total, 10_000); offset += 1000) {
          const page = await this.client.listGallery({ ...this.query(offset), limit: 1000 })
          chosen.push(...page.entries.map((e) => e.id))
        }
      }
      if (chosen.length === 0) throw new Error('Nothing to export: the current search matches no images')
      // Requests stay well under the WebSocket's message limit: ids go in batches into one folder.
      let folder: string | undefined
      const files: string[] = []
      let missing = 0
      for (let i = 0; i < chosen.length; i += EXPORT_BATCH) {
        const result = await this.client.exportGalleryImages({ ids: chosen.slice(i, i + EXPORT_BATCH), ...(folder ? { folder } : {}) })
        folder = result.folder
        files.push(...result.files)
        missing += result.missing.length
      }
      this.notice = `Exported ${files.length} image${files.length === 1 ? '' : 's'} (with their metadata) to ${folder}` +
        (missing ? `; ${missing} no longer exist` : '')
      this.error = null
      return { folder: folder!, files }
    } catch (err) {
      this.error = (err as Error).message
      return null
    }
  }

  private onEvent(event: StudioEvent): void {
    // a finished generation or re-generation changes the gallery
    if (event.channel === 'job.done' && ['generate-gallery', 'gallery-regenerate'].includes(event.payload.kind)) void this.reload()
  }
}
