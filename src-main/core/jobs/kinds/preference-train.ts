// Retrains the user-preference model in a worker (it loads the alignment model and TensorFlow.js):
// a thin job around core/preferences/preference-training.ts, which does the work.
import { trainPreferenceModel, type PreferenceTrainingReport } from '../../preferences/preference-training.ts'
import type { JobParamsByKind } from '../../../contract/index.ts'
import type { JobContext } from '../job-context.ts'
import { initJobTensorflow } from '../job-engines.ts'

export const preferenceTrainJob = {
  async run(ctx: JobContext, params: JobParamsByKind['preference-train']): Promise<PreferenceTrainingReport> {
    ctx.progress(0, 2, 'loading TensorFlow.js and the alignment model')
    const backend = await initJobTensorflow(ctx)
    ctx.log(`preference training on ${backend.name}`)
    await ctx.checkpoint()
    ctx.progress(1, 2, 'embedding the chosen images and fitting the model')
    const report = await trainPreferenceModel(ctx.workspace, {
      hidden: params.hidden,
      seed: params.seed,
      ...(params.heldOutFraction !== undefined ? { heldOutFraction: params.heldOutFraction } : {}),
    })
    for (const problem of report.problems) ctx.log(problem, 'warn')
    const heldOut = report.heldOutAccuracy === null ? 'no held-out pairs' : `held-out accuracy ${(report.heldOutAccuracy * 100).toFixed(1)} % on ${report.heldOutPairs} pairs`
    ctx.log(`trained on ${report.trainPairs} pairs: ${heldOut}`)
    ctx.metrics(0, { trainAccuracy: report.trainAccuracy, ...(report.heldOutAccuracy !== null ? { heldOutAccuracy: report.heldOutAccuracy } : {}) })
    ctx.progress(2, 2, heldOut)
    return report
  },
}
