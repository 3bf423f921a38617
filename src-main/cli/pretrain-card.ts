// npm run pretrain-card -- --run <pretrain out dir> [--title "..."] [--command "..."] [--judge <judge dir>] [--notes file.md]
// Writes MODEL_CARD.md, curves.png and samples.png into <run>/model from the run's own records
// (ml/diffusion/pretrain-card.ts). Copy the model folder into resources/ to ship it with its card.
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { writePretrainCard } from '../ml/diffusion/pretrain-card.ts'

const USAGE = 'usage: npm run pretrain-card -- --run <pretrain out dir> [--title "..."] [--command "..."] [--judge <judge model dir>] [--notes file.md]'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      run: { type: 'string' }, title: { type: 'string' }, command: { type: 'string' },
      judge: { type: 'string', default: 'resources/models/judge' }, notes: { type: 'string' }, help: { type: 'boolean' },
    },
  })
  if (values.help || !values.run) {
    console.log(USAGE)
    process.exit(values.help ? 0 : 2)
  }
  const run = resolve(values.run)
  const modelDir = join(run, 'model')
  if (!existsSync(modelDir)) throw new Error(`${run} has no model/ folder yet (it is written with the first checkpoint)`)
  // The judge's ceiling: its real-image top-1 on the held-out style, from its config.json.
  let judgeCeilingTop1: number | undefined
  const judgeConfig = join(resolve(values.judge), 'config.json')
  if (existsSync(judgeConfig)) {
    const metrics = (JSON.parse(readFileSync(judgeConfig, 'utf8')) as { training?: { metrics?: Record<string, number> } }).training?.metrics ?? {}
    judgeCeilingTop1 = metrics.heldOutTrainSplitTop1 // training-split emoji drawn in the held-out style
  }
  const r = await writePretrainCard(run, modelDir, {
    title: values.title ?? 'Reference diffusion model',
    command: values.command ?? `npm run pretrain -- --out ${values.run} (see the run's state/config.json for its options)`,
    ...(judgeCeilingTop1 !== undefined ? { judgeCeilingTop1 } : {}),
    ...(values.notes ? { notes: readFileSync(values.notes, 'utf8').trim() } : {}),
  })
  console.log(`wrote ${join(modelDir, 'MODEL_CARD.md')} (step ${r.step}, ${r.evals.length} judge evaluations)`)
}

main().catch((err: unknown) => {
  console.error(`pretrain-card: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
