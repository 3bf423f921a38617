// Shared pieces of the contract fuzzers (tests/unit/reliability-fuzz-dispatch.test.ts over the core's
// dispatch, tests/integration/reliability-fuzz-websocket.test.ts over the real web host):
//  - payload generators (fast-check): valid params per channel mutated with hostile values, random
//    values of every kind, deep nesting, huge strings, prototype-pollution keys;
//  - a workspace beside a "sentinel" folder that must stay untouched, with links inside the workspace
//    pointing at it;
//  - a spy on node:fs that records every path the process reads or writes while the fuzzer runs;
//  - the checks every reply must pass.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { ERROR_CODES, REQUEST_CHANNELS } from '../../src-main/contract/index.ts'
import type { RequestChannel } from '../../src-main/contract/index.ts'
import { Gallery } from '../../src-main/core/gallery/gallery.ts'
import type { ImageMeta } from '../../src-main/core/gallery/image-meta.ts'
import { createLogger } from '../../src-main/core/logger.ts'
import { StudioCore } from '../../src-main/core/studio-core.ts'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Fixed seed: a failure names its run and reproduces. Override with FUZZ_SEED. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261126)

/** Runs per channel; `npm run fuzz` raises it with FUZZ_RUNS. */
export function runsPerChannel(fallback: number): number {
  const asked = Number(process.env.FUZZ_RUNS)
  return Number.isInteger(asked) && asked > 0 ? asked : fallback
}

// ---- the file system around the workspace ------------------------------------------------------

export interface FuzzWorld {
  base: string
  home: string
  workspace: string
  /** a folder outside the workspace that nothing may read or change */
  sentinel: string
  /** ids of the gallery images seeded in the workspace */
  galleryIds: string[]
  /** workspace-relative PNG paths of those images */
  galleryPaths: string[]
  /** a folder of captioned images outside the workspace: what a dataset import legitimately names */
  pictures: string
  remove(): Promise<void>
}

/**
 * base/home/ws: the workspace (HOME is base/home); base/outside: the sentinel, with files and a
 * sub-folder; links inside the workspace point at it (a file and folders), so paths through them
 * must be refused. A few gallery images make ids and image paths real.
 */
export async function createFuzzWorld(): Promise<FuzzWorld> {
  const base = await mkdtemp(join(tmpdir(), 'di-studio-fuzz-'))
  const home = join(base, 'home')
  const workspace = join(home, 'ws')
  const sentinel = join(base, 'outside')
  await mkdir(join(sentinel, 'nested'), { recursive: true })
  await writeFile(join(sentinel, 'passwd'), 'root:x:0:0:sentinel:/root:/bin/sh\n')
  await writeFile(join(sentinel, 'secret.json'), '{"secret":true}\n')
  await writeFile(join(sentinel, 'secret.png'), Buffer.from('89504e470d0a1a0a', 'hex'))
  await writeFile(join(sentinel, 'nested', 'deep.txt'), 'deep\n')
  for (const sub of ['runs', 'gallery', 'preferences', 'jobs', 'exports', 'models']) await mkdir(join(workspace, sub), { recursive: true })
  // links planted inside the workspace (as a careless user or another program might)
  await symlink(sentinel, join(workspace, 'exports', 'out-link'))
  await symlink(sentinel, join(workspace, 'models', 'out-model'))
  await symlink(join(sentinel, 'secret.png'), join(workspace, 'gallery', 'out-image.png'))
  await symlink(sentinel, join(workspace, 'runs', 'out-run'))

  const pictures = join(base, 'pictures')
  await mkdir(pictures)
  await writeFile(join(pictures, 'dot.png'), Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201e2c5a26b0000000049454e44ae426082', 'hex'))
  await writeFile(join(pictures, 'dot.txt'), 'a dot\n')

  const gallery = new Gallery(join(workspace, 'gallery'))
  await gallery.open()
  const meta = (prompt: string, seed: number): ImageMeta => ({
    prompt, seed, model: 'fuzz', modelPath: 'models/fuzz', modelSha256: '0'.repeat(64), modelKind: 'generator',
    sampler: 'one-step', steps: 1, cfg: 1, width: 4, height: 4, createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seed)).toISOString(), generationMs: 1,
  })
  const metas = [meta('a red apple', 1), meta('a red apple', 2), meta('a blue car', 3), meta('a blue car', 4)]
  const added = await gallery.addImages(new Float32Array(metas.length * 4 * 4 * 3).fill(0.25), metas)
  return {
    base, home, workspace, sentinel, pictures,
    galleryIds: added.map((e) => e.id),
    galleryPaths: added.map((e) => `gallery/${e.file}`),
    remove: () => rm(base, { recursive: true, force: true }),
  }
}

