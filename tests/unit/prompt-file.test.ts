// Prompt files: every reader (run configs, the generate/eval/pretrain CLIs, the resources/prompts lists)
// splits them the same way, and a bad file is an error that names it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parsePromptText, PromptFileError, readPromptFile } from '../../src-main/util/prompt-file.ts'
import { resolveTrainPrompts } from '../../src-main/core/runs/run-session.ts'
import { RunConfigError } from '../../src-main/core/runs/run-config.ts'

test('prompt text: trimmed lines, blank lines and # comments dropped, CRLF like LF', () => {
  assert.deepEqual(parsePromptText('# showcase\r\n  red apple  \r\n\r\nblack cat\n#draft\n  # indented comment\nsmiling face #1\n'), ['red apple', 'black cat', 'smiling face #1'])
  assert.deepEqual(parsePromptText(''), [])
})

test('prompt files: missing or comment-only files are errors naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'prompts-'))
  await writeFile(join(dir, 'ok.txt'), 'red apple\n# not a prompt\n')
  await writeFile(join(dir, 'empty.txt'), '# only a comment\n\n')
  assert.deepEqual(readPromptFile(join(dir, 'ok.txt')), ['red apple'])
  assert.throws(() => readPromptFile(join(dir, 'empty.txt')), (e: Error) => e instanceof PromptFileError && e.message.includes('empty.txt') && /no prompts/.test(e.message))
  assert.throws(() => readPromptFile(join(dir, 'missing.txt')), (e: Error) => e instanceof PromptFileError && /missing\.txt.*ENOENT/.test(e.message))
  // a run config's prompt file: the same rules, its problems reported as config errors
  assert.deepEqual(resolveTrainPrompts({ file: 'ok.txt' }, dir), ['red apple'])
  assert.throws(() => resolveTrainPrompts({ file: 'empty.txt' }, dir), (e: Error) => e instanceof RunConfigError && /empty\.txt/.test(e.message))
  // the shipped lists parse to prompts (no comment line leaks into them)
  for (const name of ['showcase.txt', 'validation-captions.txt']) {
    const prompts = readPromptFile(new URL(`../../resources/prompts/${name}`, import.meta.url).pathname)
    assert.ok(prompts.length > 0 && prompts.every((p) => !p.startsWith('#')), name)
  }
})
