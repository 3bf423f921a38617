// The core's side of the gallery: the request channels (list/search, get, delete, facets) answered in
// the main process from the index, without loading any ML code. Generation, re-generation and import
// run as jobs in workers (core/jobs/kinds/generate-gallery.ts); they write through their own Gallery
// on the same folder, and refresh() here picks their changes up.
import { StudioError } from '../../contract/index.ts'
import { Gallery, type GalleryEntry, type GalleryPage, type GalleryQuery, type OpenReport } from './gallery.ts'
import { GalleryDeleteParams, GalleryGetParams, GalleryListParams } from './schemas.ts'

export class GalleryService {
  private readonly gallery: Gallery
  private opening: Promise<OpenReport> | null = null

  /** root: the workspace's gallery folder (the core passes workspace.resolve('gallery')) */
  constructor(root: string, private readonly log: (message: string) => void = () => {}) {
    this.gallery = new Gallery(root)
  }

  private async ready(): Promise<Gallery> {
    if (!this.opening) {
      this.opening = this.gallery.open().then((report) => {
        for (const p of report.problems) this.log(`gallery: ${p}`)
        return report
      })
      this.opening.catch(() => { this.opening = null })
      await this.opening
    } else {
      await this.opening
      await this.gallery.refresh()
    }
    return this.gallery
  }

  async list(params: unknown): Promise<GalleryPage> {
    const q = GalleryListParams.parse(params) as GalleryQuery
    return (await this.ready()).list(q)
  }

  async get(params: unknown): Promise<GalleryEntry | null> {
    const { id } = GalleryGetParams.parse(params)
    return (await this.ready()).get(id) ?? null
  }

  async delete(params: unknown): Promise<{ deleted: number }> {
    const { ids } = GalleryDeleteParams.parse(params)
    const gallery = await this.ready()
    // An unknown id is the client's mistake (not-found), not a failure of the studio (internal).
    const unknown = ids.filter((id) => gallery.get(id) === undefined)
    if (unknown.length > 0) {
      const shown = unknown.slice(0, 5).map((id) => JSON.stringify(id.slice(0, 100))).join(', ')
      throw new StudioError('not-found', `No gallery image with id ${shown}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}; nothing was deleted`)
    }
    return { deleted: await gallery.delete(ids) }
  }

  async facets(): Promise<{ models: string[]; runs: string[]; total: number }> {
    const g = await this.ready()
    return { ...g.facets(), total: g.size }
  }
}
