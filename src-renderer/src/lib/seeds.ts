// Seed lists as people type them: "0-15", "1, 4, 9", "0-3, 10". The Generate form and the Gallery's seed
// filter read them alike.

const MAX_SEEDS = 1000

/** Parses a seed list; throws an Error with a readable message on anything else. */
export function parseSeeds(text: string): number[] {
  const seeds: number[] = []
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(part)
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])]
      if (to < from) throw new Error(`Seed range ${part} runs backwards`)
      if (to - from + 1 + seeds.length > MAX_SEEDS) throw new Error(`At most ${MAX_SEEDS} seeds at a time`)
      for (let s = from; s <= to; s++) seeds.push(s)
    } else if (/^\d+$/.test(part)) {
      seeds.push(Number(part))
    } else if (/^-\s*\d+$/.test(part)) {
      throw new Error(`"${part}" is not a seed: seeds are whole numbers from 0`)
    } else {
      throw new Error(`"${part}" is not a seed or a range like 0-15`)
    }
  }
  if (seeds.length === 0) throw new Error('Give at least one seed, e.g. 0-3')
  if (seeds.length > MAX_SEEDS) throw new Error(`At most ${MAX_SEEDS} seeds at a time`)
  if (seeds.some((s) => s > 0xffff_ffff)) throw new Error('Seeds must be below 2^32')
  return [...new Set(seeds)]
}

/** The seed filter: every seed of a list like "0-3, 7", or undefined for an empty box; throws as parseSeeds does. */
export function parseSeedFilter(text: string): number[] | undefined {
  return text.trim() === '' ? undefined : parseSeeds(text)
}

/** Prompts from a text box: one a line, blank lines dropped. */
export function parsePrompts(text: string): string[] {
  const prompts = text.split('\n').map((p) => p.trim()).filter(Boolean)
  if (prompts.length === 0) throw new Error('Give at least one prompt (one a line)')
  return prompts
}
