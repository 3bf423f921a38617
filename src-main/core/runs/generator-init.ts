// Where a run config's generatorInit points. Kept free of TF.js so the studio core can check a job's
// request without loading the ML stack.
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { resourcePath } from '../../util/resource-path.ts'
import { EMBEDDED_GENERATOR_INIT } from './run-config.ts'

/** The distilled one-step generator shipped with the embedded reference (npm run distill made it). */
export function embeddedGeneratorInitDir(): string {
  return resourcePath(join('resources', 'models', 'one-step-init'))
}

/** The model name that Gallery, Compare and `npm run generate` use for it. */
export const EMBEDDED_ONE_STEP_MODEL = 'one-step-init'

/**
 * True for the names that mean a shipped model rather than a workspace folder: 'reference' and the
 * distilled one-step generator. Anything that resolves model paths against the workspace asks this first.
 */
export function isShippedModelName(path: string): path is 'reference' | typeof EMBEDDED_ONE_STEP_MODEL {
  return path === 'reference' || path === EMBEDDED_ONE_STEP_MODEL
}

export function embeddedGeneratorInitPresent(): boolean {
  return existsSync(join(embeddedGeneratorInitDir(), 'config.json'))
}

export function embeddedGeneratorMissingMessage(): string {
  return `The distilled one-step generator is not installed (expected at ${embeddedGeneratorInitDir()}; npm run distill makes it)`
}

/** A config's generatorInit as a folder: 'embedded' is the shipped generator, a path is resolved against baseDir. */
export function resolveGeneratorInit(value: string, baseDir = process.cwd()): string {
  return value === EMBEDDED_GENERATOR_INIT ? embeddedGeneratorInitDir() : resolve(baseDir, value)
}
