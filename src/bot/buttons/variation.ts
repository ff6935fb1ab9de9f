// V1-V4 (strong) and "Vary (subtle)" / "Vary (strong)": img2img from that image with new
// seeds, as many images as the parent had.
import { randomSeed } from '../../contract/index.js';
import { getImage, jobParams } from '../../db/index.js';
import { UserError } from '../errors.js';
import { submitGeneration } from '../submit.js';
import type { ButtonHandler } from '../types.js';

/** img2img strength: how much of the image is repainted. */
export const VARIATION_STRENGTH = { subtle: 0.35, strong: 0.65 } as const;

export const variation: ButtonHandler<'variation'> = {
  action: 'variation',
  access: 'owner',

  async execute(ctx, interaction, { index, strength }, parent) {
    if (parent.status !== 'succeeded' || (await getImage(ctx.db, parent.id, index)) === null) {
      throw new UserError(`Job \`${parent.id}\` has no image ${index + 1} to vary.`);
    }
    const params = {
      ...jobParams(parent),
      seed: randomSeed(),
      init: { jobId: parent.id, index, strength: VARIATION_STRENGTH[strength] },
    };
    await submitGeneration(ctx, interaction, { kind: 'variation', params, parent: { jobId: parent.id, index } });
  },
};
