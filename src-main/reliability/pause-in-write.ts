// TEST-ONLY preload for the crash trials (npm run reliability -- crash): loaded into a training child with
// `node --import tsx --import <this file>` and DI_STUDIO_RELIABILITY_PAUSE=<phase>:<n>, it stops the n-th
// write of that phase half-way (for ever) and says so on stderr, so the parent's SIGKILL lands exactly
// inside the write. It wraps node:fs/promises in this process only; the app never loads it, and without
// the variable it changes nothing.
//
// Phases (what is left on disk when the kill comes):
//   checkpoint-incoming  the checkpoint's "<dir>.incoming" folder exists, still empty
//   checkpoint-model     half of model.safetensors written into "<dir>.incoming"
//   checkpoint-swap      "<dir>.incoming" complete and fsynced, not yet renamed into place
//   checkpoint-prune     an old checkpoint half deleted (its model.safetensors gone)
//   status-write         status.json's temp file written, not yet renamed over status.json
//   sample-write         a sample grid's temp PNG written, not yet renamed into place
//   metrics-append       half of a metrics.jsonl line appended
import { promises as fs, writeSync } from 'node:fs'
import { basename, join } from 'node:path'

export const PAUSE_ENV = 'DI_STUDIO_RELIABILITY_PAUSE'
export const PAUSE_PHASES = ['checkpoint-incoming', 'checkpoint-model', 'checkpoint-swap', 'checkpoint-prune', 'status-write', 'sample-write', 'metrics-append'] as const
export type PausePhase = (typeof PAUSE_PHASES)[number]
/** The stderr line announcing the pause; the parent kills on it. */
export const PAUSED_MARKER = 'reliability-paused'

function install(spec: string): void {
  const m = /^([a-z-]+):(\d+)$/.exec(spec)
  if (!m || !(PAUSE_PHASES as readonly string[]).includes(m[1]!)) throw new Error(`${PAUSE_ENV} must be <phase>:<n> with a phase of ${PAUSE_PHASES.join(', ')}; got ${spec}`)
  const phase = m[1] as PausePhase
  const at = Number(m[2])
  let seen = 0
  /** true when this is the n-th write of the phase: the caller then leaves the write half done and pauses */
  const hit = (p: PausePhase) => p === phase && ++seen === at
  const pause = (path: string): Promise<never> => {
    writeSync(2, `\n${PAUSED_MARKER} ${phase} ${path}\n`)
    return new Promise<never>(() => {})
  }

  const { mkdir, open, rename, rm } = fs
  fs.mkdir = (async (path: string, options?: unknown) => {
    const made = await mkdir(path, options as never)
    if (String(path).endsWith('.incoming') && hit('checkpoint-incoming')) await pause(String(path))
    return made
  }) as typeof fs.mkdir
  fs.rename = (async (from: string, to: string) => {
    if (String(from).endsWith('.incoming') && !String(to).endsWith('.deleting') && hit('checkpoint-swap')) await pause(String(from))
    if (basename(String(to)) === 'status.json' && hit('status-write')) await pause(String(from))
    if (/step-\d+\.png$/.test(String(to)) && hit('sample-write')) await pause(String(from))
    return rename(from, to)
  }) as typeof fs.rename
  fs.rm = (async (path: string, options?: unknown) => {
    // the old checkpoint folder, under its own name or renamed to "<name>.deleting" before the delete
    if (/^step-\d+(\.deleting)?$/.test(basename(String(path))) && hit('checkpoint-prune')) {
      await rm(join(String(path), 'model.safetensors'), { force: true })
      await pause(String(path))
    }
    return rm(path, options as never)
  }) as typeof fs.rm
  fs.open = (async (path: string, flags?: unknown, mode?: unknown) => {
    const handle = await open(path, flags as never, mode as never)
    const name = String(path)
    if (/\.incoming[/\\]model\.safetensors$/.test(name)) {
      const writeFile = handle.writeFile.bind(handle)
      handle.writeFile = (async (data: Uint8Array) => {
        if (!hit('checkpoint-model')) return writeFile(data)
        await handle.write(data.subarray(0, data.byteLength >> 1))
        await handle.sync()
        return pause(name)
      }) as typeof handle.writeFile
    } else if (basename(name) === 'metrics.jsonl') {
      const appendFile = handle.appendFile.bind(handle)
      handle.appendFile = (async (data: string) => {
        if (!hit('metrics-append')) return appendFile(data)
        await handle.write(data.slice(0, data.length >> 1))
        await handle.sync()
        return pause(name)
      }) as typeof handle.appendFile
    }
    return handle
  }) as typeof fs.open
}

const spec = process.env[PAUSE_ENV]
if (spec) install(spec)
