// One .zip of workspace files for a browser download (the web host's "Export these": the exports folder
// may be on another machine's disk). Files are fetched through the authenticated workspace-file route and
// stored as they are, not recompressed: PNGs are compressed already, and their metadata chunks stay byte
// for byte what the studio wrote.
import { Zip, ZipPassThrough } from 'fflate'

/** How many files are fetched at once (the host is local; a few in flight hide the round trips). */
const FETCHES_IN_FLIGHT = 6

export type FileFetcher = (path: string) => Promise<Uint8Array>

/** The last segment of a workspace-relative path: the name a file has inside the zip. */
function fileName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/**
 * A zip holding each file under its own name, in the given order. Names must differ (gallery exports
 * are named by image id); a repeated name is refused rather than silently overwritten on unzip.
 */
export async function zipFiles(paths: string[], fetchFile: FileFetcher): Promise<Blob> {
  const names = paths.map(fileName)
  const repeated = names.find((n, i) => names.indexOf(n) !== i)
  if (repeated !== undefined) throw new Error(`Cannot zip two files named ${repeated}`)
  const parts: Uint8Array<ArrayBuffer>[] = []
  let failure: Error | null = null
  let finished = false
  const zip = new Zip((err, chunk, final) => {
    if (err) failure = err
    else parts.push(chunk as Uint8Array<ArrayBuffer>)
    if (final) finished = true
  })
  for (let i = 0; i < paths.length; i += FETCHES_IN_FLIGHT) {
    const batch = paths.slice(i, i + FETCHES_IN_FLIGHT)
    const contents = await Promise.all(batch.map(fetchFile))
    contents.forEach((data, j) => {
      const entry = new ZipPassThrough(names[i + j]!)
      zip.add(entry)
      entry.push(data, true)
    })
  }
  zip.end()
  // ZipPassThrough hands its bytes on as they are pushed: the archive is complete once end() returns
  if (failure) throw failure
  if (!finished) throw new Error('The zip did not finish')
  return new Blob(parts, { type: 'application/zip' })
}

/** Reads a workspace file through the page's file route (the session cookie authorises it). */
export function fetchWorkspaceFile(url: (path: string) => string): FileFetcher {
  return async (path) => {
    const response = await fetch(url(path))
    if (!response.ok) throw new Error(`Could not read ${path} for the zip (${response.status}: ${(await response.text()).slice(0, 200)})`)
    return new Uint8Array(await response.arrayBuffer())
  }
}
