// Finds the benchmark area files: every src-main/bench/*.ts (the harness lives in harness/).
import { readdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'
import { isBenchModule, type BenchEntry } from './registry.ts'

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..')

export interface DiscoveredBenches {
  entries: { area: string; entry: BenchEntry }[]
  /** area files that failed to load or export the wrong shape: reported, never fatal */
  problems: string[]
}

export async function discoverBenches(dir: string = benchDir): Promise<DiscoveredBenches> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort()
  const entries: DiscoveredBenches['entries'] = []
  const problems: string[] = []
  for (const file of files) {
    const area = file.replace(/\.ts$/, '')
    try {
      const mod: unknown = await import(pathToFileURL(join(dir, file)).href)
      if (!isBenchModule(mod)) {
        problems.push(`${file}: does not export \`benches: BenchEntry[]\``)
        continue
      }
      for (const entry of mod.benches) entries.push({ area, entry })
    } catch (err) {
      problems.push(`${file}: failed to load (${err instanceof Error ? err.message : String(err)})`)
    }
  }
  const seen = new Set<string>()
  for (const { area, entry } of entries) {
    if (seen.has(entry.name)) problems.push(`${area}: duplicate bench name "${entry.name}"`)
    seen.add(entry.name)
  }
  return { entries, problems }
}
