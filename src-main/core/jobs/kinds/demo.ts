// The demo job: estimate pi by throwing seeded random points at the unit square, in chunks.
// It is small but real: it computes, streams progress and metrics, honours pause and cancel,
// can fail on request (failAtChunk), and can save its result inside the workspace (JSON plus a
// PNG of the first points, announced as artifacts the way DI* will announce its sample grids).
import { PNG } from 'pngjs'
import { atomicWriteFile } from '../../../util/atomic-write.ts'
import { Rng } from '../../../ml/util/rng.ts'
import type { JobRunner } from '../job-context.ts'

export interface DemoResult {
  estimate: number
  absError: number
  samples: number
  savedTo?: string
  picture?: string
}

const PICTURE_SIZE = 96
const PICTURE_POINTS = 3000

export const demoJob: JobRunner<'demo'> = {
  async run(ctx, params): Promise<DemoResult> {
    const rng = new Rng(params.seed)
    const savePath = params.saveResultAs === undefined ? undefined : ctx.workspace.resolve(params.saveResultAs)
    const firstPoints: number[] = []
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
        if (firstPoints.length < 2 * PICTURE_POINTS) firstPoints.push(x, y)
      }
      thrown += n
      const estimate = (4 * inside) / thrown
      ctx.metrics(chunk, { estimate, absError: Math.abs(estimate - Math.PI) })
      ctx.progress(chunk + 1, params.chunks, `${thrown.toLocaleString('en')} samples`)
    }
    const estimate = (4 * inside) / thrown
    const result: DemoResult = { estimate, absError: Math.abs(estimate - Math.PI), samples: thrown }
    if (savePath && params.saveResultAs) {
      const picture = params.saveResultAs.replace(/\.json$/i, '') + '.png'
      await atomicWriteFile(ctx.workspace.resolve(picture), drawPoints(firstPoints))
      await atomicWriteFile(savePath, JSON.stringify({ ...params, ...result, picture }, null, 2))
      Object.assign(result, { savedTo: params.saveResultAs, picture })
      ctx.artifact('image', picture, { caption: `First ${firstPoints.length / 2} points: inside the circle in blue` })
      ctx.artifact('result', params.saveResultAs)
      ctx.log(`Saved result to ${params.saveResultAs}`)
    }
    return result
  },
}

/** A small PNG of points in the unit square: blue inside the quarter circle, orange outside. */
function drawPoints(xy: number[]): Buffer {
  const png = new PNG({ width: PICTURE_SIZE, height: PICTURE_SIZE })
  png.data.fill(255)
  const paint = (col: number, row: number, [r, g, b]: [number, number, number]): void => {
    const at = (row * PICTURE_SIZE + col) * 4
    png.data[at] = r
    png.data[at + 1] = g
    png.data[at + 2] = b
  }
  for (let i = 0; i < xy.length; i += 2) {
    const x = xy[i]!
    const y = xy[i + 1]!
    const col = Math.min(PICTURE_SIZE - 1, Math.floor(x * PICTURE_SIZE))
    const row = PICTURE_SIZE - 1 - Math.min(PICTURE_SIZE - 1, Math.floor(y * PICTURE_SIZE))
    paint(col, row, x * x + y * y < 1 ? [59, 91, 219] : [230, 119, 0])
  }
  return PNG.sync.write(png)
}
