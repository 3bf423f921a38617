// The demo job: estimate pi by throwing seeded random points at the unit square, in chunks.
// It is small but real: it computes, streams progress and metrics, honours pause and cancel,
// can fail on request (failAtChunk), and can save its result inside the workspace.
import { atomicWriteFile } from '../../../util/atomic-write.ts'
import { Rng } from '../../../ml/util/rng.ts'
import type { JobRunner } from '../job-context.ts'

export interface DemoResult {
  estimate: number
  absError: number
  samples: number
  savedTo?: string
}

export const demoJob: JobRunner<'demo'> = {
  async run(ctx, params): Promise<DemoResult> {
    const rng = new Rng(params.seed)
    const savePath = params.saveResultAs === undefined ? undefined : ctx.workspace.resolve(params.saveResultAs)
    let inside = 0
    let thrown = 0
    for (let chunk = 0; chunk < params.chunks; chunk++) {
      await ctx.checkpoint()
      if (params.failAtChunk === chunk) throw new Error(`Demo failure requested at chunk ${chunk} (failAtChunk)`)
      // Spread the remainder over the first chunks so the total is exact.
      const n = Math.floor(params.samples / params.chunks) + (chunk < params.samples % params.chunks ? 1 : 0)
      for (let i = 0; i < n; i++) {
        const x = rng.uniform()
        const y = rng.uniform()
        if (x * x + y * y < 1) inside++
      }
      thrown += n
      const estimate = (4 * inside) / thrown
      ctx.metrics(chunk, { estimate, absError: Math.abs(estimate - Math.PI) })
      ctx.progress(chunk + 1, params.chunks, `${thrown.toLocaleString('en')} samples`)
    }
    const estimate = (4 * inside) / thrown
    const result: DemoResult = { estimate, absError: Math.abs(estimate - Math.PI), samples: thrown }
    if (savePath) {
      await atomicWriteFile(savePath, JSON.stringify({ ...params, ...result }, null, 2))
      result.savedTo = params.saveResultAs
      ctx.log(`Saved result to ${params.saveResultAs}`)
    }
    return result
  },
}
