// The layering rules of docs/architecture.md, checked on the source: Electron only in electron/,
// a browser-safe contract, ML code that never imports app code, a renderer that reaches the main
// side only through the contract.
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path))
    else if (/\.(ts|svelte)$/.test(name)) out.push(path)
  }
  return out
}

/** Every module specifier a file imports (static, dynamic and re-exports), with whether it is type-only. */
function importsOf(file: string): { specifier: string; typeOnly: boolean; resolved: string | null }[] {
  const text = readFileSync(file, 'utf8')
  const found: { specifier: string; typeOnly: boolean; resolved: string | null }[] = []
  const patterns = [/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm, /import\(\s*'([^']+)'\s*\)/g]
  for (const match of text.matchAll(patterns[0]!)) {
    const specifier = match[3]!
    found.push({ specifier, typeOnly: !!match[2], resolved: specifier.startsWith('.') ? resolve(dirname(file), specifier) : null })
  }
  for (const match of text.matchAll(patterns[1]!)) {
    const specifier = match[1]!
    found.push({ specifier, typeOnly: false, resolved: specifier.startsWith('.') ? resolve(dirname(file), specifier) : null })
  }
  return found
}

const area = (name: string) => join(repoRoot, name)
const inside = (path: string, dir: string) => !relative(dir, path).startsWith('..')

function violations(dir: string, bad: (imp: ReturnType<typeof importsOf>[number]) => boolean): string[] {
  return sourceFiles(area(dir)).flatMap((file) =>
    importsOf(file)
      .filter(bad)
      .map((imp) => `${relative(repoRoot, file)} imports ${imp.specifier}`),
  )
}

describe('architecture', () => {
  it('only src-main/electron loads Electron at run time', () => {
    const outside = ['src-main/core', 'src-main/contract', 'src-main/web-host', 'src-main/ml', 'src-main/util', 'src-main/cli', 'src-renderer']
    for (const dir of outside) assert.deepEqual(violations(dir, (i) => i.specifier === 'electron' && !i.typeOnly), [], dir)
  })

  it('the contract is browser-safe: everything it loads, transitively, imports only zod', () => {
    // The renderer and the sandboxed preload load it, so no node: built-ins and no other packages.
    const seen = new Set<string>()
    const problems: string[] = []
    const visit = (file: string): void => {
      if (seen.has(file)) return
      seen.add(file)
      for (const imp of importsOf(file)) {
        if (imp.resolved) visit(imp.resolved)
        else if (imp.specifier !== 'zod' && !imp.typeOnly) problems.push(`${relative(repoRoot, file)} imports ${imp.specifier}`)
      }
    }
    for (const file of sourceFiles(area('src-main/contract'))) visit(file)
    assert.deepEqual(problems, [])
  })

  it('ML code never imports app code', () => {
    const app = ['core', 'contract', 'electron', 'web-host'].map((d) => area(`src-main/${d}`))
    assert.deepEqual(violations('src-main/ml', (i) => i.resolved !== null && app.some((d) => inside(i.resolved!, d))), [])
  })

  it('the renderer reaches src-main only through the contract', () => {
    const main = area('src-main')
    const contract = area('src-main/contract')
    assert.deepEqual(
      violations('src-renderer', (i) => i.resolved !== null && inside(i.resolved, main) && !inside(i.resolved, contract)),
      [],
    )
  })

  it('the core and the web host do not import Electron code', () => {
    const electronDir = area('src-main/electron')
    for (const dir of ['src-main/core', 'src-main/web-host']) {
      assert.deepEqual(violations(dir, (i) => i.resolved !== null && inside(i.resolved, electronDir)), [], dir)
    }
  })
})