/** Every file and folder under `dir` with its size, mtime and content hash (links are not followed). */
export async function snapshotTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const walk = async (path: string): Promise<void> => {
    for (const name of (await readdir(path)).sort()) {
      const full = join(path, name)
      const info = await stat(full)
      const key = relative(dir, full)
      if (info.isDirectory()) {
        out[`${key}/`] = `dir ${info.mtimeMs}`
        await walk(full)
      } else {
        out[key] = `${info.size} ${info.mtimeMs} ${createHash('sha256').update(await readFile(full)).digest('hex')}`
      }
    }
  }
  await walk(dir)
  return out
}

// ---- the core under test -----------------------------------------------------------------------

export interface FuzzCore {
  core: StudioCore
  /** every absolute path the core's Workspace.resolve returned */
  resolvedPaths: string[]
  /** jobs.start requests the core accepted (recorded, not run) */
  startedJobs: unknown[]
  /** error-level log lines: a handler that failed instead of refusing */
  errorLogs: string[]
}

/**
 * A core on the world's workspace. Accepted jobs are recorded instead of run in workers (the fuzz is
 * about requests, not the work), and every path Workspace.resolve hands out is recorded.
 */
export async function openFuzzCore(world: FuzzWorld): Promise<FuzzCore> {
  const errorLogs: string[] = []
  const logger = createLogger('fuzz', (level, _scope, message) => {
    if (level === 'error') errorLogs.push(message.slice(0, 500))
  })
  const core = await StudioCore.create({ workspace: { root: world.workspace, source: 'flag' }, host: 'web', logger })
  const startedJobs: unknown[] = []
  core.jobs.start = ((request: unknown) => {
    startedJobs.push(request)
    return { jobId: `fuzz-job-${startedJobs.length}` }
  }) as typeof core.jobs.start
  const resolvedPaths: string[] = []
  const workspace = core.workspace
  const resolveInside = workspace.resolve.bind(workspace)
  workspace.resolve = (clientPath: string) => {
    const path = resolveInside(clientPath)
    resolvedPaths.push(path)
    return path
  }
  return { core, resolvedPaths, startedJobs, errorLogs }
}

/** A settings change naming a workspace would move the studio to another folder: tested on its own. */
export function withoutWorkspaceSwitch(channel: RequestChannel, params: unknown): unknown {
  if (channel !== 'settings.update' || typeof params !== 'object' || params === null) return params
  if (typeof (params as { workspace?: unknown }).workspace !== 'string') return params
  const { workspace: _dropped, ...rest } = params as Record<string, unknown>
  return rest
}

/** Per-channel counts of what a fuzzer tried and how the studio answered. */
export class Tally {
  readonly byChannel: Record<string, { tried: number; ok: number; codes: Record<string, number> }> = {}

  count(channel: string, reply: { ok: boolean; error?: { code: string } }): void {
    const t = (this.byChannel[channel] ??= { tried: 0, ok: 0, codes: {} })
    t.tried++
    if (reply.ok) t.ok++
    else t.codes[reply.error!.code] = (t.codes[reply.error!.code] ?? 0) + 1
  }

  get total(): number {
    return Object.values(this.byChannel).reduce((n, t) => n + t.tried, 0)
  }

