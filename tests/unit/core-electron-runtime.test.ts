// The launcher's decision between Electron and the web host (no Electron binary is run here).
import assert from 'node:assert/strict'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { locateElectronRuntime, runElectronInstall } from '../../src-main/electron/locate-runtime.ts'
import { tempDir } from '../helpers/studio-fixtures.ts'

describe('locateElectronRuntime', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let fakeBinary: string
  before(async () => {
    dir = await tempDir()
    // ELECTRON_OVERRIDE_DIST_PATH is Electron's own variable for a runtime kept elsewhere.
    fakeBinary = join(dir.path, 'electron')
    await writeFile(fakeBinary, '#!/bin/sh\n')
    await chmod(fakeBinary, 0o755)
  })
  after(() => dir.remove())

  it('honours DI_STUDIO_NO_ELECTRON', async () => {
    const r = await locateElectronRuntime({ DI_STUDIO_NO_ELECTRON: '1', ELECTRON_OVERRIDE_DIST_PATH: dir.path, DISPLAY: ':0' }, 'linux')
    assert.deepEqual(r, { ok: false, reason: 'DI_STUDIO_NO_ELECTRON is set' })
  })

  it('uses an installed runtime when there is a display', async () => {
    const override = { ELECTRON_OVERRIDE_DIST_PATH: dir.path }
    // On Linux Electron's path.txt, when it exists, names the binary 'electron' as here.
    assert.deepEqual(await locateElectronRuntime({ ...override, DISPLAY: ':0' }, 'linux'), { ok: true, binary: fakeBinary })
    assert.deepEqual(await locateElectronRuntime({ ...override, WAYLAND_DISPLAY: 'wayland-0' }, 'linux'), { ok: true, binary: fakeBinary })
  })

  it('falls back on Linux without a display', async () => {
    const r = await locateElectronRuntime({ ELECTRON_OVERRIDE_DIST_PATH: dir.path }, 'linux')
    assert.equal(r.ok, false)
    assert.match(!r.ok ? r.reason : '', /no display/)
  })

  it('announces a slow first-start download once, and stays silent when it fails fast', async () => {
    const slow = join(dir.path, 'slow-install.cjs')
    const fast = join(dir.path, 'fast-fail.cjs')
    await writeFile(slow, 'setTimeout(() => process.exit(0), 2000)')
    await writeFile(fast, 'process.exit(1)')
    const lines: string[] = []
    assert.equal(await runElectronInstall(slow, process.env, (l) => lines.push(l)), 0)
    assert.deepEqual(lines, ['Downloading the Electron runtime (first start only)...'])
    lines.length = 0
    assert.equal(await runElectronInstall(fast, process.env, (l) => lines.push(l)), 1)
    assert.deepEqual(lines, [])
  })
})
