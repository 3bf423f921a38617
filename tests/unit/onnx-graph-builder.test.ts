import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OnnxGraphBuilder, decodeModel } from '../../src-main/ml/onnx/graph-builder.ts'
import { createSession, ort } from '../../src-main/ml/onnx/runtime.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

// Reference maths in plain JS: y = LayerNorm(silu(x W1 + b1)) W2, row-major.
function referenceMlp(x: Float32Array, n: number, w1: Float32Array, b1: Float32Array, w2: Float32Array, din: number, dh: number, dout: number) {
  const y = new Float32Array(n * dout)
  for (let r = 0; r < n; r++) {
    const h = new Float64Array(dh)
    for (let j = 0; j < dh; j++) {
      let s = b1[j]!
      for (let i = 0; i < din; i++) s += x[r * din + i]! * w1[i * dh + j]!
      h[j] = s / (1 + Math.exp(-s))
    }
    const mean = h.reduce((a, b) => a + b, 0) / dh
    const variance = h.reduce((a, b) => a + (b - mean) ** 2, 0) / dh
    for (let j = 0; j < dh; j++) h[j] = (h[j]! - mean) / Math.sqrt(variance + 1e-5)
    for (let k = 0; k < dout; k++) {
      let s = 0
      for (let j = 0; j < dh; j++) s += h[j]! * w2[j * dout + k]!
      y[r * dout + k] = s
    }
  }
  return y
}

test('a graph built with OnnxGraphBuilder runs in onnxruntime-node and matches the reference maths', async () => {
  const rng = new Rng(7)
  const [din, dh, dout, n] = [6, 10, 3, 5]
  const w1 = rng.normals(din * dh), b1 = rng.normals(dh), w2 = rng.normals(dh * dout)
  const g = new OnnxGraphBuilder('mlp')
  const x = g.input('x', 'float32', ['batch', din])
  const h = g.op1('Add', [g.op1('MatMul', [x, g.weight('w1', [din, dh], w1)]), g.weight('b1', [dh], b1)])
  const act = g.op1('Mul', [h, g.op1('Sigmoid', [h])])
  const norm = g.op1('LayerNormalization', [act, g.weight('ln_scale', [dh], new Float32Array(dh).fill(1)), g.weight('ln_bias', [dh], new Float32Array(dh))], { axis: -1, epsilon: { float: 1e-5 } })
  g.output(g.op1('MatMul', [norm, g.weight('w2', [dh, dout], w2)]), 'y', 'float32', ['batch', dout])
  const bytes = g.encode()

  const decoded = decodeModel(bytes)
  assert.equal(decoded.graph?.input?.[0]?.name, 'x')
  assert.equal(decoded.graph?.initializer?.length, 5)

  const session = await createSession(bytes, { providers: ['cpu'], threads: 1 })
  const xs = rng.normals(n * din)
  const result = await session.run({ x: new ort.Tensor('float32', xs, [n, din]) })
  const y = result.y!.data as Float32Array
  assert.deepEqual(result.y!.dims, [n, dout])
  const expected = referenceMlp(xs, n, w1, b1, w2, din, dh, dout)
  for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i]! - expected[i]!) < 1e-4, `index ${i}: ${y[i]} vs ${expected[i]}`)
})

test('a float attribute passed as a bare number is refused instead of silently becoming an int', () => {
  const g = new OnnxGraphBuilder('bad')
  const x = g.input('x', 'float32', [2])
  assert.throws(() => g.op1('LeakyRelu', [x], { alpha: 0.2 }), /not an integer/)
})

test('onnxruntime refuses garbage bytes with a clear error', async () => {
  await assert.rejects(createSession(new Uint8Array([1, 2, 3, 4, 5])), /onnxruntime could not load the model/)
})
