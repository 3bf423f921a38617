// Every job kind the contract names, mapped to its runner. Loaded lazily inside the worker so a
// demo job never pays for loading TensorFlow.js or onnxruntime. A test checks this matches the
// contract's kinds.
import type { JobKind } from '../../../contract/index.ts'
import type { JobRunner } from '../job-context.ts'

export const jobRunners: { [K in JobKind]: () => Promise<JobRunner<K>> } = {
  demo: async () => (await import('./demo.ts')).demoJob,
  'distar-train': async () => (await import('./distar-train.ts')).distarTrainJob,
  'generate-gallery': async () => (await import('./generate-gallery.ts')).generateGalleryJob,
  'gallery-regenerate': async () => (await import('./generate-gallery.ts')).galleryRegenerateJob,
  'onnx-import': async () => (await import('./generate-gallery.ts')).onnxImportJob,
  'preference-train': async () => (await import('./preference-train.ts')).preferenceTrainJob,
  'score-images': async () => (await import('./score-images.ts')).scoreImagesJob,
  'dataset-import': async () => (await import('./dataset-import.ts')).datasetImportJob,
}
