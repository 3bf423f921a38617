// Every custom gradient in src-main/ml/backend/ops.ts and the wasm Conv2DBackpropFilter kernel, checked
// against central finite differences of float64 reference implementations written here in plain JS,
// and against tfjs's stock autodiff (on the cpu backend) where a stock path exists.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as tf from '@tensorflow/tfjs-core'
import { initTf } from '../../src-main/ml/backend/init.ts'
import { attention, conv2d, dense, embedding, gelu, groupNorm, layerNorm, matMul2d, silu } from '../../src-main/ml/backend/ops.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'
import { withStockWasmKernel } from '../../src-main/ml/backend/wasm-kernels.ts'
import { withStockMatMulGradient } from '../../src-main/ml/backend/gradients.ts'

// ------------------------------------------------------------------ float64 reference maths
type Arr = Float64Array

function randomArray(rng: Rng, n: number, scale = 1): Arr {
  // Values representable in float32, so tfjs and the float64 reference see the same inputs.
  return Float64Array.from({ length: n }, () => Math.fround(rng.normal() * scale))
}

function refMatMul(a: Arr, b: Arr, m: number, k: number, n: number): Arr {
  const out = new Float64Array(m * n)
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) out[i * n + j] += a[i * k + p] * b[p * n + j]
  return out
}

function refLayerNorm(x: Arr, d: number, eps: number, gamma?: Arr, beta?: Arr): Arr {
  const out = new Float64Array(x.length)
  for (let r = 0; r < x.length / d; r++) {
    let mean = 0
    for (let i = 0; i < d; i++) mean += x[r * d + i] / d
    let variance = 0
    for (let i = 0; i < d; i++) variance += (x[r * d + i] - mean) ** 2 / d
    for (let i = 0; i < d; i++) {
      const xHat = (x[r * d + i] - mean) / Math.sqrt(variance + eps)
      out[r * d + i] = xHat * (gamma ? gamma[i] : 1) + (beta ? beta[i] : 0)
    }
  }
  return out
}

const refSilu = (x: Arr): Arr => x.map((v) => v / (1 + Math.exp(-v)))
const refGelu = (x: Arr): Arr =>
  x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))))

/** keyTokens defaults to tokens (self-attention); fewer or more keys is cross-attention. */
function refAttention(q: Arr, k: Arr, v: Arr, batch: number, tokens: number, heads: number, dim: number, keyTokens = tokens): Arr {
  const dh = dim / heads
  const out = new Float64Array(q.length)
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < tokens; i++) {
        const scores = new Float64Array(keyTokens)
        for (let j = 0; j < keyTokens; j++) {
          let s = 0
          for (let c = 0; c < dh; c++) s += q[(b * tokens + i) * dim + h * dh + c] * k[(b * keyTokens + j) * dim + h * dh + c]
          scores[j] = s / Math.sqrt(dh)
        }
        const max = Math.max(...scores)
        const e = scores.map((s) => Math.exp(s - max))
        const z = e.reduce((a, c) => a + c, 0)
        for (let j = 0; j < keyTokens; j++) {
          for (let c = 0; c < dh; c++) out[(b * tokens + i) * dim + h * dh + c] += (e[j] / z) * v[(b * keyTokens + j) * dim + h * dh + c]
        }
      }
    }
  }
  return out
}

/** GroupNorm of NHWC x [n, pixels, c] with `groups` contiguous channel groups. */
function refGroupNorm(x: Arr, n: number, pixels: number, c: number, groups: number, eps: number, gamma?: Arr, beta?: Arr): Arr {
  const out = new Float64Array(x.length)
  const cg = c / groups
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const at = (p: number, j: number) => (b * pixels + p) * c + g * cg + j
      let mean = 0
      for (let p = 0; p < pixels; p++) for (let j = 0; j < cg; j++) mean += x[at(p, j)] / (pixels * cg)
      let variance = 0
      for (let p = 0; p < pixels; p++) for (let j = 0; j < cg; j++) variance += (x[at(p, j)] - mean) ** 2 / (pixels * cg)
      for (let p = 0; p < pixels; p++) {
        for (let j = 0; j < cg; j++) {
          const ch = g * cg + j
          out[at(p, j)] = ((x[at(p, j)] - mean) / Math.sqrt(variance + eps)) * (gamma ? gamma[ch] : 1) + (beta ? beta[ch] : 0)
        }
      }
    }
  }
  return out
}

type Pad = 'same' | 'valid' | number
function convGeometry(size: number, kernel: number, stride: number, pad: Pad): { out: number; before: number } {
  if (pad === 'same') {
    const out = Math.ceil(size / stride)
    const total = Math.max((out - 1) * stride + kernel - size, 0)
    return { out, before: Math.floor(total / 2) }
  }
  if (pad === 'valid') return { out: Math.ceil((size - kernel + 1) / stride), before: 0 }
  return { out: Math.floor((size + 2 * pad - kernel) / stride) + 1, before: pad }
}

