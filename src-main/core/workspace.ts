// The workspace: the one folder the studio reads and writes (runs, gallery, preferences).
// Every path that arrives from a client is resolved here and refused if it would leave the folder.
import { existsSync, realpathSync } from 'node:fs'
import { mkdir, realpath } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { StudioError } from '../contract/index.ts'
import type { WorkspaceInfo } from '../contract/index.ts'

export const WORKSPACE_SUBDIRS = ['runs', 'gallery', 'preferences', 'jobs'] as const

/**
 * Where the workspace lives, by precedence: --workspace <dir>, DI_STUDIO_HOME, Electron's userData,
 * then ~/.di-studio.
 */
export function locateWorkspace(opts: {
  argv?: readonly string[]
  env?: NodeJS.ProcessEnv
  electronUserData?: string
  home?: string
}): WorkspaceInfo {
  const flag = readFlag(opts.argv ?? [], '--workspace')
  if (flag) return { root: resolve(flag), source: 'flag' }
  const fromEnv = opts.env?.DI_STUDIO_HOME
  if (fromEnv) return { root: resolve(fromEnv), source: 'env' }
  if (opts.electronUserData) return { root: resolve(opts.electronUserData), source: 'electron' }
  return { root: join(opts.home ?? homedir(), '.di-studio'), source: 'default' }
}

/** Value of `--name value` or `--name=value`, or undefined. */
export function readFlag(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === name) return argv[i + 1]
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1)
  }
  return undefined
}

export class Workspace {
  private constructor(
    readonly info: WorkspaceInfo,
    /** realpath of the root, so symlinks inside cannot be used to step outside */
    private readonly realRoot: string,
  ) {}

  get root(): string {
    return this.info.root
  }

  static async open(info: WorkspaceInfo): Promise<Workspace> {
    await mkdir(info.root, { recursive: true })
    for (const sub of WORKSPACE_SUBDIRS) await mkdir(join(info.root, sub), { recursive: true })
    return new Workspace(info, await realpath(info.root))
  }

  /** For a workspace another thread has already opened (job workers). */
  static attach(info: WorkspaceInfo): Workspace {
    return new Workspace(info, realpathSync(info.root))
  }

  /**
   * Absolute path for a client-supplied relative path, or a StudioError('forbidden').
   * Refuses absolute paths, `..` escapes and symlinks that point outside.
   */
  resolve(clientPath: string): string {
    if (typeof clientPath !== 'string' || clientPath.length === 0 || clientPath.includes('\0')) {
      throw new StudioError('forbidden', 'Path must be a non-empty string without NUL characters')
    }
    if (isAbsolute(clientPath) || /^[A-Za-z]:/.test(clientPath) || clientPath.startsWith('\\')) {
      throw new StudioError('forbidden', `Path ${JSON.stringify(clientPath)} must be relative to the workspace`)
    }
    const target = resolve(this.root, clientPath)
    if (!isInside(this.root, target) || target === this.root) {
      throw new StudioError('forbidden', `Path ${JSON.stringify(clientPath)} is outside the workspace`)
    }
    // Follow symlinks on the part that exists already.
    let existing = target
    while (!existsSync(existing)) existing = dirname(existing)
    if (!isInside(this.realRoot, realpathSync(existing)) && realpathSync(existing) !== this.realRoot) {
      throw new StudioError('forbidden', `Path ${JSON.stringify(clientPath)} leads outside the workspace through a link`)
    }
    return target
  }
}

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target)
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel)
}
