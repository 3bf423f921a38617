// The one image shown large over the page (components/image-zoom.svelte): any view opens it with an
// image and what to say under it (the prompt first). A sample grid opens one cell of the grid.

import type { ZoomCrop } from '../grid-cells.ts'

export { gridCellAt, gridCellCrop, type ZoomCrop } from '../grid-cells.ts'

export interface ZoomItem {
  /** the image's URL */
  src: string
  /** what the image shows: its prompt, shown under it */
  prompt: string
  /** a second line: seed, model, step */
  detail?: string
  crop?: ZoomCrop
}

class ZoomState {
  item = $state<ZoomItem | null>(null)
  open(item: ZoomItem): void {
    this.item = item
  }
  close(): void {
    this.item = null
  }
}

export const zoom = new ZoomState()
