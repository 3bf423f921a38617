// CLIP's byte-level BPE tokenizer, read from a model's own tokenizer/ folder (vocab.json, merges.txt,
// special_tokens_map.json, tokenizer_config.json), as Stable Diffusion pipelines call it:
// padding="max_length", max_length=77, truncation=True.
//
// It follows transformers' CLIPTokenizer (src/transformers/models/clip/tokenization_clip.py), itself a
// port of openai/CLIP's clip/simple_tokenizer.py:
//   - clean-up: ftfy.fix_text (of which the NFC normalisation is done here; ftfy's mojibake repairs are
//     not), whitespace runs collapsed to one space and stripped, then lower-cased (the fast tokenizer's
//     normalizer is the same NFC + whitespace + lowercase);
//   - pre-tokenisation: <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//     (digits one at a time; a run of letters is one word);
//   - each word's UTF-8 bytes mapped to printable characters (bytes_to_unicode, as GPT-2), the last
//     character marked with "</w>", and pairs merged by merges.txt rank, lowest first;
//   - merges.txt: the first line ("#version: 0.2") skipped and at most 49152 - 256 - 2 merges used;
//   - a piece missing from vocab.json becomes the unknown token's id.
// Special tokens: bos/eos/pad/unk as special_tokens_map.json / tokenizer_config.json name them, looked up in
// vocab.json. SD 1.x's tokenizer pads with "<|endoftext|>" (49407); SD 2.x's and SDXL's tokenizer_2 pad
// with "!" (id 0).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const CLIP_MAX_MERGES = 49152 - 256 - 2

function bytesToUnicode(): string[] {
  const bs: number[] = []
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bs.push(b)
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b)
  for (let b = 0xae; b <= 0xff; b++) bs.push(b)
  const cs = [...bs]
  let n = 0
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b)
      cs.push(256 + n)
      n++
    }
  }
  const table: string[] = new Array(256)
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i]!)))
  return table
}

const BYTE_ENCODER = bytesToUnicode()
const PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu

/** transformers' CLIPTokenizer clean-up (with ftfy's NFC), before pre-tokenisation. */
export function cleanClipText(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase()
}

export interface ClipSpecialTokens {
  bos: string
  eos: string
  pad: string
  unk: string
}

export interface ClipTokenizerFiles {
  vocab: Record<string, number>
  /** merges.txt lines, "#version" header included or not */
  merges: string[]
  special?: Partial<ClipSpecialTokens>
  maxLength?: number
}

export class ClipTokenizerError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ClipTokenizerError'
  }
}

export class ClipTokenizer {
  readonly maxLength: number
  readonly bosId: number
  readonly eosId: number
  readonly padId: number
  readonly unkId: number
  readonly special: ClipSpecialTokens
  private readonly vocab: Map<string, number>
  private readonly ranks = new Map<string, number>()
  private readonly cache = new Map<string, string[]>()

  constructor(files: ClipTokenizerFiles) {
    this.vocab = new Map(Object.entries(files.vocab))
    let lines = files.merges.map((l) => l.replace(/\r$/, ''))
    if (lines[0]?.startsWith('#version')) lines = lines.slice(1)
    lines = lines.filter((l) => l.trim() !== '').slice(0, CLIP_MAX_MERGES)
    lines.forEach((line, rank) => {
      const parts = line.trim().split(/ +/)
      if (parts.length !== 2) throw new ClipTokenizerError(`merges.txt line ${rank + 2} is not a pair of symbols: '${line}'`)
      if (!this.ranks.has(`${parts[0]} ${parts[1]}`)) this.ranks.set(`${parts[0]} ${parts[1]}`, rank)
    })
    this.special = {
      bos: files.special?.bos ?? '<|startoftext|>',
      eos: files.special?.eos ?? '<|endoftext|>',
      pad: files.special?.pad ?? files.special?.eos ?? '<|endoftext|>',
      unk: files.special?.unk ?? '<|endoftext|>',
    }
    const idOf = (role: keyof ClipSpecialTokens): number => {
      const id = this.vocab.get(this.special[role])
      if (id === undefined) throw new ClipTokenizerError(`the ${role} token '${this.special[role]}' is not in vocab.json`)
      return id
    }
    this.bosId = idOf('bos')
    this.eosId = idOf('eos')
    this.padId = idOf('pad')
    this.unkId = idOf('unk')
    this.maxLength = files.maxLength ?? 77
    if (!Number.isInteger(this.maxLength) || this.maxLength < 2) throw new ClipTokenizerError(`model_max_length ${this.maxLength} is not a usable length`)
  }

