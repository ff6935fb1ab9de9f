// Vary (region): a modal with the nine cells of a 3x3 grid over the image (a multi-choice
// select, values exactly the contract's REGION_CELLS) and the job's prompt, editable; its
// submit queues the inpainting of those cells with that prompt (a 2x2 grid of 4).
import type { APIModalInteractionResponseCallbackData } from 'discord-api-types/v10';
import { REGION_CELLS, type RegionCell } from '../../contract/index.js';
import { buildModalId } from '../../discord/custom-ids.js';
import { submitEdit } from '../edits.js';
import { UserError } from '../errors.js';
import { promptLabel, submittedPrompt } from '../remix.js';
import type { ButtonHandler } from '../types.js';

/** The select's custom_id. */
export const CELLS_FIELD = 'cells';

const CELL_LABELS: Readonly<Record<RegionCell, string>> = Object.freeze({
  'top-left': 'Top left',
  top: 'Top',
  'top-right': 'Top right',
  left: 'Left',
  center: 'Center',
  right: 'Right',
  'bottom-left': 'Bottom left',
  bottom: 'Bottom',
  'bottom-right': 'Bottom right',
});

export const region: ButtonHandler<'region'> = {
  action: 'region',
  access: 'owner',
  posts: true,

  async execute(ctx, interaction, parsed, parent, place) {
    if (interaction.isButton()) {
      // A modal must be the first answer: after a deferral there is no way to show it.
      if (interaction.deferred) throw new UserError('The region editor could not be opened in time. Please click again.');
      const modal: APIModalInteractionResponseCallbackData = {
        custom_id: buildModalId(parsed),
        title: 'Vary (region)',
        components: [
          {
            type: 18,
            label: 'Cells to repaint',
            description: 'A 3x3 grid over the image',
            component: {
              type: 3,
              custom_id: CELLS_FIELD,
              min_values: 1,
              max_values: REGION_CELLS.length,
              options: REGION_CELLS.map((value) => ({ label: CELL_LABELS[value], value })),
            },
          },
          promptLabel(parent),
        ] as APIModalInteractionResponseCallbackData['components'],
      };
      await interaction.showModal(modal);
      return;
    }
    const picked = interaction.fields.getStringSelectValues(CELLS_FIELD);
    const cells = REGION_CELLS.filter((cell) => picked.includes(cell));
    if (cells.length === 0 || cells.length !== picked.length) throw new UserError(`Pick one or more cells of ${REGION_CELLS.join(', ')}.`);
    await submitEdit(ctx, interaction, {
      parent,
      index: parsed.index,
      edit: { kind: 'region', cells },
      text: submittedPrompt(interaction),
      place,
    });
  },
};
