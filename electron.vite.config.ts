// Builds the Electron main process (plus the job worker and the launcher), the sandboxed preload
// and the Svelte renderer into out/. Runs without the Electron binary.
import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import type { Plugin } from 'vite'
import { svelte } from '@sveltejs/vite-plugin-svelte'

const root = import.meta.dirname

/**
 * electron-vite prepends `const require = createRequire(import.meta.url)` to every ESM chunk that
 * mentions require(. A module with its own top-level `const require = createRequire(import.meta.url)`
 * (the usual way to load CommonJS from ESM) then fails with "Identifier 'require' has already been
 * declared". Both bindings are the same function, so drop the module's copy.
 */
function dedupeRequireShim(): Plugin {
  const shim = 'const require = __shims_module__.createRequire(import.meta.url);'
  const own = /^(?:var|let|const) require = createRequire\(import\.meta\.url\);\n/gm
  return {
    name: 'di-studio:dedupe-require-shim',
    enforce: 'post',
    renderChunk(code) {
      return code.includes(shim) ? { code: code.replace(own, ''), map: null } : null
    },
  }
}

export default defineConfig({
  main: {
    plugins: [dedupeRequireShim()],
    build: {
      outDir: 'out/main',
      rollupOptions: {
        input: {
          index: resolve(root, 'src-main/electron/main.ts'),
          // Runs in worker_threads; the job manager finds it beside itself as job-worker.js.
          'job-worker': resolve(root, 'src-main/core/jobs/worker-entry.ts'),
          // Builds the emoji lists of prompts.emoji off the core's thread (core/known-emoji.ts finds it beside itself).
          'known-emoji-worker': resolve(root, 'src-main/core/known-emoji-worker.ts'),
          // Gradient workers of ml/backend/data-parallel.ts, which looks for it beside itself too.
          'data-parallel-worker': resolve(root, 'src-main/ml/backend/data-parallel-worker.ts'),
          // The DI* step model those workers import (core/runs/run-networks.ts finds it beside itself).
          'run-parallel-model': resolve(root, 'src-main/core/runs/run-networks.ts'),
          // `npm start` / `npm run serve`: launches Electron or the web host.
          start: resolve(root, 'src-main/cli/start.ts'),
        },
        // Optional native backends: absent on most machines, loaded at run time when present.
        external: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'],
        output: {
          // Keep shared chunks in out/main/ itself: modules locate the worker and the renderer
          // relative to their own file.
          chunkFileNames: '[name]-[hash].js',
        },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      // Sandboxed preloads must be one CommonJS file: no ESM, no require of packages.
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve(root, 'src-main/electron/preload.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(root, 'src-renderer'),
    plugins: [svelte()],
    build: {
      outDir: resolve(root, 'out/renderer'),
      rollupOptions: { input: { index: resolve(root, 'src-renderer/index.html') } },
    },
  },
})
