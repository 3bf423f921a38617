// The Data view's state: the workspace's datasets (and the built-in emoji data), the one on screen with
// a page of its items and its import report, the import form, and a delete that asks first.
import type { DatasetDetail, DatasetSummary, RequestParams, StudioEvent } from '../../../../src-main/contract/index.ts'
import { DatasetImportJobParams } from '../../../../src-main/contract/index.ts'
import type { StudioClient } from '../client/studio-client.ts'
import type { JobsState } from './jobs.svelte.ts'

export const DATA_PAGE_SIZE = 96

export type ImportForm = {
  folder: string
  name: string
  imageSize: 32 | 64
  fit: 'crop' | 'pad'
  background: string
  layout: 'auto' | 'kohya' | 'imagefolder'
}

export class DataState {
  datasets = $state<DatasetSummary[]>([])
  loaded = $state(false)
  error = $state<string | null>(null)
  selectedId = $state<string | null>(null)
  detail = $state<DatasetDetail | null>(null)
  offset = $state(0)
  split = $state<'all' | 'train' | 'validation'>('all')
  form = $state<ImportForm>({ folder: '', name: '', imageSize: 32, fit: 'crop', background: '#ffffff', layout: 'auto' })
  formError = $state<string | null>(null)
  importJobId = $state<string | null>(null)
  /** the id waiting for a second click on Delete */
  confirmingDelete = $state<string | null>(null)

  constructor(
    private readonly client: StudioClient,
    private readonly jobs: JobsState,
  ) {
    client.onEvent((event) => this.onEvent(event))
  }

  /** The desktop app has a folder dialog; in a browser the path is typed. */
  get canPick(): boolean {
    return this.client.transportKind === 'electron'
  }

  async load(): Promise<void> {
    try {
      this.datasets = await this.client.listDatasets({})
      this.loaded = true
      this.error = null
      if (this.selectedId && !this.datasets.some((d) => d.id === this.selectedId)) this.selectedId = null
      if (!this.selectedId && this.datasets.length > 0) await this.select((this.datasets.find((d) => !d.builtin) ?? this.datasets[0]!).id)
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  async select(id: string): Promise<void> {
    this.selectedId = id
    this.offset = 0
    this.confirmingDelete = null
    await this.loadPage()
  }

  async loadPage(): Promise<void> {
    const id = this.selectedId
    if (!id) {
      this.detail = null
      return
    }
    try {
      const detail = await this.client.openDataset({ id, offset: this.offset, limit: DATA_PAGE_SIZE, split: this.split })
      if (this.selectedId === id) this.detail = detail
      this.error = null
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  async page(delta: number): Promise<void> {
    const total = this.detail?.total ?? 0
    this.offset = Math.max(0, Math.min(this.offset + delta * DATA_PAGE_SIZE, Math.max(0, total - 1)))
    await this.loadPage()
  }

  async showSplit(split: 'all' | 'train' | 'validation'): Promise<void> {
    this.split = split
    this.offset = 0
    await this.loadPage()
  }

  async pick(): Promise<void> {
    try {
      const picked = await this.client.pickFolder({})
      if (picked.folder) this.form.folder = picked.folder
    } catch (err) {
      this.formError = (err as Error).message
    }
  }

  async startImport(): Promise<void> {
    const request = {
      folder: this.form.folder.trim(),
      ...(this.form.name.trim() ? { name: this.form.name.trim() } : {}),
      imageSize: this.form.imageSize,
      fit: this.form.fit,
      background: this.form.background,
      layout: this.form.layout,
    }
    const checked = DatasetImportJobParams.safeParse(request)
    if (!checked.success) {
      this.formError = checked.error.issues.map((i) => `${i.path.join('.') || 'folder'}: ${i.message}`).join('; ')
      return
    }
    const started = await this.jobs.tryStart({ kind: 'dataset-import', params: request } satisfies RequestParams<'jobs.start'>)
    if ('error' in started) {
      this.formError = started.error
      return
    }
    this.formError = null
    this.importJobId = started.jobId
  }

  /** First click asks; the second deletes. */
  async remove(id: string): Promise<void> {
    if (this.confirmingDelete !== id) {
      this.confirmingDelete = id
      return
    }
    this.confirmingDelete = null
    try {
      await this.client.deleteDataset({ id })
      if (this.selectedId === id) {
        this.selectedId = null
        this.detail = null
      }
      await this.load()
    } catch (err) {
      this.error = (err as Error).message
    }
  }

  private onEvent(event: StudioEvent): void {
    if (event.channel !== 'job.done' || event.payload.jobId !== this.importJobId) return
    const result = event.payload.result as { datasetId?: string } | undefined
    void this.load().then(() => (result?.datasetId ? this.select(result.datasetId) : undefined))
  }
}