  lines(): string[] {
    return Object.entries(this.byChannel).map(([channel, t]) =>
      `  ${channel.padEnd(28)} ${String(t.tried).padStart(6)} tried, ${String(t.ok).padStart(5)} accepted, refused: ${JSON.stringify(t.codes)}`)
  }
}

// ---- spying on node:fs -------------------------------------------------------------------------

export interface FsAccess { op: string; path: string; write: boolean }

const WRITE_OPS = new Set(['writeFile', 'appendFile', 'mkdir', 'rm', 'rmdir', 'unlink', 'rename', 'copyFile', 'cp', 'symlink', 'link', 'truncate', 'utimes', 'chmod', 'chown', 'mkdtemp',
  'writeFileSync', 'appendFileSync', 'mkdirSync', 'rmSync', 'rmdirSync', 'unlinkSync', 'renameSync', 'copyFileSync', 'cpSync', 'symlinkSync', 'linkSync', 'truncateSync', 'utimesSync', 'chmodSync', 'chownSync', 'mkdtempSync', 'createWriteStream'])
const PATH_OPS = ['readFile', 'writeFile', 'appendFile', 'open', 'opendir', 'readdir', 'stat', 'lstat', 'access', 'realpath', 'readlink', 'mkdir', 'rm', 'rmdir', 'unlink', 'rename', 'copyFile', 'cp', 'symlink', 'link', 'truncate', 'utimes', 'chmod', 'chown', 'mkdtemp']
const SYNC_OPS = ['existsSync', 'createReadStream', 'createWriteStream', ...PATH_OPS.map((op) => `${op}Sync`)]
const SOURCE_READ_OPS = new Set(['copyFile', 'cp', 'symlink', 'link', 'copyFileSync', 'cpSync', 'symlinkSync', 'linkSync'])
/** ops whose second argument is a path too (the destination) */
const TWO_PATH_OPS = new Set(['rename', 'copyFile', 'cp', 'symlink', 'link', 'renameSync', 'copyFileSync', 'cpSync', 'symlinkSync', 'linkSync'])

function pathOf(arg: unknown): string | null {
  if (typeof arg === 'string') return resolve(arg)
  if (arg instanceof URL && arg.protocol === 'file:') return fileURLToPath(arg)
  if (Buffer.isBuffer(arg)) return resolve(arg.toString())
  return null
}

function opensForWrite(op: string, args: unknown[]): boolean {
  if (op !== 'open' && op !== 'openSync') return false
  const flags = args[1]
  return typeof flags === 'number' ? (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT)) !== 0 : typeof flags === 'string' && /[wa+]/.test(flags)
}

/**
 * Records every path given to node:fs (callback, promise and sync forms, and the live ESM bindings
 * other modules imported) until the returned stop() is called.
 */
export function spyOnFileSystem(): { accesses: FsAccess[]; stop: () => void } {
  const accesses: FsAccess[] = []
  const restore: (() => void)[] = []
  const wrap = (target: Record<string, unknown>, op: string, recordedAs: string) => {
    const original = target[op]
    if (typeof original !== 'function') return
    const spy = function (this: unknown, ...args: unknown[]) {
      const write = WRITE_OPS.has(recordedAs) || opensForWrite(recordedAs, args)
      const first = pathOf(args[0])
      // rename moves its source (a write); copies and links only read or name theirs
      if (first) accesses.push({ op: recordedAs, path: first, write: write && !SOURCE_READ_OPS.has(recordedAs) })
      if (TWO_PATH_OPS.has(recordedAs)) {
        const second = pathOf(args[1])
        if (second) accesses.push({ op: recordedAs, path: second, write: true })
      }
      return (original as (...a: unknown[]) => unknown).apply(this, args)
    }
    target[op] = spy
    restore.push(() => (target[op] = original))
  }
  const fsModule = fs as unknown as Record<string, unknown>
  for (const op of PATH_OPS) {
    wrap(fs.promises as unknown as Record<string, unknown>, op, op)
    wrap(fsModule, op, op)
  }
  for (const op of SYNC_OPS) wrap(fsModule, op, op)
  syncBuiltinESMExports()
  return {
    accesses,
    stop: () => {
      for (const undo of restore.reverse()) undo()
      syncBuiltinESMExports()
    },
  }
}

