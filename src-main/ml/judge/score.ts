// Scoring images with the judge: for each image, the rank of the emoji it was asked to show among all
// the judge's classes (1 = the judge's first choice), top-1 and top-5 flags, and summaries overall
// and by category.
//
// Ties count against the image: the rank is 1 + the number of OTHER classes whose logit is greater
// than or equal to the wanted one's. A judge that outputs the same logit for every class (say, for a
// blank image) therefore ranks the wanted emoji last, never first.
import * as tf from '@tensorflow/tfjs-core'
import type { JudgeModel } from './classifier.ts'

/** Images NHWC in [-1, 1] (the shape the eval's ImageBatch has). */
export interface JudgeImages {
  pixels: Float32Array
  count: number
  size: number
}

export interface JudgeScores {
  /** per image: rank of its wanted emoji among all classes, 1 = best */
  ranks: Int32Array
  top1: boolean[]
  top5: boolean[]
  /** per image: the key of the judge's first choice */
  predicted: string[]
  /** per image: softmax probability of the wanted emoji */
  wantedProbability: Float32Array
  classes: number
}

/**
 * Rank of class `wanted` in one row of logits: 1 + the number of other classes scored at least as
 * high (pessimistic ties). NaN logits are treated as -Infinity, a NaN wanted logit ranks last.
 */
export function rankOfClass(logits: ArrayLike<number>, wanted: number, offset = 0, classes = logits.length - offset): number {
  if (!(Number.isInteger(wanted) && wanted >= 0 && wanted < classes)) throw new RangeError(`rankOfClass: class ${wanted} outside 0..${classes - 1}`)
  const own = logits[offset + wanted]!
  if (Number.isNaN(own)) return classes
  let rank = 1
  for (let c = 0; c < classes; c++) if (c !== wanted && logits[offset + c]! >= own) rank++
  return rank
}

/** Index of the largest logit in a row (first one on ties). */
function argmax(logits: ArrayLike<number>, offset: number, classes: number): number {
  let best = 0
  for (let c = 1; c < classes; c++) if (logits[offset + c]! > logits[offset + best]!) best = c
  return best
}

function softmaxAt(logits: ArrayLike<number>, offset: number, classes: number, wanted: number): number {
  let max = -Infinity
  for (let c = 0; c < classes; c++) max = Math.max(max, logits[offset + c]!)
  let sum = 0
  for (let c = 0; c < classes; c++) sum += Math.exp(logits[offset + c]! - max)
  return Math.exp(logits[offset + wanted]! - max) / sum
}

/**
 * Scores rows of logits [count, classes] (row-major) against the wanted class of each row. The pure
 * part of scoreImages, for tests and for logits computed elsewhere.
 */
export function scoreLogits(logits: ArrayLike<number>, count: number, classes: number, wanted: ArrayLike<number>, classKeys: readonly string[]): JudgeScores {
  if (logits.length !== count * classes) throw new Error(`scoreLogits: ${logits.length} logits for ${count} x ${classes}`)
  if (wanted.length !== count) throw new Error(`scoreLogits: ${wanted.length} wanted classes for ${count} rows`)
  if (classKeys.length !== classes) throw new Error(`scoreLogits: ${classKeys.length} class keys for ${classes} classes`)
  const ranks = new Int32Array(count)
  const predicted: string[] = []
  const wantedProbability = new Float32Array(count)
  for (let i = 0; i < count; i++) {
    const off = i * classes
    ranks[i] = rankOfClass(logits, wanted[i]!, off, classes)
    predicted.push(classKeys[argmax(logits, off, classes)]!)
    wantedProbability[i] = softmaxAt(logits, off, classes, wanted[i]!)
  }
  return {
    ranks,
    top1: Array.from(ranks, (r) => r === 1),
    top5: Array.from(ranks, (r) => r <= 5),
    predicted,
    wantedProbability,
    classes,
  }
}

const SCORE_BATCH = 128

