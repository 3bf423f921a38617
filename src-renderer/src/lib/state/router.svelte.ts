// Hash-based navigation between the studio's views (works from file:// in Electron and over http).
export const VIEWS = [
  { id: 'train', label: 'Train' },
  { id: 'gallery', label: 'Gallery' },
  { id: 'compare', label: 'Compare' },
  { id: 'prefer', label: 'Prefer' },
  { id: 'data', label: 'Data' },
  { id: 'settings', label: 'Settings' },
] as const

export type ViewId = (typeof VIEWS)[number]['id']

function viewFromHash(hash: string): ViewId {
  const id = hash.replace(/^#\/?/, '')
  return VIEWS.find((v) => v.id === id)?.id ?? 'train'
}

export class Router {
  current = $state<ViewId>(viewFromHash(location.hash))

  constructor() {
    window.addEventListener('hashchange', () => (this.current = viewFromHash(location.hash)))
  }

  go(view: ViewId): void {
    location.hash = `#/${view}`
  }
}
