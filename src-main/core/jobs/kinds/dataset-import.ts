// The dataset-import job: reads a folder of captioned images into datasets/<id> (ml/data/image-folder.ts),
// in a worker thread so a big folder never blocks the studio. Progress per image; a cancel stops at the
// next image and removes everything written so far. Bad files are skipped and reported, never fatal.
import { basename } from 'node:path'
import { DatasetImportJobParams } from '../../../contract/index.ts'
import { importImageFolder } from '../../../ml/data/image-folder.ts'
import { DATASETS_DIR, newDatasetId } from '../../datasets/dataset-store.ts'
import { checkSourceFolder } from '../../datasets/source-folder.ts'
import type { JobContext } from '../job-context.ts'

export interface DatasetImportResult {
  datasetId: string
  path: string
  items: number
  train: number
  validation: number
  skipped: number
}

export const datasetImportJob = {
  async run(ctx: JobContext, input: DatasetImportJobParams): Promise<DatasetImportResult> {
    const params = DatasetImportJobParams.parse(input)
    const folder = await checkSourceFolder(params.folder, ctx.workspace.root)
    const name = params.name ?? basename(folder)
    const id = params.id ?? newDatasetId(name)
    const path = `${DATASETS_DIR}/${id}`
    ctx.log(`importing ${folder} as ${path} (${params.imageSize}x${params.imageSize}, ${params.fit === 'crop' ? 'centre crop' : 'padded'}, background ${params.background})`)
    const { manifest, report } = await importImageFolder(folder, ctx.workspace.resolve(path), {
      id, name, imageSize: params.imageSize, fit: params.fit, background: params.background, layout: params.layout,
    }, {
      checkpoint: () => ctx.checkpoint(),
      progress: (done, total, message) => ctx.progress(done, total, message),
    })
    const { counts } = manifest
    ctx.log(`${counts.items} images (${counts.train} train, ${counts.validation} validation) from the ${manifest.source.layout} layout; ${counts.skipped} files skipped`)
    if (report.skipped.length > 0) ctx.log(`${report.skipped.length} file${report.skipped.length === 1 ? ' was' : 's were'} skipped: see the report in the Data view`, 'warn')
    ctx.artifact('dataset', `${path}/manifest.json`)
    return { datasetId: id, path, items: counts.items, train: counts.train, validation: counts.validation, skipped: counts.skipped }
  },
}
