// Checkpoints: a directory holding model.safetensors (the tensors) and config.json (whatever the
// model needs to rebuild itself: architecture, schedule, tokenizer), saved and loaded as a pair.
//
// Integrity: the safetensors __metadata__ carries a format tag and version, the sha256 of the data
// section (catches bit flips and truncation inside the data), the sha256 of the tensor table (names,
// dtypes, shapes: the header a flip can change while it still decodes) and the sha256 of config.json
// (binds the pair, so a config from another checkpoint or an edited one is refused).
//
// Atomicity: the new pair is written and fsynced in the sibling directory "<dir>.incoming", then
// swapped in with two renames (dir -> "<dir>.previous", incoming -> dir). A crash at any point
// leaves either the old or the new complete pair: between the two renames only "<dir>.previous"
// exists, and loadCheckpoint reads it; the next save restores it and removes leftovers.
// One writer per checkpoint directory at a time.

import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { CheckpointError } from './checkpoint-error.ts'
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.ts'

export { CheckpointError } from './checkpoint-error.ts'
export type { NamedTensor } from './safetensors.ts'

export const MODEL_FILE = 'model.safetensors'
export const CONFIG_FILE = 'config.json'
export const CHECKPOINT_FORMAT = 'di-studio-checkpoint'
export const CHECKPOINT_FORMAT_VERSION = '1'

export interface Checkpoint {
  config: unknown
  tensors: Record<string, NamedTensor>
}

const incomingDir = (dir: string) => `${dir}.incoming`
const previousDir = (dir: string) => `${dir}.previous`

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

const METADATA_KEYS = new Set(['format', 'format_version', 'sha256', 'config_sha256', 'tensors_sha256'])

/**
 * sha256 of the tensor table (name, dtype, shape, in name order). The data checksum does not cover
 * the header, where a flipped bit can rename a tensor and still decode.
 */
function tensorTableChecksum(tensors: Record<string, NamedTensor>): string {
  const table = Object.keys(tensors).sort().map((name) => [name, tensors[name]!.dtype, tensors[name]!.shape])
  return createHash('sha256').update(JSON.stringify(table)).digest('hex')
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path)
    return true
  } catch {
    return false
  }
}

async function writeDurably(path: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(path, 'wx')
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** fsync a directory so the renames and creations inside it survive a power cut. */
async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r')
  try {
    await handle.sync()
  } catch {
    // Some filesystems refuse fsync on directories; the renames are still atomic there.
  } finally {
    await handle.close()
  }
}

/**
 * Finishes or undoes a save that was interrupted by a crash: restores "<dir>.previous" if the
 * swap stopped half-way, and deletes any incomplete "<dir>.incoming". Called by every save.
 */
export async function recoverInterruptedSave(dir: string): Promise<void> {
  dir = resolve(dir) // "a/b/" must not turn "<dir>.incoming" into "a/b/.incoming"
  if (!(await exists(dir)) && (await exists(previousDir(dir)))) await fs.rename(previousDir(dir), dir)
  await fs.rm(incomingDir(dir), { recursive: true, force: true })
  await fs.rm(previousDir(dir), { recursive: true, force: true })
}

/**
 * Saves tensors and config as one atomic pair in `dir` (created if missing). Give every checkpoint
 * its own directory: other files already in `dir` (a model card, a sample grid) are copied into
 * the new directory, so a checkpoint saved into a big folder copies that whole folder.
 * Invalid input and every disk failure (full disk, permissions) throw CheckpointError, and the
 * previous checkpoint stays loadable.
 */
export async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  dir = resolve(dir)
  let configText: string
  try {
    configText = JSON.stringify(c.config, null, 2)
  } catch (err) {
    throw new CheckpointError(`Checkpoint config for ${dir} cannot be written as JSON: ${(err as Error).message}`)
  }
  if (configText === undefined) throw new CheckpointError(`Checkpoint config for ${dir} is missing (got ${typeof c.config})`)
  const configBytes = Buffer.from(configText + '\n', 'utf8')

  // Encode first: invalid tensors are refused before anything on disk is touched.
  const model = encodeSafetensors(c.tensors, (dataSection) => ({
    format: CHECKPOINT_FORMAT,
    format_version: CHECKPOINT_FORMAT_VERSION,
    sha256: sha256Hex(dataSection),
    config_sha256: sha256Hex(configBytes),
    tensors_sha256: tensorTableChecksum(c.tensors),
  }))

  const incoming = incomingDir(dir)
  try {
    await fs.mkdir(dirname(dir), { recursive: true })
    await recoverInterruptedSave(dir)
    if ((await exists(dir)) && !(await fs.stat(dir)).isDirectory()) throw new CheckpointError(`Cannot save a checkpoint to ${dir}: it exists and is not a directory`)
    await fs.mkdir(incoming)
    await writeDurably(join(incoming, MODEL_FILE), model)
    await writeDurably(join(incoming, CONFIG_FILE), configBytes)
    if (await exists(dir)) {
      for (const entry of await fs.readdir(dir)) {
        if (entry !== MODEL_FILE && entry !== CONFIG_FILE) await fs.cp(join(dir, entry), join(incoming, entry), { recursive: true, preserveTimestamps: true })
      }
    }
    await syncDir(incoming)
  } catch (err) {
    await fs.rm(incoming, { recursive: true, force: true }).catch(() => {})
    if (err instanceof CheckpointError) throw err
    throw new CheckpointError(`Saving checkpoint ${dir} failed, previous checkpoint kept: ${(err as Error).message}`)
  }

  // The swap. If it stops half-way, "<dir>.previous" is the complete old checkpoint: loadCheckpoint
  // reads it and the next save puts it back before starting.
  try {
    const hadPrevious = await exists(dir)
    if (hadPrevious) await fs.rename(dir, previousDir(dir))
    await fs.rename(incoming, dir)
    await syncDir(dirname(dir))
    if (hadPrevious) await fs.rm(previousDir(dir), { recursive: true, force: true })
  } catch (err) {
    throw new CheckpointError(`Saving checkpoint ${dir} failed while swapping it in (the previous checkpoint is still loadable): ${(err as Error).message}`)
  }
}

