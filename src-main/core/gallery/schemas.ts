// Proposed contract schemas for the gallery (zod only, browser-safe), ready to move into
// src-main/contract/ when the gallery is registered: the 'generate-gallery', 'gallery-regenerate' and
// 'onnx-import' job kinds' params, and the params of the gallery request channels. Kept here until then
// so the job runner and the core handlers can be typed and tested against them.
import { z } from 'zod'
import { boundedNumber, PromptText, wholeNumber } from '../../contract/limits.ts'

/** A path relative to the workspace (same rule as contract/jobs.ts WorkspacePath). */
const WorkspacePath = z.string().min(1).max(1024).refine((p) => !p.includes('\0'), 'path must not contain NUL characters')

export const GalleryModelChoice = z.strictObject({
  /**
   * 'reference' (the shipped model), 'one-step-init' (the one-step generator distilled from it), or a
   * workspace path to an ONNX model folder, a saved diffusion model or a DI* run folder
   */
  path: z.union([z.literal('reference'), z.literal('one-step-init'), WorkspacePath]),
  /** for a DI* run folder: which checkpoint step (default: the newest) */
  step: z.int().min(0).optional(),
  /** use a saved DiT folder (DI*'s generator weights) as a one-step generator with this t_init */
  tInit: wholeNumber(0, 999).optional(),
  name: z.string().min(1).max(64).optional(),
  /** DI* run id, recorded for filtering */
  run: z.string().min(1).max(64).optional(),
})

export const GenerateGalleryJobParams = z.strictObject({
  models: z.array(GalleryModelChoice).min(1).max(8),
  prompts: z.array(PromptText).min(1).max(1000),
  seeds: z.array(z.int().min(0).max(0xffff_ffff)).min(1).max(1000),
  sampler: z.enum(['ddim', 'dpmpp-2m']).default('ddim'),
  steps: wholeNumber(1, 1000).default(25),
  cfg: boundedNumber({ min: 0, max: 30 }).default(3),
  batchSize: z.int().min(1).max(256).default(16),
})
export type GenerateGalleryJobParams = z.output<typeof GenerateGalleryJobParams>

export const GalleryRegenerateJobParams = z.strictObject({
  ids: z.array(z.string().min(1).max(200)).min(1).max(256),
  /** add the re-generated images to the gallery as new entries (else only compare) */
  save: z.boolean().default(true),
})
export type GalleryRegenerateJobParams = z.output<typeof GalleryRegenerateJobParams>

export const OnnxImportJobParams = z.strictObject({
  /** the user's .onnx file, workspace-relative (the UI copies or picks it into the workspace first) */
  file: WorkspacePath,
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'model names are letters, digits, ., - and _'),
  /** whose tokenizer turns prompts into the graph's 'tokens' input */
  tokenizerFrom: z.union([z.literal('reference'), WorkspacePath]).default('reference'),
})
export type OnnxImportJobParams = z.output<typeof OnnxImportJobParams>

/** Request channel params (handled in the core by GalleryService, no worker needed). */
export const GalleryListParams = z.strictObject({
  text: z.string().max(300).optional(),
  model: z.string().max(64).optional(),
  run: z.string().max(64).optional(),
  seed: z.int().min(0).max(0xffff_ffff).optional(),
  /** any of these seeds: the seed filter, which reads lists and ranges as the generate form does */
  seeds: z.array(z.int().min(0).max(0xffff_ffff)).min(1).max(1000).optional(),
  from: z.iso.datetime().or(z.iso.date()).optional(),
  to: z.iso.datetime().or(z.iso.date()).optional(),
  order: z.enum(['newest', 'oldest']).default('newest'),
  offset: z.int().min(0).default(0),
  limit: z.int().min(1).max(1000).default(100),
})
export const GalleryDeleteParams = z.strictObject({ ids: z.array(z.string().min(1).max(200)).min(1).max(10_000) })
export const GalleryGetParams = z.strictObject({ id: z.string().min(1).max(200) })
