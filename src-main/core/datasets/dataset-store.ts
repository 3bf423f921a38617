// datasets.list / open / delete: the workspace's imported datasets (datasets/<id>, written by the
// dataset-import job) and the built-in emoji data. Reads manifests (kept in memory while unchanged);
// never loads pixels. A folder whose manifest cannot be read is listed with its problem so it can be deleted.
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs } from 'node:fs'
import { basename, join } from 'node:path'
import { MAX_REPORT_LINES, StudioError } from '../../contract/index.ts'
import type { DatasetDetail, DatasetItemInfo, DatasetSummary, ParsedParams } from '../../contract/index.ts'
import { BUILTIN_EMOJI_DATASETS, isBuiltinDatasetId } from '../../ml/data/dataset.ts'
import { importingDirFor, readDatasetManifest, readDatasetReport, type DatasetManifest } from '../../ml/data/image-folder.ts'
import type { Workspace } from '../workspace.ts'
import { BuiltinDatasets, builtinItemInfo } from './builtin-datasets.ts'

export const DATASETS_DIR = 'datasets'

const emptyStats: DatasetSummary['stats'] = {
  captions: 0, captionsPerImage: { min: 0, median: 0, mean: 0, max: 0 }, chars: { min: 0, median: 0, mean: 0, max: 0 },
  words: { min: 0, median: 0, mean: 0, max: 0 }, vocabulary: 0, topWords: [],
}

export function manifestSummary(m: DatasetManifest): DatasetSummary {
  return {
    id: m.id, name: m.name, builtin: false, imageSize: m.policy.imageSize,
    counts: { items: m.counts.items, train: m.counts.train, validation: m.counts.validation, skipped: m.counts.skipped },
    createdAt: m.createdAt, source: m.source, policy: { fit: m.policy.fit, background: m.policy.background }, notes: m.notes, stats: m.stats,
  }
}

/** A dataset id from a name: its words in lower case joined by dashes, and a random tail so two imports of one folder differ. */
export function newDatasetId(name: string): string {
  const slug = name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '')
  const base = !slug || slug.startsWith('builtin') ? 'dataset' : slug
  return `${base}-${randomBytes(3).toString('hex')}`
}

export class DatasetStore {
  /** manifests by folder, kept while the manifest file's mtime is unchanged */
  private readonly manifests = new Map<string, { mtimeMs: number; manifest: DatasetManifest }>()

  constructor(
    private readonly workspace: Workspace,
    private readonly builtins: BuiltinDatasets,
  ) {}

  /** datasets/<id> inside the workspace (refuses ids that would leave it). */
  folderOf(id: string): string {
    return this.workspace.resolve(`${DATASETS_DIR}/${id}`)
  }

  exists(id: string): boolean {
    return isBuiltinDatasetId(id) || existsSync(this.folderOf(id))
  }

  async list(): Promise<DatasetSummary[]> {
    const builtins = (await this.builtins.all()).map((b) => b.summary)
    const root = this.workspace.resolve(DATASETS_DIR)
    const names = await fs.readdir(root, { withFileTypes: true }).catch(() => [])
    const imported: DatasetSummary[] = []
    for (const entry of names) {
      if (!entry.isDirectory() || entry.name.startsWith('.') || isBuiltinDatasetId(entry.name)) continue
      try {
        imported.push(manifestSummary(await this.manifest(entry.name)))
      } catch (err) {
        imported.push({
          id: entry.name, name: entry.name, builtin: false, imageSize: 1, counts: { items: 0, train: 0, validation: 0, skipped: 0 },
          stats: emptyStats, problem: `its manifest cannot be read (${(err as Error).message.slice(0, 300)}): delete it and import the folder again`,
        })
      }
    }
    imported.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '') || a.id.localeCompare(b.id))
    return [...builtins, ...imported]
  }

  async open({ id, offset, limit, split }: ParsedParams<'datasets.open'>): Promise<DatasetDetail> {
    const inSplit = <T extends { split: 'train' | 'validation' }>(items: T[]) => items.map((item, index) => ({ item, index })).filter(({ item }) => split === 'all' || item.split === split)
    if (isBuiltinDatasetId(id)) {
      const builtin = await this.builtins.get(id)
      const chosen = inSplit(builtin.items)
      return {
        summary: builtin.summary,
        items: chosen.slice(offset, offset + limit).map(({ item, index }) => builtinItemInfo(item, index)),
        total: chosen.length,
        report: { skipped: [], total: 0 },
      }
    }
    const manifest = await this.manifest(id)
    const report = await readDatasetReport(this.folderOf(id)).catch(() => ({ skipped: [{ file: 'report.json', reason: 'the import report cannot be read' }] }))
    const perSheet = manifest.sheets.columns * manifest.sheets.rows
    const chosen = inSplit(manifest.items)
    const items: DatasetItemInfo[] = chosen.slice(offset, offset + limit).map(({ item, index }) => {
      const cell = index % perSheet
      return {
        index, label: item.file, captions: item.captions, split: item.split,
        preview: { sheet: `${DATASETS_DIR}/${id}/${manifest.sheets.dir}/${Math.floor(index / perSheet)}.png`, column: cell % manifest.sheets.columns, row: Math.floor(cell / manifest.sheets.columns) },
      }
    })
    return {
      summary: manifestSummary(manifest),
      items,
      total: chosen.length,
      sheetGrid: { columns: manifest.sheets.columns, rows: manifest.sheets.rows, cellSize: manifest.policy.imageSize },
      report: { skipped: report.skipped.slice(0, MAX_REPORT_LINES), total: report.skipped.length },
    }
  }

  /** Deletes datasets/<id> for good: renamed out of the list first, so a half-deleted dataset is never listed. */
  async delete(id: string): Promise<{ id: string; deleted: true }> {
    if (isBuiltinDatasetId(id)) throw new StudioError('forbidden', `${BUILTIN_EMOJI_DATASETS[id].name} is built in: it cannot be deleted`)
    const folder = this.folderOf(id)
    if (!existsSync(folder)) throw new StudioError('not-found', `No dataset ${id} in the workspace`)
    const doomed = join(this.workspace.resolve(DATASETS_DIR), `.${basename(folder)}.deleting-${randomBytes(3).toString('hex')}`)
    await fs.rename(folder, doomed)
    this.manifests.delete(folder)
    await fs.rm(doomed, { recursive: true, force: true })
    return { id, deleted: true }
  }

  /** Removes what an import job that did not finish left (a job whose thread was ended mid-write). */
  async removeUnfinishedImport(id: string): Promise<void> {
    await fs.rm(importingDirFor(this.folderOf(id)), { recursive: true, force: true })
  }

  private async manifest(id: string): Promise<DatasetManifest> {
    const folder = this.folderOf(id)
    const info = await fs.stat(join(folder, 'manifest.json')).catch(() => null)
    if (!info) {
      if (!existsSync(folder)) throw new StudioError('not-found', `No dataset ${id} in the workspace`)
      throw new Error('manifest.json is missing')
    }
    const kept = this.manifests.get(folder)
    if (kept && kept.mtimeMs === info.mtimeMs) return kept.manifest
    const manifest = await readDatasetManifest(folder)
    this.manifests.set(folder, { mtimeMs: info.mtimeMs, manifest })
    return manifest
  }
}