function refConv2d(x: Arr, xs: number[], w: Arr, ws: number[], stride: number, pad: Pad): { y: Arr; shape: number[] } {
  const [n, h, wd, cin] = xs
  const [kh, kw, , cout] = ws
  const gh = convGeometry(h, kh, stride, pad)
  const gw = convGeometry(wd, kw, stride, pad)
  const y = new Float64Array(n * gh.out * gw.out * cout)
  for (let b = 0; b < n; b++)
    for (let i = 0; i < gh.out; i++)
      for (let j = 0; j < gw.out; j++)
        for (let di = 0; di < kh; di++)
          for (let dj = 0; dj < kw; dj++) {
            const yi = i * stride + di - gh.before
            const xj = j * stride + dj - gw.before
            if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue
            for (let c = 0; c < cin; c++) {
              const xv = x[((b * h + yi) * wd + xj) * cin + c]
              for (let o = 0; o < cout; o++) y[((b * gh.out + i) * gw.out + j) * cout + o] += xv * w[((di * kw + dj) * cin + c) * cout + o]
            }
          }
  return { y, shape: [n, gh.out, gw.out, cout] }
}

// ------------------------------------------------------------------ the check

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

/**
 * Checks tfjs gradients of L = sum(op(inputs) * R) (R a fixed random weighting) against central finite
 * differences of the float64 reference, along a random direction per input: <dL/dx, v> ~ (L(x+hv) - L(x-hv)) / 2h.
 * Also checks the forward value. Returns the tfjs gradients for further comparisons.
 */
async function checkGradients(opts: {
  rng: Rng
  inputs: { data: Arr; shape: number[] }[]
  op: (...xs: tf.Tensor[]) => tf.Tensor
  reference: (...xs: Arr[]) => Arr
  h?: number
}): Promise<Float32Array[]> {
  const { rng, inputs, op, reference } = opts
  const h = opts.h ?? 1e-3
  const yRef = reference(...inputs.map((i) => i.data))
  const weights = randomArray(rng, yRef.length)
  const loss = (...xs: Arr[]) => dot(reference(...xs), weights)

  const tensors = inputs.map((i) => tf.tensor(Float32Array.from(i.data), i.shape))
  const r = tf.tensor(Float32Array.from(weights))
  const value = op(...tensors)
  const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(tf.reshape(op(...xs), [-1]), r)))(tensors)
  const gradData = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>))
  const yData = await value.data()
  tf.dispose([...tensors, r, value, ...grads])

  const yScale = Math.max(...yRef.map(Math.abs), 1)
  yRef.forEach((v, i) => assert.ok(Math.abs(v - yData[i]) <= 1e-4 * yScale, `forward value ${i}: tfjs ${yData[i]} vs float64 ${v}`))

  inputs.forEach((input, k) => {
    assert.deepEqual(gradData[k].length, input.data.length, `gradient ${k} has the input's size`)
    const direction = randomArray(rng, input.data.length)
    const shifted = (sign: number) => inputs.map((x, j) => (j === k ? x.data.map((v, i) => v + sign * h * direction[i]) : x.data))
    const numeric = (loss(...shifted(1)) - loss(...shifted(-1))) / (2 * h)
    const analytic = dot(gradData[k], direction)
    const scale = Math.sqrt(dot(gradData[k], gradData[k]) * dot(direction, direction)) + 1e-6
    assert.ok(
      Math.abs(numeric - analytic) <= 2e-4 * scale,
      `input ${k}: directional derivative ${analytic} vs finite difference ${numeric} (scale ${scale})`,
    )
  })
  return gradData
}

