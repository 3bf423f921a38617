// The studio's saved settings (settings.json in its config folder): read with a per-field zod check, so a
// corrupt or partly invalid file never stops the studio (bad fields fall back to their defaults, with a
// warning the Settings view shows), and written atomically after every change, one write at a time.
import { constants as fsConstants } from 'node:fs'
import { access, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { homedir, platform } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { DEFAULT_SETTINGS, StudioError, StudioSettings, SettingsUpdate, describeIssues } from '../contract/index.ts'
import type { SettingsReport } from '../contract/index.ts'
import { atomicWriteFile } from '../util/atomic-write.ts'
import { WORKSPACE_SUBDIRS, readFlag } from './workspace.ts'

export const SETTINGS_FILE = 'settings.json'
/** Written beside the settings so a reader knows which shape it has. */
const FORMAT_VERSION = 1

/**
 * The studio's config folder, by precedence: --config-dir <dir>, DI_STUDIO_CONFIG_DIR, Electron's
 * userData (desktop), then the platform's per-user config folder.
 */
export function locateConfigDir(opts: { argv?: readonly string[]; env?: NodeJS.ProcessEnv; electronUserData?: string; home?: string }): string {
  const flag = readFlag(opts.argv ?? [], '--config-dir')
  if (flag) return resolve(flag)
  const env = opts.env ?? {}
  if (env.DI_STUDIO_CONFIG_DIR) return resolve(env.DI_STUDIO_CONFIG_DIR)
  if (opts.electronUserData) return resolve(opts.electronUserData)
  const home = opts.home ?? homedir()
  if (platform() === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'di-studio')
  if (platform() === 'darwin') return join(home, 'Library', 'Application Support', 'di-studio')
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'di-studio')
}

type FileState = SettingsReport['fileState']

export class SettingsStore {
  private writing: Promise<void> = Promise.resolve()

  private constructor(
    /** null: kept in memory only */
    readonly file: string | null,
    private current: StudioSettings,
    private state: FileState,
    /** problems found reading the file; cleared once a good file is written */
    private readonly readWarnings: string[],
  ) {}

  /** Reads the settings file; never throws on a bad or missing file (defaults, with a warning when it was bad). */
  static async open(file: string | null): Promise<SettingsStore> {
    if (file === null) return new SettingsStore(null, { ...DEFAULT_SETTINGS }, 'memory', [])
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new SettingsStore(file, { ...DEFAULT_SETTINGS }, 'defaults', [])
      return new SettingsStore(file, { ...DEFAULT_SETTINGS }, 'recovered', [`Could not read the settings file ${file} (${(err as Error).message}); using the defaults.`])
    }
    const { settings, warnings } = parseSettingsText(text, file)
    return new SettingsStore(file, settings, warnings.length > 0 ? 'recovered' : 'loaded', warnings)
  }

  get settings(): StudioSettings {
    return { ...this.current }
  }

  get fileState(): FileState {
    return this.state
  }

  get warnings(): string[] {
    return [...this.readWarnings]
  }

  /** Checks a change against the schema; the merged settings, or a StudioError('invalid-params') naming the fields. */
  merge(update: unknown): StudioSettings {
    const patch = SettingsUpdate.safeParse(update)
    if (!patch.success) throw new StudioError('invalid-params', `Invalid settings: ${describeIssues(patch.error)}`)
    // A field sent as undefined (IPC's structured clone keeps it) means "unchanged", not "cleared".
    const named = Object.fromEntries(Object.entries(patch.data).filter(([, value]) => value !== undefined))
    return StudioSettings.parse({ ...this.current, ...named })
  }

  /** Replaces the settings and saves them atomically (writes are serialised: the last change wins on disk). */
  async save(next: StudioSettings): Promise<void> {
    const checked = StudioSettings.parse(next)
    const file = this.file
    if (file === null) {
      this.current = checked
      return
    }
    const write = this.writing.then(() => atomicWriteFile(file, `${JSON.stringify({ version: FORMAT_VERSION, ...checked }, null, 2)}\n`))
    this.writing = write.catch(() => {})
    try {
      await write
    } catch (err) {
      throw new StudioError('internal', `Could not save the settings to ${file}: ${(err as Error).message}`)
    }
    this.current = checked
    this.state = 'loaded'
    this.readWarnings.length = 0
  }
}

