// Runs Electronegativity (Doyensec's Electron security linter) over the Electron source and the
// built app, offline, and prints one JSON line: { scans: [{ input, files, errors, findings }] }.
// Exit status 1 when any scan has a finding or a file it could not parse.
//   node tests/helpers/run-electronegativity.cjs            (npm run security:electron)
//   node tests/helpers/run-electronegativity.cjs <dir>...  scan other folders (the test's canary)
//
// Offline on purpose: the tool fetches translations and Electron's release list with `got`; both are
// stubbed to fail at once (its own fallbacks then apply: bundled en-US strings). The one check that
// needs the release list (AVAILABLE_SECURITY_FIXES_GLOBAL_CHECK) is excluded below for that reason.
'use strict'
const { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { dirname, join, relative, resolve } = require('node:path')

const repoRoot = join(__dirname, '..', '..')
const toolDir = dirname(require.resolve('@doyensec/electronegativity/package.json'))

const offline = () => Promise.reject(new Error('network disabled for this scan'))
offline.head = offline
offline.get = offline
require.cache[require.resolve('got', { paths: [toolDir] })] = { loaded: true, exports: offline }

/**
 * Checks left out, each with the reason. Every other check of the tool runs.
 * Exceptions for single lines are inline `eng-disable` comments beside the code, with their reason.
 */
const EXCLUDED_CHECKS = {
  // AVAILABLE_SECURITY_FIXES_GLOBAL_CHECK compares the Electron version with the online release
  // list: it cannot run offline. (The tool names checks by class here.)
  AvailableSecurityFixesGlobalCheck: 'needs the network (downloads Electron release data)',
}

/**
 * What is scanned, each as one project so the global checks (CSP, navigation limits, permission
 * handler) see every file of it: the sources (Electron main and preload, the renderer's index.html
 * with its CSP) and the built app that ships (out/: main, preload, renderer).
 */
const INPUTS = [
  { name: 'source', paths: ['src-main/electron', 'src-renderer/index.html'] },
  // The renderer's JS bundle is left out: the tool's scope analyser cannot read class private fields
  // (Svelte 5 output) and stops with "Unknown node type ClassPrivateProperty". It is page code in the
  // sandbox with no Electron API; its CSP (index.html) and everything Electron-side are scanned.
  { name: 'built', paths: ['out/main', 'out/preload', 'out/renderer/index.html'] },
]

/**
 * Findings the tool reports that are not defects, each with why, and a test that proves the reason
 * (tests/unit/reliability-security.test.ts). A finding is accepted only if `applies` holds for it.
 */
const ACCEPTED = [
  {
    ids: ['CONTEXT_ISOLATION_JS_CHECK', 'SANDBOX_JS_CHECK', 'AUXCLICK_JS_CHECK'],
    reason:
      'The window options come from studioWindowOptions() (window-options.ts), which the tool does not follow into; ' +
      'they set contextIsolation, sandbox and nodeIntegration:false, checked on the options the BUILT main really passes. ' +
      'Middle-click (auxclick) can only open a window through setWindowOpenHandler, which denies every URL.',
    applies: (finding) => /new BrowserWindow\(studioWindowOptions\(/.test(finding.sample ?? ''),
  },
  {
    ids: ['CSP_GLOBAL_CHECK'],
    reason:
      "The CSP's only weakness by the CSP evaluator is \"script-src 'self'\" (risky where a site hosts JSONP or user uploads). " +
      'The page origin hosts only the built app: workspace files are served under another scheme (studio-file:) or, on the ' +
      'web host, only as image/data types with X-Content-Type-Options: nosniff, so none can run as a script.',
    applies: (finding) => onlySelfScriptWeakness(finding.sample),
  },
]

/** True when the CSP evaluator's only medium-or-worse finding for `cspString` is script-src 'self'. */
function onlySelfScriptWeakness(cspString) {
  if (typeof cspString !== 'string' || !cspString.includes('default-src')) return false
  const csp = require(require.resolve('@doyensec/csp-evaluator', { paths: [toolDir] }))
  const findings = new csp.CspEvaluator(new csp.CspParser(cspString).csp, csp.Version.CSP3).evaluate()
  const serious = findings.filter((f) => f.severity <= csp.severities.MEDIUM_MAYBE)
  return serious.length > 0 && serious.every((f) => f.directive === 'script-src' && f.value === "'self'")
}

/** One folder holding copies of `paths` (the tool takes a single input), file names kept readable. */
function stage(paths) {
  const dir = mkdtempSync(join(tmpdir(), 'electronegativity-'))
  for (const path of paths) cpSync(resolve(repoRoot, path), join(dir, relative(repoRoot, resolve(repoRoot, path)).replace(/^(\.\.[\\/])+/, '')), { recursive: true })
  return dir
}

async function main() {
  const run = require(join(toolDir, 'dist', 'runner.js'))
  const electronVersion = JSON.parse(readFileSync(require.resolve('electron/package.json'), 'utf8')).version
  const quiet = console.log
  const scans = []
  const asked = process.argv.slice(2)
  const inputs = asked.length ? [{ name: 'asked', paths: asked }] : INPUTS
  for (const input of inputs) {
    const present = input.paths.filter((p) => existsSync(resolve(repoRoot, p)))
    if (present.length === 0) continue
    const path = stage(present)
    console.log = () => {} // the tool prints banners and fallback notices; the JSON line is the report
    let result
    try {
      result = await run({
        input: path,
        customScan: [],
        excludeFromScan: Object.keys(EXCLUDED_CHECKS),
        electronVersionOverride: electronVersion,
        parserPlugins: [],
        isRelative: true,
      })
    } finally {
      console.log = quiet
      rmSync(path, { recursive: true, force: true })
    }
    const accepted = []
    const findings = []
    for (const issue of result.issues) {
      const finding = {
        id: issue.id,
        file: issue.file,
        line: issue.location?.line ?? 0,
        severity: issue.severity?.name,
        confidence: issue.confidence?.name,
        description: issue.description,
        sample: typeof issue.sample === 'string' ? issue.sample.trim().slice(0, 300) : undefined,
      }
      const exception = ACCEPTED.find((a) => a.ids.includes(finding.id) && a.applies(finding))
      if (exception) accepted.push({ ...finding, reason: exception.reason })
      else findings.push(finding)
    }
    scans.push({
      input: input.name,
      paths: present,
      checks: result.globalChecks + result.atomicChecks,
      errors: result.errors.map((e) => ({ file: relative(path, e.file), message: e.message, tolerable: e.tolerable })),
      findings,
      accepted,
    })
  }
  const report = { electronVersion, excluded: EXCLUDED_CHECKS, scans }
  process.stdout.write(`${JSON.stringify(report)}\n`)
  const failed = scans.some((s) => s.findings.length > 0 || s.errors.some((e) => !e.tolerable))
  process.exitCode = failed ? 1 : 0
}

main().catch((err) => {
  console.error(err?.stack ?? String(err))
  process.exit(2)
})
