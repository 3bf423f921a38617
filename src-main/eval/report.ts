// results.md (and the generated part of docs/results.md): the table, the commands, the machine.
import { existsSync, promises as fs } from 'node:fs'
import { atomicWriteFile } from '../util/atomic-write.ts'
import type { EvalResults, ModelResult } from './results.ts'

const fmt = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits))

function msText(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–'
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)
}

function percent(fraction: number | null): string {
  if (fraction === null) return '–'
  return fraction >= 0.1 ? `${(fraction * 100).toFixed(0)}%` : `${(fraction * 100).toFixed(1)}%`
}

export function modelTable(r: EvalResults): string {
  const rewardNames = Object.keys(r.models[0]!.rewards)
  const baseline = r.models.find((m) => m.id === r.timeBaseline)
  const header = ['Model', 'Steps', 'Alignment ↑ (mean ± sd)', ...rewardNames.map((n) => `${n[0]!.toUpperCase()}${n.slice(1)}`), 'FD ↓', 'Diversity (all)', 'Diversity (same prompt)', 'Diversity (same seed)', 'ms / image (onnxruntime)', 'ms / image (tfjs)', `Time vs ${baseline?.label ?? r.timeBaseline}`]
  const row = (m: ModelResult) => [
    m.label, String(m.inferenceSteps), `${fmt(m.alignment.mean)} ± ${fmt(m.alignment.sd)}`,
    ...rewardNames.map((n) => fmt(m.rewards[n]?.mean, 3)),
    fmt(m.frechet, 3), fmt(m.diversity.all, 3), fmt(m.diversity.samePrompt, 3), fmt(m.diversity.sameSeed, 3),
    msText(m.time.ortMsPerImage), msText(m.time.tfjsMsPerImage), percent(m.time.fractionOfBaseline),
  ]
  const lines = [header, header.map((_, i) => (i <= 1 ? '---' : '---:')), ...r.models.map(row)]
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`)

/** Judge columns per model: top-1 / top-5 of the asked-for emoji on training-emoji and validation prompts. */
export function judgeTable(r: EvalResults): string | null {
  if (!r.models.some((m) => m.judge)) return null
  const header = ['Model', 'Steps', 'Judge top-1, training emoji ↑', 'top-5, training emoji ↑', 'Judge top-1, validation ↑', 'top-5, validation ↑', 'mean rank, training / validation ↓']
  const rank = (x: number | null | undefined) => (x === null || x === undefined ? '–' : x.toFixed(0))
  const row = (m: ModelResult) => {
    const t = m.judge?.trainingEmoji
    const v = m.judge?.validation
    return [m.label, String(m.inferenceSteps), pct(t?.top1), pct(t?.top5), pct(v?.top1), pct(v?.top5), `${rank(t?.meanRank)} / ${rank(v?.meanRank)}`]
  }
  const lines = [header, header.map((_, i) => (i <= 1 ? '---' : '---:')), ...r.models.map(row)]
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

/** Judge top-1 by the asked-for emoji's category: rows are categories, cells "training / validation" per model. */
export function judgeCategoryTable(r: EvalResults): string | null {
  const judged = r.models.filter((m) => m.judge)
  if (judged.length === 0) return null
  const categories: string[] = []
  for (const m of judged) {
    for (const set of [m.judge!.trainingEmoji, m.judge!.validation]) for (const c of Object.keys(set?.byCategory ?? {})) if (!categories.includes(c)) categories.push(c)
  }
  const first = judged[0]!.judge!
  const count = (c: string) => `${first.trainingEmoji?.byCategory[c]?.images ?? 0} / ${first.validation.byCategory[c]?.images ?? 0}`
  const header = ['Category', 'images (training / validation)', ...judged.map((m) => m.label)]
  const rows = categories.map((c) => [c, count(c), ...judged.map((m) => `${pct(m.judge!.trainingEmoji?.byCategory[c]?.top1)} / ${pct(m.judge!.validation.byCategory[c]?.top1)}`)])
  const lines = [header, header.map((_, i) => (i === 0 ? '---' : '---:')), ...rows]
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

function judgeNotes(r: EvalResults): string[] {
  const table = judgeTable(r)
  if (!table || !r.judge) return []
  const j = r.judge
  const c = j.ceiling
  const s = r.settings
  const unscored = r.models[0]!.judge!
  const left = unscored.validation.unscored + (unscored.trainingEmoji?.unscored ?? 0)
  return [
    '',
    '### The judge: is the asked-for emoji recognisable?',
    '',
    table,
    '',
    `- **Judge**: an emoji classifier over ${j.classes} emoji (\`${j.dir.split('/').slice(-3).join('/')}\`, weights ${j.fingerprint}), trained on real emoji of ${j.trainingStyles.length ? j.trainingStyles.join(', ') : 'its training styles'} and **never used as a training reward**, unlike the alignment score. Top-1: the emoji the prompt asked for is its first choice among all ${j.classes}; top-5: among its first five (chance ${(100 / j.classes).toFixed(2)}% / ${(500 / j.classes).toFixed(2)}%).`,
    `- **Training emoji**: ${s.trainingPrompts ?? 0} prompts${s.trainingPromptFile ? ` (\`${s.trainingPromptFile}\`)` : ''} of emoji the generators trained on, with the same seeds; **validation**: the ${s.prompts} held-out captions above. The judge knows both sets of emoji (it trained on other drawings of them).`,
    `- **Ceiling**: on real images of a style it never saw${j.heldOutStyle ? ` (${j.heldOutStyle})` : ''}, the judge's top-1 / top-5 is ${pct(c.heldOutTop1)} / ${pct(c.heldOutTop5)} (training-split emoji ${pct(c.heldOutTrainSplitTop1)} / ${pct(c.heldOutTrainSplitTop5)}, validation-split emoji ${pct(c.heldOutValidationSplitTop1)} / ${pct(c.heldOutValidationSplitTop5)}; its MODEL_CARD.md). A generator's numbers are read against these.${left > 0 ? ` ${left} images per model asked for no single emoji the judge knows and are left out.` : ''}`,
    '',
    'Judge top-1 by category (training emoji / validation):',
    '',
    judgeCategoryTable(r)!,
  ]
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${s % 60} s`
}

/** The generated body shared by results.md and docs/results.md (figure paths relative to `assets`). */
export function resultsBody(r: EvalResults, assets: string): string {
  const s = r.settings
  const t = s.training
  const trainLines = r.training.map((x) => `- \`${x.id}\` (${x.regulariser === 'score' ? 'DI*, score-based regulariser' : 'KL regulariser'}): ${x.steps} steps, ${x.reused ? `reused from an earlier eval (trained in ${minutes(x.trainingMs)})` : `trained in ${minutes(x.trainingMs)}`}`)
  const controls = Object.entries(t.controls).filter(([k]) => k !== 'regulariser').map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')
  return [
    `${r.quick ? '**Quick smoke run (tiny budget): not a result.** ' : ''}Evaluated ${r.createdAt} in ${minutes(r.wallMs)} on ${s.prompts} of the ${s.promptsAvailable} held-out validation captions (\`${s.promptFile}\`) x seeds ${s.seeds.join(', ')} = ${r.models[0]!.images} images per model${s.trainingPrompts ? `, plus ${s.trainingPrompts} prompts of training emoji x the same seeds for the judge` : ''}.`,
    '',
    modelTable(r),
    '',
    '- **Alignment**: the alignment model\'s score (100 x cosine between image and prompt embeddings, a CLIPScore analogue); it is also the training reward of the DI* and KL generators, so it favours them.',
    '- **Brightness, colourfulness, contrast**: the image rewards (means); they describe the images more than rank them.',
    `- **FD**: Fréchet distance between the generated images and the ${r.real.images} real validation images, on the alignment model's image embedding (lower is closer). ${r.real.frechetTrainVsValidation === null ? '' : `Real training images against the validation images, at the same sample size: ${fmt(r.real.frechetTrainVsValidation, 3)} (the floor).`}`,
    '- **Diversity**: mean pairwise distance between image embeddings (unit vectors, so 0 to 2): over all images; between the seeds of one prompt (low: one prompt gives one image); between the prompts drawn from one seed (low: the prompt changes little, the noise decides).',
    `- **Time**: onnxruntime-node on the CPU, batches of 16 as the gallery generates (the reference's ${s.sampler.toUpperCase()} sampler steps in TypeScript around its ONNX eps network, with CFG: two network rows per image per step); one-step generators also in TensorFlow.js on the training backend. One-step times are the median of ${s.timingRepeats} passes; the reference's are one pass over every image.`,
    '',
    ...judgeNotes(r),
    '',
    `Training (same budget for both): ${t.steps} steps, batch ${t.batchSize}, seed ${t.seed}, alignment reward; ${controls}.`,
    ...trainLines,
    '',
    `![alignment and FD against time per image](${assets}figure.png)`,
    '',
    `Sample sheets (rows: prompts, columns: seeds): ${r.models.map((m) => `[${m.label}](${assets}${m.sampleSheet})`).join(', ')}; all models side by side (columns in the table's order, first seed): [${assets}samples/all-models.png](${assets}samples/all-models.png)${s.trainingPrompts ? `; the same on the training-emoji prompts: [${assets}samples/all-models-training-emoji.png](${assets}samples/all-models-training-emoji.png)` : ''}.`,
    '',
    '### Command',
    '',
    '```sh',
    r.command,
    '```',
    '',
    '### Machine',
    '',
    ...r.machineLines.map((l) => `    ${l}`),
    `    load average after the eval: ${r.loadAverageAfter.map((l) => l.toFixed(2)).join(' / ')}`,
  ].join('\n')
}

export function resultsMarkdown(r: EvalResults): string {
  return `# DI Studio evaluation\n\n${resultsBody(r, '')}\n`
}

export const DOCS_BEGIN = '<!-- eval:begin (generated by npm run eval -- --write-docs; edit outside these markers) -->'
export const DOCS_END = '<!-- eval:end -->'

const DOCS_TEMPLATE = `# Results: the paper's headline in miniature

The paper's claim: a small one-step model post-trained with DI* beats a large multi-step diffusion model
on human-preference and alignment scores at about 2% of its inference time. This page holds the same
comparison at this project's scale, produced by \`npm run eval\` (see the README's "Evaluation").

${DOCS_BEGIN}
${DOCS_END}

## Reading

(To be written from a default run: where the one-step model wins, where it loses, and at what
fraction of the reference's inference time.)
`

/**
 * Writes the generated part of docs/results.md between its markers, keeping everything else (the
 * human reading). A missing file is created from a template; figures are copied next to it.
 */
export async function writeDocsResults(path: string, r: EvalResults, assets: string): Promise<void> {
  const current = existsSync(path) ? await fs.readFile(path, 'utf8') : DOCS_TEMPLATE
  const begin = current.indexOf(DOCS_BEGIN)
  const end = current.indexOf(DOCS_END)
  if (begin < 0 || end < begin) throw new Error(`${path} has no ${DOCS_BEGIN} ... ${DOCS_END} markers; add them where the generated table belongs`)
  const next = `${current.slice(0, begin + DOCS_BEGIN.length)}\n${resultsBody(r, assets)}\n${current.slice(end)}`
  await atomicWriteFile(path, next)
}
