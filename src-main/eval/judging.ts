// The judge's verdict on one model's images in the eval: for each image, is the emoji its prompt asked
// for the judge's first choice (top-1), among its first five (top-5), and at which rank; summarised
// over the prompt set and by the emoji's category. The judge (src-main/ml/judge) is an emoji
// classifier that no generator is trained against, unlike the alignment reward.
import { existsSync } from 'node:fs'
import type { JudgeModel } from '../ml/judge/classifier.ts'
import { scoreImages, summarizeByGroup, summarizeJudge, type JudgeSummary } from '../ml/judge/score.ts'
import type { ImageBatch } from './scoring.ts'
import type { JudgeSetResult } from './results.ts'

const nullIfNaN = (x: number): number | null => (Number.isFinite(x) ? x : null)

function summaryJson(s: JudgeSummary): { images: number; top1: number | null; top5: number | null; meanRank: number | null } {
  return { images: s.images, top1: nullIfNaN(s.top1), top5: nullIfNaN(s.top5), meanRank: nullIfNaN(s.meanRank) }
}

/**
 * Scores images made for `planPrompts` (one prompt per image). `keyOf` gives the emoji a prompt asks
 * for (null when it names none unambiguously); images whose emoji the judge has no class for, or
 * whose prompt names no emoji, are counted as unscored and left out of the rates.
 */
export async function judgeGenerated(judge: JudgeModel, images: ImageBatch, planPrompts: readonly string[], keyOf: (prompt: string) => string | null): Promise<JudgeSetResult> {
  if (planPrompts.length !== images.count) throw new Error(`judge: ${images.count} images but ${planPrompts.length} prompts`)
  if (images.size !== judge.architecture.imageSize) {
    throw new Error(`the judge reads ${judge.architecture.imageSize}x${judge.architecture.imageSize} images, the generators draw ${images.size}x${images.size}`)
  }
  const per = images.size * images.size * 3
  const picked: number[] = []
  const keys: string[] = []
  planPrompts.forEach((p, i) => {
    const key = keyOf(p)
    if (key !== null && judge.classIndex.has(key)) {
      picked.push(i)
      keys.push(key)
    }
  })
  const unscored = images.count - picked.length
  if (picked.length === 0) return { images: 0, unscored, top1: null, top5: null, meanRank: null, byCategory: {} }
  const pixels = new Float32Array(picked.length * per)
  picked.forEach((src, j) => pixels.set(images.pixels.subarray(src * per, (src + 1) * per), j * per))
  const scores = await scoreImages(judge, { pixels, count: picked.length, size: images.size }, keys)
  const categories = keys.map((k) => judge.classes[judge.classIndex.get(k)!]!.category)
  const byCategory = Object.fromEntries(summarizeByGroup(scores, categories).map((g) => [g.group, summaryJson(g.summary)]))
  return { ...summaryJson(summarizeJudge(scores)), unscored, byCategory }
}

/** The judge folder exists (a judge is optional: without one the eval says so and leaves its columns out). */
export function judgeAvailable(dir: string | undefined): dir is string {
  return dir !== undefined && existsSync(dir)
}