export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))
}

const SOURCE_FOLDER_CHECK_OPS = new Set(['stat', 'realpath', 'access'])

/**
 * Accesses that break the rule "nothing outside the workspace on a client's behalf": any write outside
 * it, any access to the sentinel, any read outside the workspace and the app's own files (code and
 * the shipped resources, read-only; `alsoReadable`: e.g. the web host's built renderer).
 */
export function accessesOutside(accesses: FsAccess[], world: FuzzWorld, alsoReadable: string[] = []): FsAccess[] {
  return accesses.filter((a) => {
    // The one sanctioned look outside: a dataset import's source folder, named by the client, is checked
    // in the core (exists, a folder, readable, not the workspace's) with stat, realpath and access alone;
    // its files are read in the job's worker thread, read-only. Never a write, never a read of contents here.
    if (!a.write && SOURCE_FOLDER_CHECK_OPS.has(a.op) && !isInside(world.workspace, a.path)) return false
    if (isInside(world.sentinel, a.path)) return true
    if (isInside(world.workspace, a.path)) return false
    if (a.write) return true
    return ![repoRoot, ...alsoReadable].some((root) => isInside(root, a.path))
  })
}

// ---- payloads ----------------------------------------------------------------------------------

/** Strings that try to reach outside the workspace, or to break parsing, for one world. */
export function hostileStrings(world: FuzzWorld): string[] {
  const up = relative(world.workspace, world.sentinel).split(sep).join('/') // ../../outside
  return [
    '../../etc/passwd', '../../../../../../../../etc/passwd', '/etc/passwd', 'C:\\Windows\\win.ini', '\\\\server\\share\\x',
    '..\\..\\..\\etc\\passwd', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2f..%2fetc%2fpasswd', '%252e%252e%252f', '....//....//etc/passwd',
    'gallery/../../../etc/passwd', 'runs/../../outside', 'file:///etc/passwd', 'studio-file://workspace/../../etc/passwd',
    `${up}/passwd`, `${up}/secret.json`, `${up}/nested/deep.txt`, `${up}/new-file.json`, join(world.sentinel, 'passwd'), join(world.sentinel, 'new-dir'),
    world.sentinel, world.workspace, world.home, `${world.workspace}/../outside/passwd`,
    'exports/out-link/new.json', 'exports/out-link', 'models/out-model', 'gallery/out-image.png', 'runs/out-run', 'out-run', 'exports/out-link/nested/deep.txt',
    'a\0b', 'gallery/\0../../etc/passwd', '\0', '', ' ', '.', '..', './', '/', '~', '~/.ssh/id_rsa', '$HOME/.bashrc', '${HOME}',
    '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf',
    'reference', 'demo', 'A'.repeat(65), 'A'.repeat(1025), 'x'.repeat(5000), '\u202e\u0000\ud800', '😀'.repeat(40), '<script>alert(1)</script>', "'; DROP TABLE x; --",
    'CON', 'NUL', 'aux.png', 'a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q.png', ...world.galleryPaths.slice(0, 2), ...world.galleryIds.slice(0, 2),
  ]
}

const hostileNumbers = [NaN, Infinity, -Infinity, -0, -1, 0.5, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, -(2 ** 31) - 1, 0xffff_ffff + 1, Number.MIN_VALUE]

/** A value nested `depth` levels deep (arrays or objects). */
export function deeplyNested(depth: number, kind: 'array' | 'object'): unknown {
  let value: unknown = 'bottom'
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { a: value }
  return value
}

/** An object with own keys that pollute prototypes if merged carelessly (as JSON.parse makes them). */
function pollutingObject(base: unknown): unknown {
  const o: Record<string, unknown> = typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...(base as object) } : {}
  const own = (key: string, value: unknown) => Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true })
  own('__proto__', { polluted: 'yes', isAdmin: true })
  own('constructor', { prototype: { polluted: 'yes' } })
  own('prototype', { polluted: 'yes' })
  return o
}