/** Each field is checked on its own, so one bad value costs only that value. */
export function parseSettingsText(text: string, file: string): { settings: StudioSettings; warnings: string[] } {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { settings: { ...DEFAULT_SETTINGS }, warnings: [`The settings file ${file} is not valid JSON; using the defaults (your next change rewrites it).`] }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { settings: { ...DEFAULT_SETTINGS }, warnings: [`The settings file ${file} does not hold an object; using the defaults.`] }
  }
  const record = json as Record<string, unknown>
  const settings: Record<string, unknown> = { ...DEFAULT_SETTINGS }
  const warnings: string[] = []
  for (const [key, schema] of Object.entries(StudioSettings.shape)) {
    if (!(key in record)) continue
    const parsed = (schema as { safeParse(v: unknown): { success: boolean; data?: unknown } }).safeParse(record[key])
    if (parsed.success) settings[key] = parsed.data
    else warnings.push(`Ignored an invalid ${key} (${JSON.stringify(record[key]).slice(0, 200)}) in ${file}; using the default.`)
  }
  if (typeof settings.workspace === 'string' && !isAbsolute(settings.workspace)) {
    warnings.push(`Ignored the workspace ${JSON.stringify(settings.workspace)} in ${file}: it is not an absolute path.`)
    settings.workspace = null
  }
  return { settings: StudioSettings.parse(settings), warnings }
}

/**
 * Checks a folder the user wants as the workspace: an absolute path, creatable, writable, and either new,
 * empty or already a studio workspace (so a client cannot turn an arbitrary folder, say the home folder,
 * into one whose files the studio serves). Creates it. Throws StudioError with a message for the user.
 */
export async function prepareWorkspaceFolder(path: string): Promise<string> {
  if (path.includes('\0')) throw new StudioError('invalid-params', 'The workspace path contains a NUL character')
  if (!isAbsolute(path)) throw new StudioError('invalid-params', `The workspace must be an absolute path (got ${JSON.stringify(path)})`)
  const root = resolve(path)
  const info = await stat(root).catch(() => null)
  if (info && !info.isDirectory()) throw new StudioError('invalid-params', `${root} exists and is not a folder`)
  if (info) {
    // Hidden entries count too: a home folder holding only dotfiles (.ssh, .config) is not "empty".
    const names = await readdir(root).catch((err: Error) => {
      throw new StudioError('forbidden', `Cannot read the folder ${root}: ${err.message}`)
    })
    const isWorkspace = WORKSPACE_SUBDIRS.every((sub) => names.includes(sub))
    if (names.length > 0 && !isWorkspace) {
      throw new StudioError(
        'invalid-params',
        `${root} is not empty and is not a DI Studio workspace (it has no ${WORKSPACE_SUBDIRS.join('/, ')}/ folders): choose a new or empty folder, or an existing workspace`,
      )
    }
  } else {
    await mkdir(root, { recursive: true }).catch((err: Error) => {
      throw new StudioError('forbidden', `Cannot create the folder ${root}: ${err.message}`)
    })
  }
  // access(W_OK) can pass where a write still fails (read-only mounts, ACLs): write a probe file.
  const probe = join(root, `.di-studio-write-check-${process.pid}`)
  try {
    await access(root, fsConstants.W_OK)
    await writeFile(probe, 'ok')
  } catch (err) {
    throw new StudioError('forbidden', `The folder ${root} is not writable: ${(err as Error).message}`)
  } finally {
    await rm(probe, { force: true }).catch(() => {})
  }
  return root
}
