// Comparing two DI* runs that must take the same steps up to float rounding (one thread against two,
// one pass against several): the losses, reward scores and gradient norms of every step.
import assert from 'node:assert/strict'
import type { DiStarStepResult } from '../../src-main/ml/distar/trainer.ts'

/** What the two sides are called in a failure message, e.g. ['1 thread', '2 threads']. */
export type SideNames = readonly [string, string]

export function assertClose(a: number, b: number, what: string, sides: SideNames, rel = 2e-4): void {
  assert.ok(Number.isFinite(a) && Number.isFinite(b), `${what}: ${a} vs ${b}`)
  assert.ok(Math.abs(a - b) <= rel * Math.max(1e-6, Math.abs(a), Math.abs(b)), `${what}: ${a} (${sides[0]}) vs ${b} (${sides[1]})`)
}

/** Both runs' steps succeeded and agree, step by step, in every loss, reward and gradient norm. */
export function assertSameSteps(first: readonly DiStarStepResult[], second: readonly DiStarStepResult[], sides: SideNames): void {
  assert.equal(first.length, second.length)
  first.forEach((a, i) => {
    const b = second[i]!
    assert.equal(a.status, 'ok', a.reason)
    assert.equal(b.status, 'ok', b.reason)
    const at = `step ${a.step}`
    const close = (x: number, y: number, what: string, rel?: number) => assertClose(x, y, `${at} ${what}`, sides, rel)
    close(a.losses.generatorTotal, b.losses.generatorTotal, 'generator loss')
    close(a.losses.regulariser, b.losses.regulariser, 'regulariser', 1e-3)
    close(a.losses.divergence, b.losses.divergence, 'divergence')
    close(a.losses.fakeScore, b.losses.fakeScore, 'fake-score loss')
    for (const name of Object.keys(a.losses.rewards)) close(a.losses.rewards[name]!, b.losses.rewards[name]!, `reward ${name}`)
    close(a.gradNorms.reward, b.gradNorms.reward, 'reward gradient norm')
    close(a.gradNorms.regulariser, b.gradNorms.regulariser, 'regulariser gradient norm')
    close(a.gradNorms.generator, b.gradNorms.generator, 'generator gradient norm')
    close(a.gradNorms.fake, b.gradNorms.fake, 'fake gradient norm')
  })
}