async function readCheckpointFile(dir: string, file: string): Promise<Buffer> {
  try {
    return await fs.readFile(join(dir, file))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CheckpointError(code === 'ENOENT' ? `Checkpoint ${dir} is incomplete: ${file} is missing` : `Cannot read ${join(dir, file)}: ${(err as Error).message}`)
  }
}

export type ShapeMap = Record<string, number[]>

export interface LoadCheckpointOptions {
  /**
   * The exact tensor names and shapes the caller's model needs, or a function that derives them
   * from the loaded config (e.g. from the architecture it records). A function that throws makes
   * the load fail with its message (as a CheckpointError).
   */
  expectShapes?: ShapeMap | ((config: unknown) => ShapeMap)
}

/**
 * Loads and verifies a checkpoint. Throws CheckpointError on missing, truncated, corrupt or
 * mismatched files; with expectShapes, also when any tensor is missing, extra or mis-shaped.
 */
export async function loadCheckpoint(dir: string, opts: LoadCheckpointOptions = {}): Promise<Checkpoint> {
  dir = resolve(dir)
  // Between the two renames of a save, only "<dir>.previous" holds a complete checkpoint.
  let from = dir
  if (!(await exists(dir))) {
    if (await exists(previousDir(dir))) from = previousDir(dir)
    else throw new CheckpointError(`No checkpoint at ${dir}`)
  }
  const modelBytes = await readCheckpointFile(from, MODEL_FILE)
  const configBytes = await readCheckpointFile(from, CONFIG_FILE)
  const what = join(basename(from), MODEL_FILE)
  const { tensors, metadata, dataSection } = decodeSafetensors(modelBytes, `Checkpoint ${what}`)

  if (metadata.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`Checkpoint ${what} is not a DI Studio checkpoint (no '${CHECKPOINT_FORMAT}' format tag in __metadata__)`)
  if (metadata.format_version !== CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(`Checkpoint ${what} has format version ${String(metadata.format_version)}; this build reads version ${CHECKPOINT_FORMAT_VERSION}`)
  }
  // A flipped bit in a metadata key (say, of tensors_sha256 itself) must not pass as an older checkpoint.
  const unknownKey = Object.keys(metadata).find((key) => !METADATA_KEYS.has(key))
  if (unknownKey !== undefined) throw new CheckpointError(`Checkpoint ${what} is corrupt: unknown __metadata__ field ${JSON.stringify(unknownKey.slice(0, 40))}`)
  if (sha256Hex(dataSection) !== metadata.sha256) throw new CheckpointError(`Checkpoint ${what} is corrupt: the tensor data does not match its sha256 checksum`)
  // Checkpoints from before tensors_sha256 have none; their header is checked only by decoding (and expectShapes).
  if (metadata.tensors_sha256 !== undefined && metadata.tensors_sha256 !== tensorTableChecksum(tensors)) {
    throw new CheckpointError(`Checkpoint ${what} is corrupt: its tensor names, types or shapes do not match their sha256 checksum`)
  }
  if (sha256Hex(configBytes) !== metadata.config_sha256) {
    throw new CheckpointError(`Checkpoint ${join(basename(from), CONFIG_FILE)} does not belong to ${MODEL_FILE} (checksum mismatch: edited, corrupt or copied from another checkpoint)`)
  }
  let config: unknown
  try {
    config = JSON.parse(configBytes.toString('utf8'))
  } catch (err) {
    throw new CheckpointError(`Checkpoint ${join(basename(from), CONFIG_FILE)} is not valid JSON: ${(err as Error).message}`)
  }
  if (opts.expectShapes) {
    let shapes: ShapeMap
    if (typeof opts.expectShapes === 'function') {
      try {
        shapes = opts.expectShapes(config)
      } catch (err) {
        if (err instanceof CheckpointError) throw err
        throw new CheckpointError(`Checkpoint ${join(basename(from), CONFIG_FILE)} does not describe a usable model: ${(err as Error).message}`)
      }
    } else {
      shapes = opts.expectShapes
    }
    checkShapes(tensors, shapes, what)
  }
  return { config, tensors }
}

function checkShapes(tensors: Record<string, NamedTensor>, expected: ShapeMap, what: string): void {
  const problems: string[] = []
  for (const [name, shape] of Object.entries(expected)) {
    const t = tensors[name]
    if (!t) problems.push(`missing tensor ${name} (expected shape [${shape.join(', ')}])`)
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`)
    }
  }
  for (const name of Object.keys(tensors)) {
    if (!Object.hasOwn(expected, name)) problems.push(`unexpected tensor ${name} (shape [${tensors[name]!.shape.join(', ')}])`)
  }
  if (problems.length > 0) throw new CheckpointError(`Checkpoint ${what} does not match the model: ${problems.join('; ')}`)
}
