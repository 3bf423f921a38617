// --import this file to make `import ... from 'electron'` load the fake in this folder, so the
// built Electron main process (out/main/index.js) can run under plain Node in tests.
import { register } from 'node:module'

register('./loader.mjs', import.meta.url)
