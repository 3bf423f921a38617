// initTf: picks wasm here (no tfjs-node installed), is idempotent, honours a preference, registers
// gradients and the wasm training kernel, and resolves the wasm binaries from the package.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import { initTf, wasmBinaryDir } from '../../src-main/ml/backend/init.ts'
import { probeTfBackends } from '../../src-main/ml/backend/probe.ts'

describe('initTf', () => {
  it('initialises the fastest available backend once', async () => {
    const fastest = probeTfBackends().find((p) => p.available)
    const first = await initTf()
    assert.equal(first.name, fastest?.name)
    assert.equal(await initTf(), first, 'a second call returns the same info')
    assert.ok(first.detail.length > 0)
    if (first.name === 'wasm') {
      assert.equal(tf.getBackend(), 'wasm')
      assert.equal(first.simd, true, 'SIMD is available on every supported Node')
      assert.ok(first.threads >= 1)
      assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'the missing training kernel is registered')
    }
  })

  it('registers gradients, so training works', async () => {
    await initTf()
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor([1, -2, 3]))
    assert.deepEqual(Array.from(await g.data()), [2, -4, 6])
  })

  it('switches to a preferred backend and back', async () => {
    const cpu = await initTf({ prefer: 'cpu' })
    assert.equal(cpu.name, 'cpu')
    assert.equal(tf.getBackend(), 'cpu')
    const wasm = await initTf({ prefer: 'wasm' })
    assert.equal(wasm.name, 'wasm')
    assert.equal(tf.getBackend(), 'wasm')
  })

  it('falls back when the preferred backend is not installed', async () => {
    const info = await initTf({ prefer: 'tensorflow-gpu' })
    const gpu = probeTfBackends().find((p) => p.name === 'tensorflow-gpu')
    if (!gpu?.available) {
      assert.notEqual(info.name, 'tensorflow-gpu')
      assert.match(info.detail, /preferred tensorflow-gpu unavailable/)
    }
  })

  it('finds the wasm binaries in the installed package', () => {
    const dir = wasmBinaryDir()
    assert.ok(dir.endsWith('/'))
    for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) assert.ok(existsSync(join(dir, f)), f)
  })
})
