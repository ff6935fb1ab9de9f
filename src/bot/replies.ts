// Sending the renderers' payloads (src/discord/messages.ts, Discord API JSON) through
// discord.js, and reading back the id of the message that was created.
import type { MessageMentionOptions, RepliableInteraction } from 'discord.js';
import type { MessagePayload } from '../discord/messages.js';

/** What discord.js takes for a reply, an edit and a component update alike. */
export interface PayloadOptions {
  content: string;
  components: MessagePayload['components'];
  files: { attachment: Buffer; name: string }[];
  allowedMentions: MessageMentionOptions;
}

export function replyOptions(payload: MessagePayload): PayloadOptions {
  return {
    content: payload.content,
    components: payload.components,
    files: payload.files.map((f) => ({ attachment: f.data, name: f.name })),
    allowedMentions: payload.allowedMentions,
  };
}

/**
 * Shows the payload as the interaction's public response: a reply, or an edit of the
 * placeholder when the interaction was deferred. Returns the message id.
 */
export async function respondPublicly(interaction: RepliableInteraction, payload: MessagePayload): Promise<string> {
  const options = replyOptions(payload);
  if (interaction.deferred || interaction.replied) {
    const message = await interaction.editReply(options);
    return message.id;
  }
  const response = await interaction.reply({ ...options, withResponse: true });
  const id = response.resource?.message?.id;
  if (id === undefined) throw new Error('Discord did not return the response message');
  return id;
}
