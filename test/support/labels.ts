// The button labels of a single-image result, in order: users and their muscle memory rely on
// these exact words (issue "Editing on Discord"), so the tests spell them out once, here.
export const SINGLE_IMAGE_BUTTONS = [
  'Upscale (subtle)',
  'Upscale (creative)',
  'Vary (subtle)',
  'Vary (strong)',
  'Vary (region)',
  'Zoom out 2x',
  'Zoom out 1.5x',
  '⬅️',
  '➡️',
  '⬆️',
  '⬇️',
  'Rerun',
] as const;
