// Where the shipped resources/ folder (models, prompt lists) is: looked up from this file upwards, so
// the same code finds it from the source tree (src-main/util) and from the bundle (out/main).
import { existsSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'resources'))) return dir
  }
  return process.cwd()
}

let root: string | null = null

/** Absolute path of a path inside the project, e.g. resourcePath('resources', 'models', 'reference'). It may not exist. */
export function resourcePath(...parts: string[]): string {
  root ??= findProjectRoot()
  return join(root, ...parts)
}

/**
 * How run records (configs, model cards) name a file: relative to the project when it is inside it,
 * so committed records do not carry the absolute paths of the machine that trained them.
 */
export function projectRelativePath(path: string): string {
  root ??= findProjectRoot()
  const rel = relative(root, path)
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return path
  return rel.split(sep).join('/')
}
