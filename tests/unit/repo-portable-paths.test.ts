// The repository stands on its own: no tracked file names a folder of the machine that made it (a home
// folder, this workplace's checkout), and run records name project files by project-relative path.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { projectRelativePath, resourcePath } from '../../src-main/util/resource-path.ts'

const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..')

// A home folder (/root/…, /home/<name>/…, /Users/<name>/…) or this workplace's checkout (/work/…),
// at the start of a string or after a quote, space, bracket or '='.
const MACHINE_PATH = /(?:^|["'`\s(=:])(\/root\/|\/home\/[A-Za-z0-9._-]+\/|\/Users\/[A-Za-z0-9._-]+\/|\/work\/)/m

function trackedFiles(): string[] {
  try {
    return execFileSync('git', ['ls-files', '-z'], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 }).split('\0').filter(Boolean)
  } catch {
    // not a git checkout (an unpacked archive): every file outside dependencies and build output
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((name) => {
      if (name.startsWith('.') || name === 'node_modules' || name === 'out') return []
      const path = join(dir, name)
      return statSync(path).isDirectory() ? walk(path) : [relative(repoRoot, path)]
    })
    return walk(repoRoot)
  }
}

describe('the repository names no path of the machine that made it', () => {
  it('no tracked text file outside tests/ holds a home or workspace path', () => {
    const offenders: string[] = []
    for (const file of trackedFiles()) {
      // tests build fake homes on purpose ('/home/u'); lock files hold registry URLs only
      if (file.startsWith('tests/') || file === 'package-lock.json') continue
      const bytes = readFileSync(join(repoRoot, file))
      if (bytes.subarray(0, 8000).includes(0)) continue // binary (weights, images)
      const text = bytes.toString('utf8')
      const match = MACHINE_PATH.exec(text)
      if (match) {
        const line = text.slice(0, match.index).split('\n').length
        offenders.push(`${file}:${line}: ${text.split('\n')[line - 1]!.trim().slice(0, 120)}`)
      }
    }
    assert.deepEqual(offenders, [], `absolute machine paths in tracked files:\n${offenders.join('\n')}`)
  })

  it('the pattern catches the paths it is meant to catch', () => {
    for (const bad of ['"textInit": "/work/main/resources/models/alignment"', 'cd /root/project', 'out=/home/alice/runs', '(/Users/bob/x)']) {
      assert.match(bad, MACHINE_PATH, bad)
    }
    for (const fine of ['"textInit": "resources/models/alignment"', 'mkdir -p /tmp/ref', 'https://example.org/work/x', 'src-main/work/a.ts']) {
      assert.doesNotMatch(fine, MACHINE_PATH, fine)
    }
  })
})

describe('projectRelativePath', () => {
  it('names a file inside the project relative to it, with forward slashes', () => {
    assert.equal(projectRelativePath(resourcePath('resources', 'models', 'alignment')), 'resources/models/alignment')
  })
  it('leaves a path outside the project as it is', () => {
    assert.equal(projectRelativePath('/tmp/elsewhere/model'), '/tmp/elsewhere/model')
    assert.equal(projectRelativePath(join(resourcePath(), '..', 'sibling')), join(resourcePath(), '..', 'sibling'))
  })
})
