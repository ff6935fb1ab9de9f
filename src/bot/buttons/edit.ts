// Zoom out 2x / 1.5x, the pan arrows, Upscale (subtle) / (creative) on a single image.
// With remix on, zoom and pan open the prompt for editing first (Midjourney's behaviour).
import { submittedPrompt } from '../remix.js';
import { submitEdit } from '../edits.js';
import type { ButtonHandler } from '../types.js';

export const edit: ButtonHandler<'edit'> = {
  action: 'edit',
  access: 'owner',
  posts: true,
  remixable: ({ edit }) => edit.kind === 'zoom' || edit.kind === 'pan',

  async execute(ctx, interaction, { index, edit }, parent, place) {
    const text = interaction.isModalSubmit() ? submittedPrompt(interaction) : null;
    await submitEdit(ctx, interaction, { parent, index, edit, text, place });
  },
};
