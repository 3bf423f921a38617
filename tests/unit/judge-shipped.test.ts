// The committed judge (resources/models/judge): it knows every emoji the eval's prompt files ask for,
// it recognises real images of the style it never saw at the level its card reports, and no training
// code can use it as a reward (it must stay an independent observer).
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { buildCatalog, ALL_STYLES } from '../../src-main/ml/data/emoji-catalog.ts'
import { loadEmojiDataset } from '../../src-main/ml/data/emoji-dataset.ts'
import { JudgeModel } from '../../src-main/ml/judge/classifier.ts'
import { captionKeyMap, promptEmojiKeys, TRAINING_EMOJI_PROMPT_FILE } from '../../src-main/ml/judge/prompts.ts'
import { labelledImages } from '../../src-main/ml/judge/training.ts'
import { scoreImages, summarizeJudge } from '../../src-main/ml/judge/score.ts'
import { readPromptFile } from '../../src-main/util/prompt-file.ts'
import { resourcePath } from '../../src-main/util/resource-path.ts'

const JUDGE_DIR = resourcePath('resources', 'models', 'judge')
/** Points of slack below the card's held-out top-1 / top-5 (a rebuilt cache or float order can move a few images). */
const SLACK = 0.02

const skip = existsSync(JUDGE_DIR) ? false : `no shipped judge at ${JUDGE_DIR} (train it with npm run train-judge)`

let judge: JudgeModel
before(async () => {
  if (skip) return
  await initTf()
  judge = await JudgeModel.load(JUDGE_DIR)
})

test('the shipped judge has a class for every emoji the eval prompts ask for', { skip }, () => {
  const map = captionKeyMap(buildCatalog({ styles: ALL_STYLES }).map((e) => e.item))
  for (const file of ['validation-captions.txt', TRAINING_EMOJI_PROMPT_FILE]) {
    const prompts = readPromptFile(resourcePath('resources', 'prompts', file))
    const keys = promptEmojiKeys(prompts, map)
    const missing = prompts.filter((_, i) => keys[i] === null || !judge.classIndex.has(keys[i]!))
    assert.deepEqual(missing, [], `${file}: prompts the judge cannot score`)
  }
})

test('the shipped judge names real emoji of its held-out style as well as its card says', { skip }, async () => {
  const held = judge.training?.heldOutStyle
  assert.ok(held, 'the card records the held-out style')
  assert.ok(!judge.training!.trainingStyles.includes(held!), 'the held-out style is not a training style')
  const { train, validation } = await loadEmojiDataset({ imageSize: judge.architecture.imageSize, styles: [held as (typeof ALL_STYLES)[number]] })
  const data = labelledImages([train, validation], judge.classIndex, [held!])
  const s = summarizeJudge(await scoreImages(judge, { pixels: data.images, count: data.count, size: data.imageSize }, data.items.map((it) => it.key)))
  const card = judge.training!.metrics
  assert.equal(s.images, card.heldOutImages)
  assert.ok(s.top1 >= card.heldOutTop1! - SLACK, `held-out top-1 ${s.top1} (card ${card.heldOutTop1})`)
  assert.ok(s.top5 >= card.heldOutTop5! - SLACK, `held-out top-5 ${s.top5} (card ${card.heldOutTop5})`)
  assert.ok(s.top1 > 20 / judge.classes.length, 'far above chance')
})

test('no reward or DI* training code uses the judge: it is never a reward', () => {
  const root = resourcePath('src-main')
  const offenders: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (/\.(ts|svelte)$/.test(name) && /from ['"][^'"]*\/judge\/(classifier|score|training)/.test(readFileSync(path, 'utf8'))) offenders.push(relative(root, path))
    }
  }
  // where rewards are defined and DI*/KL runs are built: none may load or run the judge
  for (const area of ['ml/rewards', 'ml/distar', 'core']) if (existsSync(join(root, area))) walk(join(root, area))
  assert.deepEqual(offenders, [], 'reward and DI* training code must not use the judge')
})
