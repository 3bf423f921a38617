// The alignment model seen through the reward interface, plus its image features for other models.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { AlignmentModel } from './alignment-model.ts'
import { checkRewardInputs, RewardInputError, type ImageFeatureExtractor, type Reward } from './reward.ts'
import { resourcePath } from '../../util/resource-path.ts'

const SHIPPED_MODEL_PATH = join('resources', 'models', 'alignment')

/**
 * Folder of the alignment model shipped with the studio (resources/models/alignment): the nearest one
 * above this module, so it is found from the sources (src-main/ml/rewards/) and from a bundle in
 * out/main/ alike. Packaged apps whose resources live elsewhere pass the folder explicitly.
 */
export function shippedAlignmentModelDir(): string {
  return resourcePath(SHIPPED_MODEL_PATH)
}

export function hasShippedAlignmentModel(dir = shippedAlignmentModelDir()): boolean {
  return existsSync(join(dir, 'model.safetensors')) && existsSync(join(dir, 'config.json'))
}

/**
 * Alignment reward, a CLIPScore analogue: 100 x cos(image embedding, prompt embedding), in [-100, 100]
 * (shipped model on validation emoji: about 52 for an image with its own caption, about 0 with another
 * emoji's caption; see its MODEL_CARD.md). Unlike CLIPScore
 * it is not clamped at 0, so the gradient never vanishes. The empty prompt scores against the
 * embedding of 'no words', which carries no meaning: use prompts.
 */
export function alignmentReward(model: AlignmentModel): Reward {
  const name = 'alignment'
  return {
    name,
    score(images, prompts) {
      checkRewardInputs(name, images, prompts)
      const { imageSize } = model.architecture
      if (images.shape[1] !== imageSize || images.shape[2] !== imageSize) {
        throw new RewardInputError(`alignment: the model reads ${imageSize}x${imageSize} images, got ${images.shape[1]}x${images.shape[2]}`)
      }
      return model.score(images, prompts)
    },
  }
}

/** The alignment model's L2-normalised image embedding, differentiable w.r.t. the images. */
export function alignmentImageFeatures(model: AlignmentModel): ImageFeatureExtractor {
  return {
    // the weights' fingerprint is part of the name: features of a retrained model are another space
    name: `alignment-image-embedding@${model.fingerprint}`,
    dim: model.architecture.embedDim,
    features: (images) => model.embedImages(images),
  }
}
