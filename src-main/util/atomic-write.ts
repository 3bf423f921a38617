// Crash-safe file writes: write to a temp file in the same folder, fsync, then rename over the target.
// rename(2) is atomic on one filesystem, so readers see either the old file or the complete new one,
// and a failed write (full disk, kill -9) never destroys the previous good file.
import { randomBytes } from 'node:crypto'
import { promises as fs, writeFileSync, renameSync, openSync, fsyncSync, closeSync, unlinkSync, mkdirSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'

function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
}

export async function atomicWriteFile(target: string, data: Uint8Array | string): Promise<void> {
  await fs.mkdir(dirname(target), { recursive: true })
  const tmp = tempPathFor(target)
  const handle = await fs.open(tmp, 'w')
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (err) {
    await handle.close().catch(() => {})
    await fs.unlink(tmp).catch(() => {})
    throw err
  }
  await handle.close()
  try {
    await fs.rename(tmp, target)
  } catch (err) {
    await fs.unlink(tmp).catch(() => {})
    throw err
  }
}

/** `mode` applies from the file's creation (e.g. 0o600 for a secret), not after it. */
export function atomicWriteFileSync(target: string, data: Uint8Array | string, mode = 0o666): void {
  mkdirSync(dirname(target), { recursive: true })
  const tmp = tempPathFor(target)
  try {
    const fd = openSync(tmp, 'w', mode)
    try {
      writeFileSync(fd, data)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, target)
  } catch (err) {
    try { unlinkSync(tmp) } catch { /* temp file may not exist */ }
    throw err
  }
}
