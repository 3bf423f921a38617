// Live controls arrive from the UI as flat `set` values (the contract's ControlValue: number, string or
// boolean per key). This maps them onto DI* controls: every scalar control by its own name, the t range
// as tMin / tMax, and one reward's relative weight as 'rewardMix.<reward name>'.
import type { DiStarControls } from '../../ml/distar/controls.ts'

export class LiveControlError extends Error {
  override name = 'LiveControlError'
}

const SCALAR_CONTROLS = [
  'rewardWeight', 'regulariserWeight', 'regulariser', 'fullDivergence', 'huberC', 'cfgScale', 'cfgPlacement',
  'generatorLr', 'fakeLr', 'fakeStepsPerGeneratorStep', 'maxGradNorm',
] as const

/** Control changes for `current` from flat set values; unknown keys throw LiveControlError (values are checked by the run). */
export function controlsFromSetValues(values: Record<string, number | string | boolean>, current: DiStarControls): Partial<DiStarControls> {
  const changes: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) {
    if ((SCALAR_CONTROLS as readonly string[]).includes(key)) changes[key] = value
    else if (key === 'tMin' || key === 'tMax') {
      const range = (changes.tRange as [number, number] | undefined) ?? [...current.tRange]
      range[key === 'tMin' ? 0 : 1] = value as number
      changes.tRange = range
    } else if (key.startsWith('rewardMix.') && key.length > 'rewardMix.'.length) {
      changes.rewardMix = { ...((changes.rewardMix as Record<string, number> | undefined) ?? current.rewardMix), [key.slice('rewardMix.'.length)]: value }
    } else {
      throw new LiveControlError(`unknown DI* control '${key}' (known: ${[...SCALAR_CONTROLS, 'tMin', 'tMax', 'rewardMix.<reward>'].join(', ')})`)
    }
  }
  return changes as Partial<DiStarControls>
}
