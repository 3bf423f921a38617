// The committed prompt lists under resources/prompts/, derived from the catalogue so they can be
// regenerated (and checked by a test) instead of drifting:
//   validation-captions.txt  canonical captions of every validation image, for evaluation
//   showcase.txt             fixed training prompts of well-known emoji in both styles, for sample grids
// Regenerate with: npx tsx src-main/ml/data/prompt-lists.ts --write

import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildCatalog, EMOJI_STYLES, type CatalogEntry } from './emoji-catalog.ts'
import { canonicalCaption } from './captions.ts'

/** Emoji names (lower case, as in EmojiItem.name) of the showcase grid; all in the training split. */
export const SHOWCASE_EMOJI = ['grinning face', 'red apple', 'dog face', 'rocket', 'heavy black heart', 'slice of pizza', 'fire', 'christmas tree'] as const

export const PROMPTS_DIR = fileURLToPath(new URL('../../../resources/prompts/', import.meta.url))

export function validationCaptions(catalog: CatalogEntry[] = buildCatalog()): string[] {
  return catalog.filter((e) => e.split === 'validation').map((e) => e.item.canonicalCaption)
}

export function showcasePrompts(catalog: CatalogEntry[] = buildCatalog()): string[] {
  const trainNames = new Set(catalog.filter((e) => e.split === 'train').map((e) => e.item.name))
  for (const name of SHOWCASE_EMOJI) if (!trainNames.has(name)) throw new Error(`Showcase emoji "${name}" is not in the training split`)
  return SHOWCASE_EMOJI.flatMap((name) => EMOJI_STYLES.map((style) => canonicalCaption(name, style)))
}

export function renderPromptList(lines: string[]): string {
  return lines.join('\n') + '\n'
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const catalog = buildCatalog()
  writeFileSync(join(PROMPTS_DIR, 'validation-captions.txt'), renderPromptList(validationCaptions(catalog)))
  writeFileSync(join(PROMPTS_DIR, 'showcase.txt'), renderPromptList(showcasePrompts(catalog)))
  console.log(`wrote ${PROMPTS_DIR}validation-captions.txt and showcase.txt`)
}
