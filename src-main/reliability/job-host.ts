// A stand-in for the studio's core process in the crash trials: opens a workspace, runs one DI* training
// job through the real JobManager (so the run trains in a worker thread, as in the app) and prints one
// line per event the trial harness needs on stdout:
//   step <n>              the job's metrics for step n arrived
//   log <message>         a job log line (e.g. "Resumed from the checkpoint at step 8")
//   done <status> [error] the job ended; the process exits
// With --terminate-worker-at-step n it terminates the worker thread as soon as step n is reported (the
// thread stops wherever it is, as a crashed worker would) and exits: "worker-terminated <n>".
//
//   tsx src-main/reliability/job-host.ts --workspace <dir> (--config <run.json> --run-id <id> | --resume <id>)
//     [--backend cpu|wasm] [--terminate-worker-at-step n]
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { JobManager } from '../core/jobs/job-manager.ts'
import { Workspace } from '../core/workspace.ts'
import type { TfBackendName } from '../ml/backend/init.ts'

const { values } = parseArgs({
  options: {
    workspace: { type: 'string' },
    config: { type: 'string' },
    'run-id': { type: 'string' },
    resume: { type: 'string' },
    backend: { type: 'string', default: 'cpu' },
    'terminate-worker-at-step': { type: 'string' },
  },
})
if (!values.workspace || !values.config === !values.resume) {
  console.error('usage: job-host --workspace <dir> (--config <run.json> --run-id <id> | --resume <id>) [--backend cpu] [--terminate-worker-at-step n]')
  process.exit(2)
}

const workspace = await Workspace.open({ root: values.workspace, source: 'flag' })
const jobs = new JobManager({ workspace: workspace.info, jobSettings: () => ({ tfBackend: values.backend as TfBackendName }) })
const terminateAt = values['terminate-worker-at-step'] === undefined ? undefined : Number(values['terminate-worker-at-step'])
const say = (line: string) => process.stdout.write(line.replaceAll('\n', ' ') + '\n')
let terminating = false

jobs.onEvent((event) => {
  if (event.channel === 'job.metrics') {
    say(`step ${event.payload.step}`)
    if (event.payload.step === terminateAt && !terminating) {
      terminating = true // the manager then reports the job as failed: not this host's outcome
      void jobs.shutdown().then(() => {
        say(`worker-terminated ${terminateAt}`)
        process.exit(0)
      })
    }
  } else if (event.channel === 'job.log') {
    say(`log ${event.payload.message}`)
  } else if (event.channel === 'job.done' && !terminating) {
    say(`done ${event.payload.status}${event.payload.error ? ` ${event.payload.error}` : ''}`)
    process.exit(event.payload.status === 'succeeded' ? 0 : 1)
  }
})

const params = values.config
  ? { config: JSON.parse(readFileSync(values.config, 'utf8')) as unknown, runId: values['run-id'] }
  : { resume: values.resume! }
jobs.start({ kind: 'distar-train', params } as Parameters<JobManager['start']>[0])
