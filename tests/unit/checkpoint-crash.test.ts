// Kills a process with SIGKILL while it saves checkpoints in a loop, then checks that the
// checkpoint on disk is always a complete, self-consistent pair: the last reported save or a
// newer one, never a mix, never unreadable.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadCheckpoint } from '../../src-main/ml/checkpoint/checkpoint.ts'
import { Rng } from '../../src-main/ml/util/rng.ts'

const checkpointModule = fileURLToPath(new URL('../../src-main/ml/checkpoint/checkpoint.ts', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../', import.meta.url)) // where `--import tsx` resolves

// The writer: saves version n with every tensor element equal to n, and reports each finished save.
const writerSource = `
import { saveCheckpoint } from ${JSON.stringify(checkpointModule)}
const dir = process.argv[1]
for (let n = Number(process.argv[2]); ; n++) {
  await saveCheckpoint(dir, { config: { version: n }, tensors: {
    w: { dtype: 'float32', shape: [512, 512], data: new Float32Array(512 * 512).fill(n) },
    b: { dtype: 'int32', shape: [64], data: new Int32Array(64).fill(n) },
  } })
  process.stdout.write('saved ' + n + '\\n')
}
`

/** Runs the writer from version `from` and SIGKILLs it `delayMs` after its first finished save. */
function runAndKill(dir: string, from: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', writerSource, dir, String(from)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let lastSaved = -1
    let stderr = ''
    let timer: NodeJS.Timeout | undefined
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      for (const m of chunk.matchAll(/saved (\d+)/g)) lastSaved = Number(m[1])
      if (lastSaved >= 0 && !timer) timer = setTimeout(() => child.kill('SIGKILL'), delayMs)
    })
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(lastSaved)
      else reject(new Error(`writer exited with ${code}: ${stderr}`))
    })
  })
}

test('SIGKILL at random moments during saves never leaves a broken or mixed checkpoint', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'ckpt-crash-'))
  const dir = join(root, 'ckpt')
  const rng = new Rng(2024)
  let next = 0
  let interrupted = 0
  try {
    for (let trial = 0; trial < 12; trial++) {
      const lastSaved = await runAndKill(dir, next, rng.int(0, 60))
      const leftovers = (await readdir(root)).filter((n) => n !== 'ckpt')
      if (leftovers.length > 0) interrupted++
      const { config, tensors } = await loadCheckpoint(dir, { expectShapes: { w: [512, 512], b: [64] } })
      const version = (config as { version: number }).version
      assert.ok(version >= lastSaved, `trial ${trial}: loaded version ${version} is older than the last finished save ${lastSaved}`)
      assert.ok(tensors.w!.data.every((v) => v === version) && tensors.b!.data.every((v) => v === version), `trial ${trial}: tensors and config from different saves`)
      next = version + 1
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
  t.diagnostic(`${interrupted} of 12 kills landed inside a save (leftover .incoming/.previous found and recovered)`)
})