export function hostileValue(world: FuzzWorld): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...hostileStrings(world)) },
    { weight: 2, arbitrary: fc.constantFrom(...hostileNumbers) },
    { weight: 2, arbitrary: fc.constantFrom(null, undefined, true, false, 0, '', [], {}, [[]], [null], { '': '' }) },
    { weight: 1, arbitrary: fc.integer({ min: 2, max: 3000 }).chain((d) => fc.constantFrom(deeplyNested(d, 'array'), deeplyNested(d, 'object'))) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 200_000 }).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => Array.from({ length: n }, (_, i) => `id-${i}`)) },
    { weight: 1, arbitrary: fc.constant(null).map(() => pollutingObject({})) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
  )
}

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', '', ' ', 'extra', 'params', 'kind', 'path', 'x'.repeat(300), '\0']

/** Valid params for each channel, the starting points of mutation. Channels not listed start from {}. */
export function validTemplates(world: FuzzWorld): Partial<Record<RequestChannel, unknown[]>> {
  const [idA, idB] = world.galleryIds
  const [pathA, pathB] = world.galleryPaths
  return {
    'app.getBackendReport': [{}],
    'app.getWorkspace': [{}],
    'settings.get': [{}],
    'settings.update': [{ tfBackend: 'auto', onnxThreads: 2, jobsAtOnce: 1 }, { onnxThreads: 0 }],
    'jobs.listKinds': [{}],
    'jobs.list': [{}],
    'jobs.start': [
      { kind: 'demo', params: { samples: 1000, chunks: 1, saveResultAs: 'results/pi.json' } },
      { kind: 'score-images', params: { images: [{ path: pathA, prompt: 'a red apple' }], rewards: ['brightness'] } },
      { kind: 'generate-gallery', params: { models: [{ path: 'models/none' }], prompts: ['a cat'], seeds: [1] } },
      { kind: 'onnx-import', params: { file: 'models/x.onnx', name: 'x', tokenizerFrom: 'reference' } },
      { kind: 'gallery-regenerate', params: { ids: [idA], save: false } },
      { kind: 'preference-train', params: { hidden: 0, seed: 1 } },
      { kind: 'distar-train', params: { resume: 'run-1' } },
      { kind: 'dataset-import', params: { folder: world.pictures, name: 'dots', imageSize: 32, fit: 'pad', background: '#ffffff', layout: 'kohya' } },
      { kind: 'distar-train', params: { config: { baseModelDir: 'models/base', prompts: { file: 'prompts.txt' }, reward: { kind: 'brightness' } } } },
      { kind: 'distar-train', params: { config: { generatorInit: 'runs/old/checkpoints/step-50', reward: { kind: 'brightness' } } } },
    ],
    'jobs.cancel': [{ jobId: 'job-1' }],
    'jobs.control': [{ jobId: 'job-1', control: { type: 'pause' } }, { jobId: 'job-1', control: { type: 'set', values: { rewardWeight: 0.5 } } }],
    'gallery.list': [{ text: 'apple', order: 'oldest', offset: 0, limit: 10 }, { model: 'fuzz', seed: 1, from: '2026-01-01', to: '2026-12-31' }],
    'gallery.get': [{ id: idA }],
    'gallery.facets': [{}],
    'gallery.delete': [{ ids: [idA] }],
    'gallery.export': [{ ids: [idA, idB], folder: 'exports/fuzz' }, { ids: [idB] }],
    'runs.list': [{}],
    'runs.open': [{ runId: 'run-1' }],
    'runs.delete': [{ runId: 'run-1' }],
    'preferences.nextPair': [{}, { skip: [{ imageA: pathA, imageB: pathB }] }],
    'preferences.choose': [{ prompt: 'a red apple', imageA: pathA, imageB: pathB, winner: 'A' }, { prompt: 'a red apple', imageA: pathA, imageB: pathB, winner: 'tie' }],
    'preferences.status': [{}],
    'preferences.undo': [{ id: 'choice-1' }],
    'models.list': [{}],
    'prompts.check': [{ model: 'reference', prompts: ['a red apple', 'kangaroo'] }],
    'prompts.emoji': [{ model: 'reference' }, { model: 'models/none' }],
    'datasets.list': [{}],
    'datasets.open': [{ id: 'builtin-emoji', offset: 0, limit: 10, split: 'validation' }, { id: 'no-such-dataset' }],
    'datasets.delete': [{ id: 'no-such-dataset' }, { id: 'builtin-emoji' }],
    'datasets.pickFolder': [{}],
  }
}

