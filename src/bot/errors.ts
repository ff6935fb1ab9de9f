// The one place that turns errors into replies. An error that is user-visible (src/errors.ts:
// a UserError, the contract's InvalidRequestError) is the user's mistake or a refusal: its
// message is shown as it is, ephemerally. Anything else is our fault: the user sees a short
// generic message with an error id, and the log has the id and the details.
import { randomBytes } from 'node:crypto';
import { MessageFlags, type RepliableInteraction } from 'discord.js';
import { AppError, isUserVisible } from '../errors.js';
import type { Logger } from '../log.js';

/** A refusal or a mistake in what the user asked; the message is shown to them as it is. */
export class UserError extends AppError {
  constructor(message: string) {
    super(message, { userVisible: true, retryable: false });
  }
}

/** Short id users can quote; it is in the log line with the details. */
export function newErrorId(): string {
  return randomBytes(4).toString('hex');
}

export function internalErrorMessage(errorId: string): string {
  return `Something went wrong on our side (error id \`${errorId}\`). Please try again later.`;
}

/**
 * Replies to the interaction with the error, whatever state the interaction is in:
 * not answered yet -> ephemeral reply; deferred publicly -> the public placeholder is
 * deleted and an ephemeral follow-up sent (an ephemeral state cannot change later);
 * already answered -> ephemeral follow-up. Never throws.
 */
export async function replyWithError(interaction: RepliableInteraction, error: unknown, logger: Logger): Promise<void> {
  let content: string;
  if (isUserVisible(error)) {
    content = error.message;
    logger.debug({ interactionId: interaction.id, userId: interaction.user.id, refusal: error.message }, 'user error');
  } else {
    const errorId = newErrorId();
    content = internalErrorMessage(errorId);
    logger.error({ err: error, errorId, interactionId: interaction.id, userId: interaction.user.id }, 'interaction failed');
  }
  const message = { content, flags: MessageFlags.Ephemeral as const, allowedMentions: { parse: [] } };
  try {
    if (!interaction.deferred && !interaction.replied) {
      await interaction.reply(message);
    } else if (interaction.deferred && !interaction.replied && !interaction.ephemeral) {
      await interaction.deleteReply().catch(() => undefined);
      await interaction.followUp(message);
    } else {
      await interaction.followUp(message);
    }
  } catch (replyError) {
    logger.warn({ err: replyError, interactionId: interaction.id }, 'could not send the error reply');
  }
}