  /** Read tokenizer/ as transformers' CLIPTokenizer.from_pretrained does (the files Optimum's export copies). */
  static fromFolder(dir: string): ClipTokenizer {
    return new ClipTokenizer(readClipTokenizerFiles(dir))
  }

  private bpe(token: string): string[] {
    const cached = this.cache.get(token)
    if (cached) return cached
    const chars = Array.from(token)
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`]
    while (word.length > 1) {
      let best = -1
      let bestRank = Infinity
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`)
        if (r !== undefined && r < bestRank) {
          bestRank = r
          best = i
        }
      }
      if (best < 0) break
      const first = word[best]!
      const second = word[best + 1]!
      const merged: string[] = []
      for (let i = 0; i < word.length; ) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second)
          i += 2
        } else merged.push(word[i++]!)
      }
      word = merged
    }
    if (this.cache.size < 10000) this.cache.set(token, word)
    return word
  }

  /** BPE pieces of a text, without special tokens (transformers' tokenizer.tokenize). */
  tokenize(text: string): string[] {
    const pieces: string[] = []
    for (const m of cleanClipText(text).matchAll(PATTERN)) {
      const mapped = Array.from(new TextEncoder().encode(m[0]), (b) => BYTE_ENCODER[b]!).join('')
      pieces.push(...this.bpe(mapped))
    }
    return pieces
  }

  /** Token ids of a text, without special tokens. */
  encode(text: string): number[] {
    return this.tokenize(text).map((p) => this.vocab.get(p) ?? this.unkId)
  }

  /** As a pipeline feeds the text encoder: bos, at most maxLength - 2 ids, eos, then pad to maxLength. */
  encodeForModel(text: string): { ids: number[]; truncated: number } {
    const body = this.encode(text)
    const room = this.maxLength - 2
    const ids = [this.bosId, ...body.slice(0, room), this.eosId]
    while (ids.length < this.maxLength) ids.push(this.padId)
    return { ids, truncated: Math.max(0, body.length - room) }
  }
}

function readJson(path: string, what: string, required: boolean): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ClipTokenizerError(`${what} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ClipTokenizerError(`${what} is not valid JSON (${(err as Error).message})`)
  }
}

/** A special token entry is a string or an AddedToken object {content, ...}. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content
  return undefined
}

export function readClipTokenizerFiles(dir: string): ClipTokenizerFiles {
  const vocab = readJson(join(dir, 'vocab.json'), 'vocab.json', true)
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab) || !Object.values(vocab).every((v) => Number.isInteger(v))) {
    throw new ClipTokenizerError('vocab.json is not a map of tokens to integer ids')
  }
  let merges: string[]
  try {
    merges = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n')
  } catch (err) {
    throw new ClipTokenizerError(`merges.txt cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  const map = (readJson(join(dir, 'special_tokens_map.json'), 'special_tokens_map.json', false) ?? {}) as Record<string, unknown>
  const config = (readJson(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json', false) ?? {}) as Record<string, unknown>
  const pick = (key: string) => tokenText(map[key]) ?? tokenText(config[key])
  const special: Partial<ClipSpecialTokens> = {}
  const bos = pick('bos_token'), eos = pick('eos_token'), pad = pick('pad_token'), unk = pick('unk_token')
  if (bos) special.bos = bos
  if (eos) special.eos = eos
  if (pad) special.pad = pad
  if (unk) special.unk = unk
  const max = config.model_max_length
  // transformers writes a huge sentinel (1e30) when no length is known; CLIP's is 77
  const maxLength = typeof max === 'number' && Number.isInteger(max) && max > 1 && max <= 4096 ? max : 77
  return { vocab: vocab as Record<string, number>, merges, special, maxLength }
}
