/** Label orders of the ABAW tasks and the backbones' training sets (SPEC §2-§3). */

/** Aff-Wild2 expression classes, index = label value in EXPR annotation files. */
export const AFFWILD2_EXPRESSIONS = Object.freeze([
  'Neutral',
  'Anger',
  'Disgust',
  'Fear',
  'Happiness',
  'Sadness',
  'Surprise',
  'Other',
] as const);

/** AffectNet logit order of the 8-class HSEmotion backbones. */
export const AFFECTNET_EXPRESSIONS = Object.freeze([
  'Anger',
  'Contempt',
  'Disgust',
  'Fear',
  'Happiness',
  'Neutral',
  'Sadness',
  'Surprise',
] as const);

/** EXPR value marking a frame that is not annotated. */
export const EXPR_NOT_ANNOTATED = -1;
