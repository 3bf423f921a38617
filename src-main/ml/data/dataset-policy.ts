// What an image-folder import accepts and how it treats images: sizes, fit policies, layouts and the
// limits. No imports at all, so the contract (browser-safe) states the same choices and limits the
// importer (image-folder.ts) applies.

export const IMPORT_LIMITS = {
  /** An image file over this many bytes is skipped unread. */
  maxFileBytes: 20 * 1024 * 1024,
  /** An image of more pixels (width x height) than this is skipped (decoding it would take too much memory). */
  maxPixels: 40_000_000,
  /** Images per dataset; the rest are skipped and listed. */
  maxItems: 50_000,
  /** Files looked at in the source folder; the scan stops there (and says so). */
  maxFiles: 200_000,
  /** Folder depth below the source folder that is searched. */
  maxDepth: 8,
  /** A caption longer than this skips its image. */
  maxCaptionChars: 1_000,
  /** A caption file (.txt) over this size skips its image. */
  maxCaptionFileBytes: 64 * 1024,
  /** metadata.jsonl / metadata.csv over this size is not read. */
  maxMetadataBytes: 64 * 1024 * 1024,
} as const

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp', '.gif']
export const DATASET_IMAGE_SIZES = [32, 64] as const
export type DatasetImageSize = (typeof DATASET_IMAGE_SIZES)[number]
export const FIT_POLICIES = ['crop', 'pad'] as const
export type FitPolicy = (typeof FIT_POLICIES)[number]
export const DATASET_LAYOUTS = ['kohya', 'imagefolder'] as const
export type DatasetLayout = (typeof DATASET_LAYOUTS)[number]
/** Share of an imported dataset's images held out for validation (by content hash; at least 1 image from 2 images on). */
export const IMPORT_VALIDATION_FRACTION = 0.1