type Mutation = { at: number; op: 'replace' | 'delete' | 'add-key' | 'wrap' | 'pollute'; value: unknown; key: string }

/** Paths (lists of keys) to every value inside `root`, the root included. */
function allPaths(root: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = [], depth = 0): (string | number)[][] {
  out.push(prefix)
  if (depth < 8 && typeof root === 'object' && root !== null) {
    for (const [k, v] of Object.entries(root)) allPaths(v, [...prefix, Array.isArray(root) && /^\d+$/.test(k) ? Number(k) : k], out, depth + 1)
  }
  return out
}

/** Applies one mutation to `copy` (changed in place where it can be) and returns the result. */
function applyMutation(copy: unknown, m: Mutation): unknown {
  const paths = allPaths(copy)
  const path = paths[m.at % paths.length]!
  const change = (current: unknown): unknown => {
    switch (m.op) {
      case 'replace':
        return m.value
      case 'wrap':
        return [current]
      case 'pollute':
        return pollutingObject(current)
      case 'add-key': {
        if (typeof current !== 'object' || current === null) return m.value
        const o = Array.isArray(current) ? [...current] : { ...(current as object) }
        Object.defineProperty(o, m.key, { value: m.value, enumerable: true, configurable: true, writable: true })
        return o
      }
      case 'delete':
        return undefined
    }
  }
  if (path.length === 0) return m.op === 'delete' ? undefined : change(copy)
  let parent = copy as Record<string | number, unknown>
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>
  const last = path[path.length - 1]!
  const next = change(parent[last])
  if (m.op === 'delete') {
    if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1)
    else delete parent[last]
  } else Object.defineProperty(parent, last, { value: next, enumerable: true, configurable: true, writable: true })
  return copy
}

/** Keys whose values the core turns into file paths or looks up by name. */
const NAME_KEYS = new Set(['saveResultAs', 'path', 'file', 'folder', 'imageA', 'imageB', 'baseModelDir', 'generatorInit', 'modelDir', 'tokenizerFrom', 'runId', 'resume', 'id', 'ids', 'jobId', 'workspace'])

/** Paths to the values in `template` that name files, folders, runs, jobs or images. */
function namePaths(template: unknown): (string | number)[][] {
  return allPaths(template).filter((path) => {
    const last = path[path.length - 1]
    const parent = path[path.length - 2]
    return (typeof last === 'string' && NAME_KEYS.has(last)) || (typeof last === 'number' && typeof parent === 'string' && NAME_KEYS.has(parent))
  })
}

/** Valid params with exactly one name replaced by a hostile string: the path-escape attempts. */
function hostileNames(templates: unknown[], world: FuzzWorld): fc.Arbitrary<unknown> | null {
  const targets = templates.flatMap((template) => namePaths(template).map((path) => ({ template, path })))
  if (targets.length === 0) return null
  return fc.tuple(fc.constantFrom(...targets), fc.constantFrom(...hostileStrings(world))).map(([{ template, path }, value]) => {
    const copy = structuredClone(template) as Record<string | number, unknown>
    let parent = copy
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>
    parent[path[path.length - 1]!] = value
    return copy
  })
}