/** Stock-autodiff gradients of the same weighted loss on the cpu backend, for comparison. */
async function stockCpuGradients(inputs: { data: Arr; shape: number[] }[], op: (...xs: tf.Tensor[]) => tf.Tensor, weightsSeed: number): Promise<Float32Array[]> {
  const previous = tf.getBackend()
  await tf.setBackend('cpu')
  try {
    const tensors = inputs.map((i) => tf.tensor(Float32Array.from(i.data), i.shape))
    const n = op(...tensors).size
    const r = tf.tensor(Float32Array.from(randomArray(new Rng(weightsSeed), n)))
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(tf.reshape(op(...xs), [-1]), r)))(tensors)
    const out = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>))
    tf.dispose([...tensors, r, ...grads])
    return out
  } finally {
    await tf.setBackend(previous)
  }
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, relTol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: lengths`)
  let scale = 1e-6
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]))
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= relTol * scale, `${what}[${i}]: ${a[i]} vs ${b[i]}`)
}

// ------------------------------------------------------------------ tests

before(async () => {
  const info = await initTf({ prefer: 'wasm' })
  assert.equal(info.name, 'wasm', 'these checks are about the wasm backend')
})

describe('wasm 2-D Transpose (blocked)', () => {
  it('equals the cpu backend for block-divisible, indivisible and small shapes, float32 and int32', async () => {
    for (const shape of [[128, 64], [96, 200], [6, 10], [5, 7], [1, 9], [8, 1], [4096, 4]] as [number, number][]) {
      for (const dtype of ['float32', 'int32'] as const) {
        const values = Array.from({ length: shape[0] * shape[1] }, (_, i) => i % 1000)
        const got = tf.tidy(() => tf.transpose(tf.tensor2d(values, shape, dtype)).arraySync())
        await tf.setBackend('cpu')
        const want = tf.tidy(() => tf.transpose(tf.tensor2d(values, shape, dtype)).arraySync())
        await tf.setBackend('wasm')
        assert.deepEqual(got, want, `[${shape}] ${dtype}`)
      }
    }
  })
})

describe('matMul2d', () => {
  // [5,7]@[7,3] takes the a^T dy branch of the weight gradient, [4,12]@[12,2] the (dy^T a)^T one
  for (const [m, k, n] of [[5, 7, 3], [4, 12, 2]]) it(`[${m},${k}]@[${k},${n}] matches finite differences and stock autodiff`, async () => {
    const rng = new Rng(1)
    const inputs = [{ data: randomArray(rng, m * k), shape: [m, k] }, { data: randomArray(rng, k * n), shape: [k, n] }]
    const op = (a: tf.Tensor, b: tf.Tensor) => matMul2d(a as tf.Tensor2D, b as tf.Tensor2D)
    const seed = 11
    const grads = await checkGradients({ rng: new Rng(seed), inputs, op, reference: (a, b) => refMatMul(a, b, m, k, n) })
    const stock = await stockCpuGradients(inputs, (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), seed)
    grads.forEach((g, i) => assertClose(g, stock[i], 1e-5, `grad ${i} vs stock`))
  })

  it('computes no weight gradient when only the input gradient is asked for (frozen weights)', async () => {
    const x = tf.randomNormal([64, 32], 0, 1, 'float32', 1) as tf.Tensor2D
    const w = tf.randomNormal([32, 16], 0, 1, 'float32', 2) as tf.Tensor2D
    const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(matMul2d(a as tf.Tensor2D, b as tf.Tensor2D)))
    const matMulsIn = async (f: () => tf.Tensor[]) => {
      const profile = await tf.profile(() => {
        tf.dispose(f())
      })
      return profile.kernels.filter((k) => k.name === 'BatchMatMul').length
    }
    const inputOnly = await matMulsIn(() => [tf.grad((a: tf.Tensor) => loss(a, w))(x)])
    const both = await matMulsIn(() => tf.grads(loss)([x, w]))
    assert.ok(both > inputOnly, `weight gradient skipped: ${inputOnly} matMuls for dx only, ${both} for dx and dW`)
    tf.dispose([x, w])
  })

  it('can run with the stock gradient for comparisons, which agrees, and is restored afterwards', () => {
    const ours = tf.getGradient('BatchMatMul')
    const a = tf.randomNormal([6, 5], 0, 1, 'float32', 3) as tf.Tensor2D
    const b = tf.randomNormal([5, 4], 0, 1, 'float32', 4) as tf.Tensor2D
    const loss = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(matMul2d(x as tf.Tensor2D, y as tf.Tensor2D)))
    const fast = tf.grads(loss)([a, b])
    const stock = withStockMatMulGradient(() => {
      assert.notEqual(tf.getGradient('BatchMatMul'), ours)
      return tf.grads(loss)([a, b])
    })
    assert.equal(tf.getGradient('BatchMatMul'), ours)
    fast.forEach((g, i) => assertClose(g.dataSync(), stock[i].dataSync(), 1e-5, `grad ${i}`))
    tf.dispose([a, b, ...fast, ...stock])
  })

  it('leaves flagged and batched products on the stock gradient, still correct', async () => {
    const rng = new Rng(9)
    const seed = 19
    const inputs = [{ data: randomArray(rng, 12), shape: [4, 3] }, { data: randomArray(rng, 15), shape: [5, 3] }]
    const flagged = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true)
    const grads = await checkGradients({
      rng: new Rng(seed),
      inputs,
      op: flagged,
      reference: (a, b) => refMatMul(a, Float64Array.from({ length: 15 }, (_, i) => b[(i % 5) * 3 + Math.floor(i / 5)]), 4, 3, 5),
    })
    const stock = await stockCpuGradients(inputs, flagged, seed)
    grads.forEach((g, i) => assertClose(g, stock[i], 1e-5, `flagged grad ${i}`))
  })

  it('refuses operands that are not matching 2-D matrices', () => {
    const a = tf.zeros([2, 3]) as tf.Tensor2D
    assert.throws(() => matMul2d(a, tf.zeros([4, 2]) as tf.Tensor2D), /inner dimensions differ/)
    assert.throws(() => matMul2d(a, tf.zeros([3, 2, 1]) as unknown as tf.Tensor2D), /2-D/)
    tf.dispose(a)
  })
})

describe('dense', () => {
  it('matches finite differences for a rank-3 input with bias', async () => {
    const rng = new Rng(2)
    const [b, t, i, o] = [2, 3, 4, 5]
    const inputs = [
      { data: randomArray(rng, b * t * i), shape: [b, t, i] },
      { data: randomArray(rng, i * o), shape: [i, o] },
      { data: randomArray(rng, o), shape: [o] },
    ]
    const reference = (x: Arr, w: Arr, bias: Arr) => refMatMul(x, w, b * t, i, o).map((v, idx) => v + bias[idx % o])
    const seed = 12
    const grads = await checkGradients({
      rng: new Rng(seed),
      inputs,
      op: (x, w, bias) => dense(x, w as tf.Tensor2D, bias as tf.Tensor1D),
      reference,
    })
    const stockDense = (x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor) => tf.add(tf.matMul(tf.reshape(x, [b * t, i]) as tf.Tensor2D, w as tf.Tensor2D), bias)
    const stock = await stockCpuGradients(inputs, stockDense, seed)
    grads.forEach((g, k) => assertClose(g, stock[k], 1e-5, `grad ${k} vs stock`))
  })

  it('keeps the leading dimensions and refuses a wrong input size', () => {
    tf.tidy(() => {
      assert.deepEqual(dense(tf.zeros([2, 3, 4, 5]), tf.zeros([5, 6]) as tf.Tensor2D).shape, [2, 3, 4, 6])
      assert.throws(() => dense(tf.zeros([2, 4]), tf.zeros([5, 6]) as tf.Tensor2D), /last dimension must be 5/)
      assert.throws(() => dense(tf.zeros([2, 5]), tf.zeros([5, 6]) as tf.Tensor2D, tf.zeros([5]) as tf.Tensor1D), /bias/)
    })
  })
})

describe('embedding', () => {
  it('matches finite differences and stock gather autodiff (cpu), accumulating repeated ids', async () => {
    const rng = new Rng(7)
    const [vocab, dim] = [6, 4]
    const idList = [1, 3, 3, 0, 5, 1]
    const ids = tf.tensor2d(idList, [2, 3], 'int32')
    const inputs = [{ data: randomArray(rng, vocab * dim), shape: [vocab, dim] }]
    const reference = (table: Arr) => Float64Array.from(idList.flatMap((id) => Array.from(table.subarray(id * dim, (id + 1) * dim))))
    const seed = 17
    const grads = await checkGradients({ rng: new Rng(seed), inputs, op: (t) => embedding(t as tf.Tensor2D, ids), reference })
    const stock = await stockCpuGradients(inputs, (t) => tf.gather(t, ids), seed)
    assertClose(grads[0], stock[0], 1e-6, 'embedding vs gather')
    assert.deepEqual(embedding(tf.zeros([vocab, dim]) as tf.Tensor2D, ids).shape, [2, 3, dim])
    ids.dispose()
  })

  it('refuses ids outside the table and non-integer ids', () => {
    tf.tidy(() => {
      const table = tf.zeros([4, 2]) as tf.Tensor2D
      assert.throws(() => embedding(table, tf.tensor1d([0, 4], 'int32')), /id 4 is outside the table's 4 rows/)
      assert.throws(() => embedding(table, tf.tensor1d([0, 1])), /int32/)
    })
  })
})

describe('attention', () => {
  it('matches finite differences for q, k and v, and stock autodiff', async () => {
    const rng = new Rng(3)
    const [batch, tokens, heads, dim] = [2, 5, 2, 6]
    const inputs = [0, 1, 2].map(() => ({ data: randomArray(rng, batch * tokens * dim), shape: [batch * tokens, dim] }))
    const op = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => attention(q as tf.Tensor2D, k as tf.Tensor2D, v as tf.Tensor2D, { batch, heads })
    const seed = 13
    const grads = await checkGradients({ rng: new Rng(seed), inputs, op, reference: (q, k, v) => refAttention(q, k, v, batch, tokens, heads, dim) })
    const stock = await stockCpuGradients(inputs, op, seed)
    grads.forEach((g, i) => assertClose(g, stock[i], 1e-4, `grad ${i} vs cpu`))
  })

  it('attends to a different number of keys (cross-attention): finite differences and stock autodiff', async () => {
    const rng = new Rng(31)
    const [batch, tokens, keyTokens, heads, dim] = [2, 5, 3, 2, 4]
    const inputs = [
      { data: randomArray(rng, batch * tokens * dim), shape: [batch * tokens, dim] },
      { data: randomArray(rng, batch * keyTokens * dim), shape: [batch * keyTokens, dim] },
      { data: randomArray(rng, batch * keyTokens * dim), shape: [batch * keyTokens, dim] },
    ]
    const op = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => attention(q as tf.Tensor2D, k as tf.Tensor2D, v as tf.Tensor2D, { batch, heads })
    const seed = 32
    const grads = await checkGradients({ rng: new Rng(seed), inputs, op, reference: (q, k, v) => refAttention(q, k, v, batch, tokens, heads, dim, keyTokens) })
    const stock = await stockCpuGradients(inputs, op, seed)
    grads.forEach((g, i) => assertClose(g, stock[i], 1e-4, `grad ${i} vs cpu`))
  })

  it('refuses shapes that do not split into batch and heads', () => {
    tf.tidy(() => {
      const q = tf.zeros([6, 4]) as tf.Tensor2D
      assert.throws(() => attention(q, q, q, { batch: 4, heads: 2 }), /do not split into batch/)
      assert.throws(() => attention(q, tf.zeros([5, 4]) as tf.Tensor2D, tf.zeros([5, 4]) as tf.Tensor2D, { batch: 2, heads: 2 }), /do not split into batch/)
      assert.throws(() => attention(q, tf.zeros([4, 2]) as tf.Tensor2D, tf.zeros([4, 2]) as tf.Tensor2D, { batch: 2, heads: 2 }), /shapes differ/)
      assert.throws(() => attention(q, q, q, { batch: 2, heads: 3 }), /not divisible by 3 heads/)
      assert.throws(() => attention(q, q, tf.zeros([6, 2]) as tf.Tensor2D, { batch: 2, heads: 2 }), /shapes differ/)
    })
  })
})

describe('layerNorm', () => {
  it('matches finite differences with and without affine parameters, and stock autodiff', async () => {
    const rng = new Rng(4)
    const [rows, d] = [6, 8]
    const eps = 1e-5
    const x = { data: randomArray(rng, rows * d, 2), shape: [3, 2, d] }
    await checkGradients({ rng, inputs: [x], op: (t) => layerNorm(t, { eps }), reference: (a) => refLayerNorm(a, d, eps) })
    const affine = [x, { data: randomArray(rng, d), shape: [d] }, { data: randomArray(rng, d), shape: [d] }]
    const seed = 14
    const grads = await checkGradients({
      rng: new Rng(seed),
      inputs: affine,
      op: (t, g, b) => layerNorm(t, { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D, eps }),
      reference: (a, g, b) => refLayerNorm(a, d, eps, g, b),
    })
    const stockLayerNorm = (t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(t, -1, true)
      return tf.add(tf.mul(tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, eps))), g), b)
    }
    const stock = await stockCpuGradients(affine, stockLayerNorm, seed)
    grads.forEach((g, i) => assertClose(g, stock[i], 1e-4, `grad ${i} vs stock`))
  })

  it('refuses a gamma of the wrong size and a non-positive eps', () => {
    tf.tidy(() => {
      assert.throws(() => layerNorm(tf.zeros([2, 4]), { gamma: tf.ones([3]) as tf.Tensor1D }), /gamma must be \[4\]/)
      assert.throws(() => layerNorm(tf.zeros([2, 4]), { eps: 0 }), /eps/)
    })
  })
})

describe('groupNorm', () => {
  it('matches finite differences with and without affine parameters, and stock moments autodiff', async () => {
    const rng = new Rng(41)
    const [n, h, w, c, groups] = [2, 3, 2, 8, 4]
    const eps = 1e-5
    const x = { data: randomArray(rng, n * h * w * c, 2), shape: [n, h, w, c] }
    await checkGradients({ rng, inputs: [x], op: (t) => groupNorm(t as tf.Tensor4D, groups, { eps }), reference: (a) => refGroupNorm(a, n, h * w, c, groups, eps) })
    const affine = [x, { data: randomArray(rng, c), shape: [c] }, { data: randomArray(rng, c), shape: [c] }]
    const seed = 42
    const op = (t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => groupNorm(t as tf.Tensor4D, groups, { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D, eps })
    const grads = await checkGradients({ rng: new Rng(seed), inputs: affine, op, reference: (a, g, b) => refGroupNorm(a, n, h * w, c, groups, eps, g, b) })
    const stockGroupNorm = (t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const grouped = tf.reshape(t, [n, h * w, groups, c / groups])
      const { mean, variance } = tf.moments(grouped, [1, 3], true)
      const normed = tf.reshape(tf.div(tf.sub(grouped, mean), tf.sqrt(tf.add(variance, eps))), [n, h, w, c])
      return tf.add(tf.mul(normed, g), b)
    }
    const stock = await stockCpuGradients(affine, stockGroupNorm, seed)
    grads.forEach((g, i) => assertClose(g, stock[i], 1e-4, `grad ${i} vs stock`))
  })

  it('with one group per channel is instance norm, with one group is layer norm over the whole image', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 4, 4, 6], 0, 3, 'float32', 5) as tf.Tensor4D
      const perChannel = groupNorm(x, 6)
      const { mean, variance } = tf.moments(x, [1, 2], true)
      assertClose(perChannel.dataSync(), tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))).dataSync(), 1e-5, 'instance norm')
      const whole = groupNorm(x, 1, { eps: 1e-6 })
      assertClose(whole.dataSync(), layerNorm(tf.reshape(x, [2, 96])).dataSync(), 1e-5, 'layer norm')
    })
  })

  it('refuses channels that do not split into the groups and bad parameters', () => {
    tf.tidy(() => {
      const x = tf.zeros([1, 2, 2, 6]) as tf.Tensor4D
      assert.throws(() => groupNorm(x, 4), /6 channels do not split into 4 groups/)
      assert.throws(() => groupNorm(tf.zeros([2, 6]) as unknown as tf.Tensor4D, 2), /rank 4/)
      assert.throws(() => groupNorm(x, 2, { gamma: tf.ones([3]) as tf.Tensor1D }), /gamma must be \[6\]/)
      assert.throws(() => groupNorm(x, 2, { eps: 0 }), /eps/)
    })
  })
})

describe('activations', () => {
  for (const [name, fn, ref, stockFn] of [
    ['silu', silu, refSilu, (t: tf.Tensor) => tf.mul(t, tf.sigmoid(t))],
    [
      'gelu',
      gelu,
      refGelu,
      (t: tf.Tensor) => tf.mul(tf.mul(0.5, t), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(t, tf.mul(0.044715, tf.pow(t, 3))))))),
    ],
  ] as const) {
    it(`${name} matches finite differences and stock autodiff`, async () => {
      const inputs = [{ data: randomArray(new Rng(5), 40, 2.5), shape: [5, 8] }]
      const seed = 15
      const grads = await checkGradients({ rng: new Rng(seed), inputs, op: fn, reference: ref })
      const stock = await stockCpuGradients(inputs, stockFn, seed)
      assertClose(grads[0], stock[0], 1e-5, `${name} vs stock`)
    })
  }
})

describe('conv2d gradients through the wasm kernels', () => {
  const cases: { kernel: number; stride: number; pad: Pad; size: number }[] = [
    { kernel: 3, stride: 1, pad: 'same', size: 6 },
    { kernel: 3, stride: 1, pad: 'valid', size: 6 },
    { kernel: 3, stride: 2, pad: 'same', size: 7 },
    { kernel: 3, stride: 2, pad: 'valid', size: 7 },
    { kernel: 1, stride: 1, pad: 'same', size: 5 },
    { kernel: 4, stride: 4, pad: 'valid', size: 8 }, // patchify
    { kernel: 3, stride: 1, pad: 1, size: 5 },
    { kernel: 5, stride: 1, pad: 'same', size: 4 }, // kernel larger than the image
  ]
  for (const c of cases) {
    it(`${c.kernel}x${c.kernel}, stride ${c.stride}, pad ${c.pad}: matches finite differences and cpu autodiff`, async () => {
      const rng = new Rng(6 + c.kernel * 10 + c.stride)
      const xs = [2, c.size, c.size, 3]
      const ws = [c.kernel, c.kernel, 3, 4]
      const inputs = [
        { data: randomArray(rng, xs.reduce((a, b) => a * b)), shape: xs },
        { data: randomArray(rng, ws.reduce((a, b) => a * b)), shape: ws },
      ]
      const seed = 16
      const reference = (x: Arr, w: Arr) => refConv2d(x, xs, w, ws, c.stride, c.pad).y
      const op = (x: tf.Tensor, w: tf.Tensor) => conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad)
      const grads = await checkGradients({ rng: new Rng(seed), inputs, op, reference })
      const stock = await stockCpuGradients(inputs, (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad), seed)
      grads.forEach((g, i) => assertClose(g, stock[i], 1e-4, `grad ${i} vs cpu`))
    })
  }

  it('conv2dTranspose (which runs the same input-gradient kernel) matches the cpu backend', async () => {
    const rng = new Rng(60)
    for (const [pad, size] of [['same', 5], ['valid', 4], [1, 5]] as const) {
      const dyShape: [number, number, number, number] = [2, size, size, 4]
      const outShape: [number, number, number, number] = pad === 'valid' ? [2, size + 2, size + 2, 3] : [2, size, size, 3]
      const dyValues = Array.from(randomArray(rng, dyShape.reduce((a, b) => a * b)))
      const wValues = Array.from(randomArray(rng, 3 * 3 * 3 * 4))
      const run = () => tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(dyValues, dyShape), tf.tensor4d(wValues, [3, 3, 3, 4]), outShape, 1, pad).dataSync())
      const onWasm = run()
      await tf.setBackend('cpu')
      const onCpu = run()
      await tf.setBackend('wasm')
      assertClose(onWasm, onCpu, 1e-5, `conv2dTranspose pad ${pad}`)
    }
    // strided (the zero-spread path): even and odd outputs, 'same' pads bottom/right only for even sizes
    for (const [stride, pad, out, kernel] of [[2, 'same', 8, 3], [2, 'same', 7, 3], [2, 'valid', 9, 3], [3, 'same', 7, 3], [2, 'same', 6, 4], [2, 1, 7, 3]] as const) {
      const outShape: [number, number, number, number] = [2, out, out, 3]
      const info = tf.backend_util.computeConv2DInfo(outShape, [kernel, kernel, 3, 4], stride, 1, pad)
      const dyShape: [number, number, number, number] = [2, info.outHeight, info.outWidth, 4]
      const dyValues = Array.from(randomArray(rng, dyShape.reduce((a, b) => a * b)))
      const wValues = Array.from(randomArray(rng, kernel * kernel * 3 * 4))
      const run = () => tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(dyValues, dyShape), tf.tensor4d(wValues, [kernel, kernel, 3, 4]), outShape, stride, pad).dataSync())
      const onWasm = run()
      const stockWasm = withStockWasmKernel('Conv2DBackpropInput', run)
      await tf.setBackend('cpu')
      const onCpu = run()
      await tf.setBackend('wasm')
      assertClose(onWasm, onCpu, 1e-5, `conv2dTranspose stride ${stride} pad ${pad} size ${out} kernel ${kernel}`)
      assertClose(stockWasm, onCpu, 1e-5, `stock wasm, stride ${stride} pad ${pad} size ${out}`)
    }
  })

  it('refuses mismatched channels', () => {
    tf.tidy(() => {
      assert.throws(() => conv2d(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D, tf.zeros([3, 3, 2, 4]) as tf.Tensor4D), /3 channels, filter expects 2/)
    })
  })
})

describe('wasm Conv2DBackpropFilter kernel', () => {
  it('makes stock conv2d and fused conv2d trainable on wasm, matching finite differences', async () => {
    for (const [stride, pad] of [[1, 'same'], [2, 'same'], [2, 'valid'], [1, 2]] as const) {
      const rng = new Rng(30 + stride)
      const xs = [2, 6, 6, 2]
      const ws = [3, 3, 2, 3]
      const inputs = [
        { data: randomArray(rng, xs.reduce((a, b) => a * b)), shape: xs },
        { data: randomArray(rng, ws.reduce((a, b) => a * b)), shape: ws },
      ]
      const reference = (x: Arr, w: Arr) => refConv2d(x, xs, w, ws, stride, pad).y
      const stockConv = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad)
      const seed = 50 + stride
      const grads = await checkGradients({ rng: new Rng(seed), inputs, op: stockConv, reference })
      const onCpu = await stockCpuGradients(inputs, stockConv, seed)
      grads.forEach((g, k) => assertClose(g, onCpu[k], 1e-4, `wasm kernel grad ${k} vs cpu`))
      // fused.conv2d with linear activation is the path that used to fail even for input-only gradients
      await checkGradients({
        rng,
        inputs,
        op: (x, w) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: stride, pad }),
        reference,
      })
    }
  })

  it('leaves no tensors behind across repeated training steps', () => {
    const w = tf.variable(tf.randomNormal([3, 3, 2, 2], 0, 0.1, 'float32', 1))
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 2)
    const optimizer = tf.train.sgd(0.01)
    const step = () => tf.tidy(() => {
      optimizer.minimize(() => tf.mean(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'))), false, [w])
    })
    step()
    const count = tf.memory().numTensors
    for (let i = 0; i < 3; i++) step()
    assert.equal(tf.memory().numTensors, count)
    tf.dispose([w, x])
    optimizer.dispose()
  })
})

describe('wasm matMul operator cache', () => {
  it('gives right answers when one buffer is the b operand in two shapes', () => {
    tf.tidy(() => {
      const x = tf.reshape(tf.range(0, 32), [4, 8]) as tf.Tensor2D
      const first = tf.matMul(tf.ones([1, 4]) as tf.Tensor2D, x).arraySync()
      assert.deepEqual(first, [[48, 52, 56, 60, 64, 68, 72, 76]])
      // same buffer, other shape: stock tfjs-backend-wasm 4.22 reuses the [4, 8] operator here
      const second = tf.matMul(tf.ones([1, 2]) as tf.Tensor2D, tf.reshape(x, [2, 16]) as tf.Tensor2D).arraySync()
      assert.deepEqual(second, [Array.from({ length: 16 }, (_, i) => 16 + 2 * i)])
      const third = tf.matMul(tf.ones([2, 4]) as tf.Tensor2D, x).arraySync() as number[][]
      assert.deepEqual(third[1], [48, 52, 56, 60, 64, 68, 72, 76])
    })
  })

  it('does the same for fused matMul, keeping bias and activation', () => {
    tf.tidy(() => {
      const x = tf.reshape(tf.range(0, 32), [4, 8]) as tf.Tensor2D
      const first = tf.fused.matMul({ a: tf.ones([1, 4]) as tf.Tensor2D, b: x }).arraySync()
      assert.deepEqual(first, [[48, 52, 56, 60, 64, 68, 72, 76]])
      const view = tf.reshape(x, [2, 16]) as tf.Tensor2D
      const second = tf.fused.matMul({ a: tf.ones([1, 2]) as tf.Tensor2D, b: view }).arraySync()
      assert.deepEqual(second, [Array.from({ length: 16 }, (_, i) => 16 + 2 * i)])
      const view2 = tf.reshape(x, [8, 4]) as tf.Tensor2D
      const withBias = tf.fused.matMul({ a: tf.ones([1, 8]) as tf.Tensor2D, b: view2, bias: tf.fill([4], -120) as tf.Tensor1D, activation: 'relu' }).arraySync()
      assert.deepEqual(withBias, [[0, 0, 8, 16]]) // column sums 112, 120, 128, 136, minus 120, relu
    })
  })
})

describe('wasm Sum and Mean over leading axes', () => {
  it('match the cpu backend for every axis pattern, keepDims and int32', async () => {
    const cases: [number[], number | number[], boolean][] = [
      [[6, 5], 0, false], [[6, 5], 0, true], [[6, 5], 1, false], [[6, 5], [0, 1], false],
      [[2, 3, 4], [0, 1], false], [[2, 3, 4], [1, 0], true], [[2, 3, 4], 1, false], [[2, 3, 4], -1, true],
      [[1, 7], 0, false], [[7, 1], 0, false], [[3, 2, 2, 2], [0, 1, 2], false],
    ]
    const rng = new Rng(40)
    for (const [shape, axis, keepDims] of cases) {
      for (const [dtype, reduce] of [['float32', tf.sum], ['int32', tf.sum], ['float32', tf.mean]] as const) {
        const n = shape.reduce((a, b) => a * b, 1)
        const values = Array.from({ length: n }, () => (dtype === 'int32' ? rng.int(-5, 5) : rng.normal()))
        const onWasm = tf.tidy(() => reduce(tf.tensor(values, shape, dtype), axis, keepDims))
        const got = { shape: onWasm.shape, data: Array.from(await onWasm.data()) }
        onWasm.dispose()
        await tf.setBackend('cpu')
        const onCpu = tf.tidy(() => reduce(tf.tensor(values, shape, dtype), axis, keepDims))
        const want = { shape: onCpu.shape, data: Array.from(await onCpu.data()) }
        onCpu.dispose()
        await tf.setBackend('wasm')
        const what = `${reduce === tf.sum ? 'sum' : 'mean'} ${dtype} [${shape}] axis ${axis} keepDims ${keepDims}`
        assert.deepEqual(got.shape, want.shape, what)
        // inputs are O(1), so float32 rounding of these small sums stays far below 1e-5
        got.data.forEach((v, i) => assert.ok(Math.abs(v - want.data[i]) <= 1e-5, `${what}[${i}]: ${v} vs ${want.data[i]}`))
      }
    }
  })

  it('can be swapped for the stock kernel for comparisons, and is restored afterwards', () => {
    const ours = tf.getKernel('Sum', 'wasm')
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]])
    const stock = withStockWasmKernel('Sum', () => {
      assert.notEqual(tf.getKernel('Sum', 'wasm'), ours)
      return tf.sum(x, 0)
    })
    assert.equal(tf.getKernel('Sum', 'wasm'), ours)
    assert.deepEqual(Array.from(stock.dataSync()), [9, 12])
    assert.throws(() => withStockWasmKernel('Sum', () => { throw new Error('inside') }), /inside/)
    assert.equal(tf.getKernel('Sum', 'wasm'), ours, 'restored after an exception too')
    tf.dispose([x, stock])
  })

  it('is differentiable (bias gradients go through it)', async () => {
    const rng = new Rng(41)
    const [rows, d] = [6, 5]
    const inputs = [{ data: randomArray(rng, rows * d), shape: [2, 3, d] }, { data: randomArray(rng, d), shape: [d] }]
    // y = x + b broadcast; dL/db = sum over leading axes of dL/dy
    await checkGradients({
      rng,
      inputs,
      op: (x, b) => tf.mul(tf.add(x, b), tf.add(x, b)),
      reference: (x, b) => x.map((v, i) => (v + b[i % d]) ** 2),
    })
  })
})

describe('custom ops inside a training step', () => {
  it('keep the tensor count flat', () => {
    const w = tf.variable(tf.randomNormal([8, 8], 0, 0.3, 'float32', 3))
    const x = tf.randomNormal([2, 4, 8], 0, 1, 'float32', 4)
    const optimizer = tf.train.adam(1e-3)
    const step = () =>
      tf.tidy(() => {
        optimizer.minimize(() => {
          const h = gelu(layerNorm(dense(x, w as unknown as tf.Tensor2D)))
          const a = attention(tf.reshape(h, [8, 8]) as tf.Tensor2D, tf.reshape(silu(h), [8, 8]) as tf.Tensor2D, tf.reshape(h, [8, 8]) as tf.Tensor2D, { batch: 2, heads: 2 })
          return tf.mean(tf.square(a))
        }, false, [w])
      })
    step()
    const count = tf.memory().numTensors
    for (let i = 0; i < 3; i++) step()
    assert.equal(tf.memory().numTensors, count)
    tf.dispose([w, x])
    optimizer.dispose()
  })
})
