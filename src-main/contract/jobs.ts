// Job kinds the studio can run, each with the schema of its parameters and of its live controls.
// Later sessions add kinds here (pretraining, DI* training, gallery generation) and a runner for
// each in src-main/core/jobs/kinds/; a test checks the two lists agree.
import { z } from 'zod'

/** A path relative to the workspace. The core resolves it and refuses anything that escapes. */
export const WorkspacePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.includes('\0'), 'path must not contain NUL characters')

/** The demo job: a seeded Monte-Carlo estimate of pi in chunks. Real work, real progress, real cancel. */
export const DemoJobParams = z.strictObject({
  samples: z.int().min(1_000).max(5_000_000_000).default(20_000_000),
  chunks: z.int().min(1).max(10_000).default(100),
  seed: z.int().min(0).max(0xffff_ffff).default(1),
  /** Error path on purpose: the job throws when it reaches this chunk. */
  failAtChunk: z.int().min(0).optional(),
  /** Where to save the result as JSON, relative to the workspace. */
  saveResultAs: WorkspacePath.optional(),
})
export type DemoJobParams = z.output<typeof DemoJobParams>

export const StartJobParams = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('demo'), params: DemoJobParams }),
])
export type StartJobParams = z.input<typeof StartJobParams>
export type JobKind = z.output<typeof StartJobParams>['kind']

/** Parameters of each kind once validated, by kind name. */
export type JobParamsByKind = { [K in JobKind]: Extract<z.output<typeof StartJobParams>, { kind: K }>['params'] }

export interface JobKindInfo {
  title: string
  description: string
  /**
   * Schema of the values a running job of this kind accepts in a `set` control (for DI* training:
   * reward weight, CFG scale, learning rates...). An empty object means no live settings.
   */
  settable: z.ZodType<Record<string, ControlValue>>
}

export const JOB_KIND_INFO: Record<JobKind, JobKindInfo> = {
  demo: {
    title: 'Demo: Monte-Carlo estimate of pi',
    description: 'Throws seeded random points at the unit square in chunks; proves workers, progress, metrics and cancel.',
    settable: z.strictObject({}),
  },
}

/** Live controls a running job may receive (DI* training changes weights, pauses and resumes). */
export const ControlValue = z.union([z.number(), z.string().max(256), z.boolean()])
export type ControlValue = z.output<typeof ControlValue>
export const JobControl = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('pause') }),
  z.strictObject({ type: z.literal('resume') }),
  z.strictObject({ type: z.literal('set'), values: z.record(z.string().min(1).max(64), ControlValue) }),
])
export type JobControl = z.output<typeof JobControl>

export const JobStatus = z.enum(['queued', 'running', 'paused', 'cancelling', 'succeeded', 'failed', 'cancelled'])
export type JobStatus = z.output<typeof JobStatus>
export const FinalJobStatus = z.enum(['succeeded', 'failed', 'cancelled'])
export type FinalJobStatus = z.output<typeof FinalJobStatus>

export const JobId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'job ids are letters, digits, - and _')

export const JobSummary = z.object({
  jobId: JobId,
  kind: z.string(),
  status: JobStatus,
  createdAt: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  progress: z.object({ done: z.number(), total: z.number() }).optional(),
  error: z.string().optional(),
  result: z.unknown().optional(),
  /** Files the job announced (job.artifact events), oldest first. */
  artifacts: z
    .array(z.object({ kind: z.string(), path: z.string(), step: z.int().optional(), caption: z.string().optional() }))
    .optional(),
})
export type JobSummary = z.output<typeof JobSummary>