/** Params for one channel: mostly valid params with one to three hostile changes, plus wholly random values. */
export function paramsArbitrary(channel: RequestChannel, world: FuzzWorld, opts: { jsonOnly: boolean }): fc.Arbitrary<unknown> {
  const templates = validTemplates(world)[channel] ?? [{}]
  const mutation: fc.Arbitrary<Mutation> = fc.record({
    at: fc.nat(),
    op: fc.constantFrom('replace', 'replace', 'replace', 'delete', 'add-key', 'wrap', 'pollute'),
    value: hostileValue(world),
    key: fc.constantFrom(...HOSTILE_KEYS),
  })
  const mutated = fc.tuple(fc.constantFrom(...templates), fc.array(mutation, { minLength: 1, maxLength: 3 }))
    // one copy up front: cloning again after a mutation could meet a 3,000-deep value
    .map(([template, ms]) => ms.reduce<unknown>((value, m) => applyMutation(value, m), structuredClone(template)))
  const random = opts.jsonOnly
    ? fc.jsonValue({ maxDepth: 4 })
    // IPC (structured clone) also carries Maps, Sets, Dates, BigInts and typed arrays
    : fc.anything({ maxDepth: 4, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true, withBoxedValues: true })
  const names = hostileNames(templates, world)
  return fc.oneof(
    ...(names ? [{ weight: 5, arbitrary: names }] : []),
    { weight: 6, arbitrary: mutated },
    { weight: 2, arbitrary: random },
    { weight: 1, arbitrary: hostileValue(world) },
    { weight: 1, arbitrary: fc.constantFrom(...templates) },
  )
}

/** Channel names that are not in the contract, or nearly are. */
export function unknownChannelArbitrary(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom('', ' ', 'jobs', 'jobs.', 'jobs.start ', 'JOBS.START', 'jobs.start\0', '__proto__', 'constructor', 'toString', 'hasOwnProperty',
      'app.getWorkspace.x', '../app.getWorkspace', 'x'.repeat(199), 'x'.repeat(5000), 'job.done', 'job.progress', 'eval', 'require'),
    fc.string({ maxLength: 40 }).filter((s) => !(REQUEST_CHANNELS as readonly string[]).includes(s)),
    fc.constantFrom(null, undefined, 42, NaN, true, [], {}, ['jobs.list'], { channel: 'jobs.list' }),
  )
}

// ---- replies -----------------------------------------------------------------------------------

let longestMessage = 0
/** The longest error message seen so far (reported by the fuzzers). */
export function longestErrorMessage(): number {
  return longestMessage
}

/** Why a reply to a request is not acceptable, or null. Bad input must get a clear, specific error. */
export function replyProblem(reply: unknown): string | null {
  if (typeof reply !== 'object' || reply === null) return `reply is ${String(reply)}`
  const r = reply as { ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } }
  if (r.ok === true) return 'result' in r ? null : 'ok reply without result'
  if (r.ok !== false) return 'reply without ok'
  const code = r.error?.code
  const message = r.error?.message
  if (typeof code !== 'string' || !(ERROR_CODES as readonly string[]).includes(code)) return `unknown error code ${String(code)}`
  if (code === 'internal') return `internal error (a crash in a handler): ${String(message).slice(0, 300)}`
  if (typeof message !== 'string' || message.trim().length < 8) return `error without a message (${code})`
  // Some refusals quote the value they refuse (a path of up to a few thousand characters); a whole
  // echoed payload would not be a clear error.
  if (message.length > 20_000) return `error message of ${message.length} characters (echoes the payload?)`
  longestMessage = Math.max(longestMessage, message.length)
  return null
}

/** Object.prototype must come out of the fuzz exactly as it went in. */
export function prototypeIsClean(): string | null {
  const probe = {} as Record<string, unknown>
  for (const key of ['polluted', 'isAdmin']) if (key in probe) return `Object.prototype.${key} was set`
  if (Object.getOwnPropertyNames(Object.prototype).length !== OBJECT_PROTOTYPE_KEYS) return 'Object.prototype gained properties'
  return null
}
const OBJECT_PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).length
