// The browser's "Export these" download: one zip of the exported files, each stored byte for byte under
// its own name (src-renderer/src/lib/client/zip-files.ts), read back with fflate's own unzip.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { unzipSync } from 'fflate'
import { zipFiles } from '../../src-renderer/src/lib/client/zip-files.ts'

describe('zipping workspace files for a download', () => {
  it('holds every file under its name, bytes unchanged, whatever the batch boundaries', async () => {
    // 13 files: more than two batches of fetches, of sizes from empty to 200 KB
    const files = new Map<string, Uint8Array>()
    for (let i = 0; i < 13; i++) files.set(`exports/gallery-x/img-${i}.png`, new Uint8Array(randomBytes(i === 0 ? 0 : i * 15_000 + 7)))
    const fetched: string[] = []
    const blob = await zipFiles([...files.keys()], async (path) => {
      fetched.push(path)
      return files.get(path)!
    })
    assert.equal(blob.type, 'application/zip')
    const unzipped = unzipSync(new Uint8Array(await blob.arrayBuffer()))
    assert.deepEqual(Object.keys(unzipped), [...files.keys()].map((p) => p.slice(p.lastIndexOf('/') + 1)))
    for (const [path, data] of files) assert.ok(Buffer.from(unzipped[path.slice(path.lastIndexOf('/') + 1)]!).equals(Buffer.from(data)), path)
    assert.deepEqual(fetched.sort(), [...files.keys()].sort())
  })

  it('refuses two files of one name, and passes on a file that cannot be read', async () => {
    await assert.rejects(zipFiles(['a/x.png', 'b/x.png'], async () => new Uint8Array(1)), /two files named x\.png/)
    await assert.rejects(zipFiles(['a/x.png'], async () => { throw new Error('Could not read a/x.png') }), /Could not read a\/x\.png/)
  })
})
