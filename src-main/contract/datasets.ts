// Datasets in the workspace (the Data view): the import job's parameters, a dataset's summary and
// detail, and what the folder picker answers. zod only, plus the importer's own choices and limits
// (ml/data/dataset-policy.ts has no imports), so the form, the contract and the importer agree.
import { z } from 'zod'
import { CaptionStatsSchema } from '../ml/data/caption-stats.ts'
import { DATASET_IMAGE_SIZES, DATASET_LAYOUTS, FIT_POLICIES, IMAGE_EXTENSIONS, IMPORT_LIMITS, IMPORT_VALIDATION_FRACTION } from '../ml/data/dataset-policy.ts'

export { DATASET_IMAGE_SIZES, DATASET_LAYOUTS, FIT_POLICIES, IMAGE_EXTENSIONS, IMPORT_LIMITS, IMPORT_VALIDATION_FRACTION }

/** Imported datasets: lower-case letters, digits and dashes (the folder datasets/<id>); built-in ones start with "builtin-". */
export const DatasetId = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'dataset ids are lower-case letters, digits and dashes')
export type DatasetId = z.output<typeof DatasetId>

/** A folder outside the workspace to import from: an absolute path (the core checks it exists, is a folder and is not the workspace's). */
export const SourceFolderPath = z
  .string()
  .min(1, 'type the folder to import')
  .max(4096)
  .refine((p) => !p.includes('\0'), 'the path contains a NUL character')
  .refine((p) => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\'), 'must be an absolute path (starting with / or a drive letter)')

export const BackgroundColour = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour as #rrggbb')

export const DatasetImportJobParams = z.strictObject({
  folder: SourceFolderPath,
  /** Shown in the Data view; default: the folder's name. */
  name: z.string().trim().min(1).max(100).optional(),
  /** The folder under datasets/; named by the core when the request names none. */
  id: DatasetId.optional(),
  imageSize: z.union(DATASET_IMAGE_SIZES.map((s) => z.literal(s)) as [z.ZodLiteral<32>, z.ZodLiteral<64>]).default(32),
  /** crop: centre crop to a square; pad: the whole picture, padded with the background colour. */
  fit: z.enum(FIT_POLICIES).default('crop'),
  /** Fills transparent pixels (and the margins with 'pad'). */
  background: BackgroundColour.default('#ffffff'),
  layout: z.enum(['auto', ...DATASET_LAYOUTS]).default('auto'),
})
export type DatasetImportJobParams = z.output<typeof DatasetImportJobParams>

/** The caption statistics the importer writes into the manifest, in the same schema. */
export const CaptionStatsInfo = CaptionStatsSchema

export const DatasetSummary = z.object({
  id: z.string(),
  name: z.string(),
  /** Built-in (the emoji data): read-only, nothing in the workspace. */
  builtin: z.boolean(),
  description: z.string().optional(),
  imageSize: z.int().min(1),
  counts: z.object({ items: z.int().min(0), train: z.int().min(0), validation: z.int().min(0), skipped: z.int().min(0) }),
  createdAt: z.string().optional(),
  source: z.object({ folder: z.string(), layout: z.enum(DATASET_LAYOUTS) }).optional(),
  policy: z.object({ fit: z.enum(FIT_POLICIES), background: z.string() }).optional(),
  notes: z.object({ nonSquare: z.int().min(0), upscaled: z.int().min(0), hadAlpha: z.int().min(0) }).optional(),
  stats: CaptionStatsInfo,
  /** Why a dataset folder could not be read (then it can only be deleted). */
  problem: z.string().optional(),
})
export type DatasetSummary = z.output<typeof DatasetSummary>

export const DatasetOpenParams = z.strictObject({
  id: DatasetId,
  offset: z.int().min(0).max(10_000_000).default(0),
  limit: z.int().min(1).max(500).default(120),
  split: z.enum(['all', 'train', 'validation']).default('all'),
})

export const DatasetItemInfo = z.object({
  /** Position in the dataset. */
  index: z.int().min(0),
  /** The source file (imported) or the emoji's "<key>/<style>" (built-in). */
  label: z.string(),
  captions: z.array(z.string()),
  split: z.enum(['train', 'validation']),
  /** Its cell in a preview sheet (workspace path of the PNG); absent for built-in data (nothing copied). */
  preview: z.object({ sheet: z.string(), column: z.int().min(0), row: z.int().min(0) }).optional(),
})
export type DatasetItemInfo = z.output<typeof DatasetItemInfo>

/** Report lines sent with a dataset at most (the count says how many there are). */
export const MAX_REPORT_LINES = 2_000

export const DatasetDetail = z.object({
  summary: DatasetSummary,
  /** Items of the chosen split from offset. */
  items: z.array(DatasetItemInfo),
  /** Items in the chosen split. */
  total: z.int().min(0),
  /** Preview sheets are grids of columns x rows cells of cellSize pixels. */
  sheetGrid: z.object({ columns: z.int().min(1), rows: z.int().min(1), cellSize: z.int().min(1) }).optional(),
  /** The import report: files skipped and why (the first MAX_REPORT_LINES). */
  report: z.object({ skipped: z.array(z.object({ file: z.string(), reason: z.string() })), total: z.int().min(0) }),
})
export type DatasetDetail = z.output<typeof DatasetDetail>

export const FolderPick = z.object({
  /** False on the web host: type the path instead. */
  supported: z.boolean(),
  /** The chosen folder; null when cancelled or unsupported. */
  folder: z.string().nullable(),
})
