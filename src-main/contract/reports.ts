// What the studio reports about the machine and the workspace.
import { z } from 'zod'

export const TfBackendName = z.enum(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'])

export const TfBackendCandidate = z.object({
  name: TfBackendName,
  package: z.string(),
  available: z.boolean(),
  detail: z.string(),
})

export const BackendReport = z.object({
  tensorflow: z.object({
    /** The backend training will use; null when none is installed. */
    selected: TfBackendCandidate.nullable(),
    candidates: z.array(TfBackendCandidate),
  }),
  onnxruntime: z.object({
    available: z.boolean(),
    providers: z.array(z.object({ name: z.string(), bundled: z.boolean() })),
    detail: z.string(),
  }),
  runtime: z.object({
    host: z.enum(['electron', 'web']),
    platform: z.string(),
    arch: z.string(),
    cpus: z.int(),
    node: z.string(),
    electron: z.string().optional(),
  }),
})
export type BackendReport = z.output<typeof BackendReport>

export const WorkspaceSource = z.enum(['flag', 'env', 'settings', 'electron', 'default'])
export const WorkspaceInfo = z.object({
  root: z.string(),
  /** Where the location came from: --workspace, DI_STUDIO_HOME, the Settings view, Electron's userData or ~/.di-studio. */
  source: WorkspaceSource,
})
export type WorkspaceInfo = z.output<typeof WorkspaceInfo>
