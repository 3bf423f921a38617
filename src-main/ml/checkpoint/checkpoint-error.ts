/** Every reason a checkpoint cannot be read or written is reported as a CheckpointError. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError'
}
