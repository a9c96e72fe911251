/**
 * The error types no retry can fix: input problems (a corrupt video, a malformed annotation, a
 * model that disagrees with its descriptor, a model file missing from a worker's cache or still
 * damaged after the cache's one repair, a manifest or frames key that is not what the code reads)
 * and a committed shard whose rows disagree with its marker.
 * One list for both sides: activities/context.ts turns errors with these names into non-retryable
 * failures, and the workflows' retry policies name them (workflows/activities.ts). Each is an
 * Error subclass whose `name` is its class name.
 */
export const PERMANENT_ERRORS: readonly string[] = Object.freeze([
  'VideoError',
  'AnnotationError',
  'ModelSignatureError',
  'UnknownBackboneError',
  'UnknownShard',
  'FaceSourceError',
  'DetectorModelError',
  'LabelFileError',
  'DatasetError',
  'DescriptorError',
  'ImageError',
  'ModelNotCachedError',
  'ModelFileError',
  'ModelChecksumUnknownError',
  'ShardRowsMismatchError',
  'ManifestFormatError',
  'FramesKeyError',
  'ExprHeadSourceError',
  'AudioError',
  'AudioWindowingError',
  'AudioModelError',
  'AudioPcmMissingError',
  'UnknownAudioBackboneError',
  'AudioEmbeddingsError',
]);