/** Logits [count, classes] of a set of images, in batches. */
export async function judgeImageLogits(judge: JudgeModel, images: JudgeImages): Promise<Float32Array> {
  const a = judge.architecture
  if (images.size !== a.imageSize) throw new Error(`judge: it reads ${a.imageSize}x${a.imageSize} images, got ${images.size}x${images.size}`)
  const per = images.size * images.size * 3
  if (images.pixels.length < images.count * per) throw new Error(`judge: ${images.pixels.length} values for ${images.count} images of ${images.size}px`)
  const C = a.numClasses
  const out = new Float32Array(images.count * C)
  for (let start = 0; start < images.count; start += SCORE_BATCH) {
    const end = Math.min(images.count, start + SCORE_BATCH)
    const logits = tf.tidy(() => judge.logits(tf.tensor4d(images.pixels.subarray(start * per, end * per), [end - start, a.imageSize, a.imageSize, 3])))
    out.set((await logits.data()) as Float32Array, start * C)
    logits.dispose()
  }
  return out
}

/**
 * The judge's verdict on images that were meant to show the emoji `wantedKeys[i]`: the rank of that
 * emoji among all classes, top-1 and top-5. A key the judge has no class for is an error (check
 * judge.classIndex first to leave such images out).
 */
export async function scoreImages(judge: JudgeModel, images: JudgeImages, wantedKeys: readonly string[]): Promise<JudgeScores> {
  if (wantedKeys.length !== images.count) throw new Error(`judge: ${images.count} images but ${wantedKeys.length} wanted emoji`)
  const wanted = wantedKeys.map((k) => {
    const c = judge.classIndex.get(k)
    if (c === undefined) throw new Error(`judge: no class for emoji key '${k}' (the judge knows ${judge.classes.length} emoji)`)
    return c
  })
  const logits = await judgeImageLogits(judge, images)
  return scoreLogits(logits, images.count, judge.architecture.numClasses, wanted, judge.classes.map((c) => c.key))
}

export interface JudgeSummary {
  images: number
  top1: number
  top5: number
  meanRank: number
  /** mean probability of the wanted emoji */
  meanProbability: number
}

/** Top-1 and top-5 rates, mean rank and mean probability of a subset of scored images (all by default). */
export function summarizeJudge(scores: JudgeScores, indices?: readonly number[]): JudgeSummary {
  const idx = indices ?? Array.from(scores.ranks, (_, i) => i)
  const n = idx.length
  if (n === 0) return { images: 0, top1: Number.NaN, top5: Number.NaN, meanRank: Number.NaN, meanProbability: Number.NaN }
  let top1 = 0
  let top5 = 0
  let rank = 0
  let prob = 0
  for (const i of idx) {
    if (scores.top1[i]) top1++
    if (scores.top5[i]) top5++
    rank += scores.ranks[i]!
    prob += scores.wantedProbability[i]!
  }
  return { images: n, top1: top1 / n, top5: top5 / n, meanRank: rank / n, meanProbability: prob / n }
}

/** Summaries per group (e.g. per category), groups in first-appearance order. */
export function summarizeByGroup(scores: JudgeScores, groupOf: readonly string[]): { group: string; summary: JudgeSummary }[] {
  if (groupOf.length !== scores.ranks.length) throw new Error(`summarizeByGroup: ${groupOf.length} group labels for ${scores.ranks.length} images`)
  const members = new Map<string, number[]>()
  groupOf.forEach((g, i) => {
    const list = members.get(g) ?? []
    list.push(i)
    members.set(g, list)
  })
  return [...members].map(([group, idx]) => ({ group, summary: summarizeJudge(scores, idx) }))
}

/** Aggregation by the wanted emoji's category (the category recorded with the judge's classes). */
export function summarizeByCategory(judge: JudgeModel, scores: JudgeScores, wantedKeys: readonly string[]): { group: string; summary: JudgeSummary }[] {
  return summarizeByGroup(scores, wantedKeys.map((k) => judge.classes[judge.classIndex.get(k) ?? -1]?.category ?? 'unknown'))
}
