// /settings show|default-quota|user-limit|ban|unban|channel-allow|channel-remove|
// channels-clear|banned-word-add|banned-word-remove: one server's own settings, by that
// server's admins (or the bot's owners), in that server only; each change is in the audit
// log. The rules read them on every interaction (rules.ts), so a change applies to the next one.
import { ChannelType, InteractionContextType, MessageFlags, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { z } from 'zod';
import {
  banInGuild,
  editGuildSettings,
  getDefaultLimit,
  getGuildSettings,
  listGuildBans,
  listServerLimits,
  MAX_QUOTA_AMOUNT,
  setServerLimit,
  unbanInGuild,
  type GuildSettings,
  type GuildSettingsChanges,
} from '../../db/index.js';
import { escapeMarkdown } from '../../discord/messages.js';
import type { BotContext } from '../context.js';
import { UserError } from '../errors.js';
import { normalizeBannedWord } from '../moderation.js';
import { optionValues, parseOptions, snowflakeId, subcommandName, text, whole } from '../options.js';
import type { PlainCommand } from '../types.js';

/** Bounds that keep every /imagine check cheap and the "not enabled here" refusal short. */
export const MAX_ALLOWED_CHANNELS = 25;
export const MAX_BANNED_WORDS = 200;
export const MAX_BANNED_WORD_LENGTH = 50;
/** Discord's limit for message content; a longer /settings show sends the banned words as a file. */
const CONTENT_LIMIT = 2000;
/** Users listed by /settings show per list (bans, per-user limits); the rest are counted. */
const SHOWN_USERS = 10;

// Channels whose messages are written in the channel itself (threads have their own id).
const TEXT_CHANNEL_TYPES = [
  ChannelType.GuildText,
  ChannelType.GuildAnnouncement,
  ChannelType.GuildVoice,
  ChannelType.GuildStageVoice,
  ChannelType.PublicThread,
  ChannelType.PrivateThread,
  ChannelType.AnnouncementThread,
] as const;

const data = new SlashCommandBuilder()
  .setName('settings')
  .setDescription("This server's settings: quota, bans, channels, banned words (server admins)")
  // Visible to members who can manage the server; access.ts decides who may use it.
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((s) => s.setName('show').setDescription("Show this server's settings"))
  .addSubcommand((s) =>
    s
      .setName('default-quota')
      .setDescription("Images per day in this server for users without a limit here (on top of the bot's own limits)")
      .addIntegerOption((o) => o.setName('limit').setDescription('Images per day').setMinValue(0).setMaxValue(MAX_QUOTA_AMOUNT))
      .addBooleanOption((o) => o.setName('clear').setDescription('No server limit again')),
  )
  .addSubcommand((s) =>
    s
      .setName('user-limit')
      .setDescription("One user's images per day in this server")
      .addUserOption((o) => o.setName('user').setDescription('User').setRequired(true))
      .addIntegerOption((o) => o.setName('limit').setDescription('Images per day').setMinValue(0).setMaxValue(MAX_QUOTA_AMOUNT))
      .addBooleanOption((o) => o.setName('clear').setDescription("Back to this server's default")),
  )
  .addSubcommand((s) =>
    s
      .setName('ban')
      .setDescription('Stop a user from using the bot in this server')
      .addUserOption((o) => o.setName('user').setDescription('User').setRequired(true))
      .addStringOption((o) => o.setName('reason').setDescription('Shown to the user').setMaxLength(200)),
  )
  .addSubcommand((s) =>
    s
      .setName('unban')
      .setDescription('Let a user use the bot in this server again')
      .addUserOption((o) => o.setName('user').setDescription('User').setRequired(true)),
  )
  .addSubcommand((s) =>
    s
      .setName('channel-allow')
      .setDescription('Allow /imagine in this channel (once any is allowed, only there)')
      .addChannelOption((o) =>
        o
          .setName('channel')
          .setDescription('Channel')
          .setRequired(true)
          .addChannelTypes(...TEXT_CHANNEL_TYPES),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName('channel-remove')
      .setDescription('Remove a channel from the allowed ones')
      .addChannelOption((o) =>
        o
          .setName('channel')
          .setDescription('Channel')
          .setRequired(true)
          .addChannelTypes(...TEXT_CHANNEL_TYPES),
      ),
  )
  .addSubcommand((s) => s.setName('channels-clear').setDescription('Allow /imagine in every channel again'))
  .addSubcommand((s) =>
    s
      .setName('banned-word-add')
      .setDescription('Refuse prompts containing this word or phrase (whole words, any case or accents)')
      .addStringOption((o) =>
        o.setName('word').setDescription('Word or phrase').setRequired(true).setMinLength(1).setMaxLength(MAX_BANNED_WORD_LENGTH),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName('banned-word-remove')
      .setDescription("Remove a word from this server's banned words")
      .addStringOption((o) =>
        o.setName('word').setDescription('Word or phrase').setRequired(true).setMinLength(1).setMaxLength(MAX_BANNED_WORD_LENGTH),
      ),
  )
  .toJSON();

/** A banned word as stored (normalizeBannedWord in moderation.ts), with a clear message for anything unusable. */
const bannedWord = text('word', { required: true, maxChars: MAX_BANNED_WORD_LENGTH })
  .transform(normalizeBannedWord)
  .refine((w) => /[\p{L}\p{N}]/u.test(w), '`word` must contain a letter or a digit.')
  // Compatibility decomposition can lengthen a text (one ligature, several letters).
  .refine((w) => w.length <= MAX_BANNED_WORD_LENGTH, `\`word\` is too long once normalised: at most ${MAX_BANNED_WORD_LENGTH} characters.`);

const channel = snowflakeId('channel', 'a channel');
const limitOrClear = (cleared: string) =>
  z
    .strictObject({
      limit: whole('limit', 0, MAX_QUOTA_AMOUNT).optional(),
      clear: z.boolean({ error: '`clear` must be true or false.' }).optional(),
    })
    .refine(
      (o) => (o.limit === undefined) !== (o.clear !== true),
      `Give either \`limit\` (images per day) or \`clear:True\` (${cleared}).`,
    );
const schemas = {
  show: z.strictObject({}),
  'default-quota': limitOrClear('no server limit'),
  'user-limit': z.strictObject({ user: snowflakeId('user') }).and(limitOrClear("back to this server's default")),
  ban: z.strictObject({ user: snowflakeId('user'), reason: text('reason', { required: false, maxChars: 200 }).default('') }),
  unban: z.strictObject({ user: snowflakeId('user') }),
  'channel-allow': z.strictObject({ channel }),
  'channel-remove': z.strictObject({ channel }),
  'channels-clear': z.strictObject({}),
  'banned-word-add': z.strictObject({ word: bannedWord }),
  'banned-word-remove': z.strictObject({ word: bannedWord }),
};

interface Edit {
  /** The fields to write (audited); null when nothing changes. */
  changes: GuildSettingsChanges | null;
  /** What the admin is told. */
  message: string;
}

/** Applies one edit of the guild's settings (src/db serialises concurrent edits); returns its message. */
async function editSettings(ctx: BotContext, guildId: string, actorId: string, edit: (current: GuildSettings) => Edit): Promise<string> {
  const { changes, message } = await editGuildSettings(ctx.db, { guildId, actorId }, edit);
  if (changes !== null) ctx.logger.info({ actorId, guildId, fields: Object.keys(changes) }, 'guild settings changed by an admin');
  return message;
}

const channelList = (ids: string[]) => ids.map((id) => `<#${id}>`).join(', ');
const quoted = (word: string) => `"${escapeMarkdown(word)}"`;
const wordList = (words: string[]) => words.map(quoted).join(', ');
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

function allowChannel(current: GuildSettings, id: string): Edit {
  const allowed = current.allowedChannelIds;
  if (allowed.includes(id)) return { changes: null, message: `/imagine is already allowed in <#${id}>.` };
  if (allowed.length >= MAX_ALLOWED_CHANNELS)
    throw new UserError(`At most ${MAX_ALLOWED_CHANNELS} channels can be allowed. Remove one first.`);
  const after = [...allowed, id];
  return { changes: { allowedChannelIds: after }, message: `/imagine is now allowed only in ${channelList(after)}.` };
}

function removeChannel(current: GuildSettings, id: string): Edit {
  const allowed = current.allowedChannelIds;
  if (!allowed.includes(id))
    throw new UserError(
      `<#${id}> is not one of the allowed channels${allowed.length === 0 ? ' (none is set: /imagine works everywhere)' : ''}.`,
    );
  const after = allowed.filter((c) => c !== id);
  const message =
    after.length === 0
      ? `Removed <#${id}>. No channel is set any more, so /imagine works in every channel.`
      : `Removed <#${id}>. /imagine is allowed only in ${channelList(after)}.`;
  return { changes: { allowedChannelIds: after }, message };
}

function clearChannels(current: GuildSettings): Edit {
  if (current.allowedChannelIds.length === 0) return { changes: null, message: '/imagine already works in every channel.' };
  return { changes: { allowedChannelIds: [] }, message: '/imagine works in every channel again.' };
}

// Stored words are compared once normalised again: a word stored by an older normaliser
// (with a zero-width space, say) is the same word, and can be removed.
const sameWord = (stored: string, word: string) => normalizeBannedWord(stored) === word;

function addBannedWord(current: GuildSettings, word: string): Edit {
  const words = current.bannedWords;
  if (words.some((w) => sameWord(w, word))) return { changes: null, message: `${quoted(word)} is already banned here.` };
  if (words.length >= MAX_BANNED_WORDS)
    throw new UserError(`This server already has ${MAX_BANNED_WORDS} banned words, the most allowed. Remove one first.`);
  return {
    changes: { bannedWords: [...words, word] },
    message: `Banned ${quoted(word)} (${plural(words.length + 1, 'banned word')} here). Prompts containing it are refused from now on.`,
  };
}

function removeBannedWord(current: GuildSettings, word: string, configWords: string[]): Edit {
  const words = current.bannedWords;
  if (!words.some((w) => sameWord(w, word))) {
    const inConfig = configWords.some((w) => sameWord(w, word));
    throw new UserError(
      inConfig
        ? `${quoted(word)} is banned by the bot's configuration (BANNED_WORDS), for every server; it cannot be removed here.`
        : `${quoted(word)} is not one of this server's banned words.`,
    );
  }
  const after = words.filter((w) => !sameWord(w, word));
  return {
    changes: { bannedWords: after },
    message: `${quoted(word)} is no longer banned here (${plural(after.length, 'banned word')} left).`,
  };
}

function setDefaultQuota(current: GuildSettings, limit: number | null): Edit {
  if (current.defaultQuota === limit) {
    return {
      changes: null,
      message:
        limit === null ? 'This server already sets no limit of its own.' : `The default quota here is already ${limit} images per day.`,
    };
  }
  const message =
    limit === null
      ? "This server sets no limit of its own again: only the bot's own limits apply."
      : `The default quota here is now ${limit} images per day, for users without a limit here (the bot's own limits apply too).`;
  return { changes: { defaultQuota: limit }, message };
}

type ShownFile = { attachment: Buffer; name: string };

/** The settings as an ephemeral answer; the banned words go in a file when they do not fit. */
/** Up to SHOWN_USERS entries, then how many more. */
function userList(entries: string[]): string {
  if (entries.length === 0) return 'none';
  const shown = entries.slice(0, SHOWN_USERS).join(', ');
  return entries.length > SHOWN_USERS ? `${shown} and ${entries.length - SHOWN_USERS} more` : shown;
}

async function showSettings(ctx: BotContext, guildId: string): Promise<{ content: string; files: ShownFile[] }> {
  const settings = await getGuildSettings(ctx.db, guildId);
  const globalDefault = await getDefaultLimit(ctx.db, ctx.config.DEFAULT_QUOTA);
  const quota =
    settings.defaultQuota === null
      ? `none of its own (the bot's default is ${globalDefault} images per day)`
      : `${settings.defaultQuota} images per day here (the bot's default is ${globalDefault}, and applies too)`;
  const [bans, limits] = await Promise.all([listGuildBans(ctx.db, guildId), listServerLimits(ctx.db, guildId)]);
  const userLimits = `Per-user limits (${limits.length}): ${userList(limits.map((l) => `<@${l.userId}>: ${l.limit}`))}`;
  const banned = `Banned here (${bans.length}): ${userList(bans.map((b) => (b.reason === '' ? `<@${b.userId}>` : `<@${b.userId}> (${escapeMarkdown(b.reason)})`)))}`;
  const channels = settings.allowedChannelIds.length === 0 ? 'every channel' : channelList(settings.allowedChannelIds);
  const configWords =
    ctx.config.BANNED_WORDS.length === 0
      ? ''
      : `\nAlso banned in every server by the bot's configuration: ${plural(ctx.config.BANNED_WORDS.length, 'word')}.`;
  const lines = (words: string) =>
    `**Settings of this server**\nDefault quota: ${quota}\n${userLimits}\n${banned}\n/imagine allowed in: ${channels}\nBanned words (${settings.bannedWords.length}): ${words}${configWords}`;
  const inline = lines(settings.bannedWords.length === 0 ? 'none' : wordList(settings.bannedWords));
  if (inline.length <= CONTENT_LIMIT) return { content: inline, files: [] };
  return {
    content: lines('in the attached file'),
    files: [{ attachment: Buffer.from(`${settings.bannedWords.join('\n')}\n`), name: 'banned-words.txt' }],
  };
}

export const settings: PlainCommand = {
  data,
  access: 'serverAdmin',
  posts: false,

  async execute(ctx, interaction) {
    const sub = subcommandName(interaction.options.data);
    const guildId = interaction.guildId;
    // access 'serverAdmin' refused DMs already; this narrows the type.
    if (guildId === null) throw new UserError('/settings is about one server: use it in that server.');
    const values = optionValues(interaction.options.data);
    const actorId = interaction.user.id;
    const edit = (change: (current: GuildSettings) => Edit) => editSettings(ctx, guildId, actorId, change);
    let content: string;
    let files: ShownFile[] = [];
    switch (sub) {
      case 'show':
        parseOptions(schemas.show, values);
        ({ content, files } = await showSettings(ctx, guildId));
        break;
      case 'default-quota': {
        const o = parseOptions(schemas['default-quota'], values);
        content = await edit((current) => setDefaultQuota(current, o.limit ?? null));
        break;
      }
      case 'user-limit': {
        const o = parseOptions(schemas['user-limit'], values);
        const limit = o.limit ?? null;
        await setServerLimit(ctx.db, { guildId, userId: o.user, limit, actorId, reason: 'via /settings user-limit' });
        content =
          limit === null
            ? `<@${o.user}> has this server's default limit again.`
            : `<@${o.user}> may make ${limit} images per day in this server.`;
        break;
      }
      case 'ban': {
        const o = parseOptions(schemas.ban, values);
        await banInGuild(ctx.db, { guildId, userId: o.user, actorId, reason: o.reason });
        content = `<@${o.user}> cannot use the bot in this server any more${o.reason ? ` (${o.reason})` : ''}.`;
        break;
      }
      case 'unban': {
        const o = parseOptions(schemas.unban, values);
        content = (await unbanInGuild(ctx.db, { guildId, userId: o.user, actorId }))
          ? `<@${o.user}> may use the bot in this server again.`
          : `<@${o.user}> is not banned in this server.`;
        break;
      }
      case 'channel-allow': {
        const o = parseOptions(schemas['channel-allow'], values);
        content = await edit((current) => allowChannel(current, o.channel));
        break;
      }
      case 'channel-remove': {
        const o = parseOptions(schemas['channel-remove'], values);
        content = await edit((current) => removeChannel(current, o.channel));
        break;
      }
      case 'channels-clear':
        parseOptions(schemas['channels-clear'], values);
        content = await edit(clearChannels);
        break;
      case 'banned-word-add': {
        const o = parseOptions(schemas['banned-word-add'], values);
        content = await edit((current) => addBannedWord(current, o.word));
        break;
      }
      case 'banned-word-remove': {
        const o = parseOptions(schemas['banned-word-remove'], values);
        content = await edit((current) => removeBannedWord(current, o.word, ctx.config.BANNED_WORDS));
        break;
      }
      default:
        throw new UserError(
          'Unknown subcommand. Use show, default-quota, user-limit, ban, unban, channel-allow, channel-remove, channels-clear, banned-word-add or banned-word-remove.',
        );
    }
    await interaction.reply({ content, files, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};
