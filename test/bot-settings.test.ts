// /settings against the local Discord server, a fresh database and Redis prefix: admin
// checks (roles, DMs, audit of refusals), banned words, allowed channels and the guild
// default quota taking effect on the next /imagine, /settings show, the audit log, and
// concurrent edits. Each test uses its own guild, so their settings do not mix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at } from '../src/checked.js';
import { MAX_BANNED_WORD_LENGTH, MAX_BANNED_WORDS } from '../src/bot/commands/settings.js';
import { findBannedWord, normalizeBannedWord } from '../src/bot/moderation.js';
import { getGuildSettings, listAudit, setGuildSettings } from '../src/db/index.js';
import type { FakeGuild, FakeUser, InteractionHandle, StoredMessage } from './discord/server.js';
import { startHarness, type Harness } from './discord/harness.js';

let h: Harness;
let admin: FakeUser;
const ADMIN_ROLE = '223456789012345678';
const EPHEMERAL = 64;
const GUILDS = 16;

beforeAll(async () => {
  h = await startHarness({
    label: 'botsettings',
    config: { BANNED_WORDS: ['forbidden'], ADMIN_ROLE_IDS: [ADMIN_ROLE] },
    discord: { guilds: Array.from({ length: GUILDS }, () => ({ channels: [{}, {}, {}], roles: [ADMIN_ROLE] })) },
  });
  admin = h.discord.user('admin');
  h.context.config.ADMIN_USER_IDS.push(admin.id);
});

afterAll(async () => {
  await h?.close();
});

let guildsUsed = 0;
/** A guild no other test touches. */
function freshGuild(): FakeGuild {
  if (guildsUsed === GUILDS - 1) throw new Error('not enough guilds for the tests; raise GUILDS');
  return at(h.discord.guilds, guildsUsed++);
}

/** The last guild: where refused changes are sent (they must leave it untouched). */
const refusalGuild = (): FakeGuild => at(h.discord.guilds, GUILDS - 1);

interface Where {
  guild: FakeGuild | null;
  channel?: number;
}

/** Sends a command in a guild (its first channel unless told) or a DM, and waits for the first response. */
async function send(
  name: string,
  user: FakeUser,
  where: Where,
  options: Record<string, unknown> = {},
  subcommand?: string,
): Promise<InteractionHandle> {
  const handle = await h.discord.sendCommand({
    name,
    user,
    options,
    subcommand,
    guildId: where.guild === null ? null : where.guild.id,
    channelId: where.guild === null ? undefined : at(where.guild.channels, where.channel ?? 0).id,
  });
  await handle.response();
  return handle;
}

/** /settings <subcommand> and the ephemeral answer the user sees. */
async function settings(user: FakeUser, where: Where, subcommand: string, options: Record<string, unknown> = {}): Promise<StoredMessage> {
  const handle = await send('settings', user, where, options, subcommand);
  const reply = handle.original()!;
  expect(reply.flags & EPHEMERAL).toBe(EPHEMERAL);
  return reply;
}

/** /imagine (one image) and the message the user sees. */
async function imagine(user: FakeUser, where: Where, prompt: string, count = 1): Promise<StoredMessage> {
  const handle = await send('imagine', user, where, { prompt, count });
  return handle.original()!;
}

const settingsAudit = async (guild: FakeGuild) =>
  (await listAudit(h.pg.db, { limit: 100, targetId: guild.id })).filter((a) => a.action === 'guild.settings');

describe('admin checks', () => {
  it('refuses every subcommand to non-admins even when Discord lets the call through, changes nothing, and audits the attempts', async () => {
    const guild = freshGuild();
    const user = h.discord.user('settings-sneaky');
    const attempts: [string, Record<string, unknown>][] = [
      ['show', {}],
      ['default-quota', { limit: 1000 }],
      ['channel-allow', { channel: at(guild.channels, 1).id }],
      ['channel-remove', { channel: at(guild.channels, 1).id }],
      ['channels-clear', {}],
      ['banned-word-add', { word: 'cat' }],
      ['banned-word-remove', { word: 'cat' }],
      ['user-limit', { user: user.id, limit: 1000 }],
      ['ban', { user: admin.id }],
      ['unban', { user: user.id }],
    ];
    for (const [sub, options] of attempts) {
      const reply = await settings(user, { guild }, sub, options);
      expect(reply.content).toBe("Only this server's admins can use /settings.");
    }
    expect(await getGuildSettings(h.pg.db, guild.id)).toEqual({
      guildId: guild.id,
      defaultQuota: null,
      allowedChannelIds: [],
      bannedWords: [],
    });
    expect(await settingsAudit(guild)).toEqual([]);
    await expect
      .poll(async () =>
        (await listAudit(h.pg.db, { limit: 100 }))
          .filter((a) => a.action === 'access.denied' && a.actorId === user.id)
          .map((a) => a.details.command)
          .sort(),
      )
      .toEqual(attempts.map(([sub]) => `/settings ${sub}`).sort());
  });

  it('accepts members with the Manage Server permission (MANAGE_SERVER_ADMINS), in their own server only', async () => {
    const guild = freshGuild();
    const manager = h.discord.user('settings-manager', { permissions: String(1n << 5n) });
    expect((await settings(manager, { guild }, 'banned-word-add', { word: 'eel' })).content).toContain('Banned "eel"');
    h.context.config.MANAGE_SERVER_ADMINS = false;
    try {
      expect((await settings(manager, { guild }, 'banned-word-add', { word: 'cod' })).content).toBe(
        "Only this server's admins can use /settings.",
      );
    } finally {
      h.context.config.MANAGE_SERVER_ADMINS = true;
    }
    expect((await getGuildSettings(h.pg.db, guild.id)).bannedWords).toEqual(['eel']);
  });

  it('accepts members holding an admin role', async () => {
    const guild = freshGuild();
    const moderator = h.discord.user('settings-moderator', { roles: [ADMIN_ROLE] });
    const reply = await settings(moderator, { guild }, 'banned-word-add', { word: 'Dog' });
    expect(reply.content).toContain('Banned "dog"');
    expect((await getGuildSettings(h.pg.db, guild.id)).bannedWords).toEqual(['dog']);
  });

  it('refuses the command in DMs, even to an admin, with a clear ephemeral message', async () => {
    const reply = await settings(admin, { guild: null }, 'banned-word-add', { word: 'cat' });
    expect(reply.content).toBe('/settings is about one server: use it in that server.');
    const show = await settings(admin, { guild: null }, 'show');
    expect(show.content).toBe('/settings is about one server: use it in that server.');
  });

  it('is registered for guilds only, shown by default to members who can manage the server', () => {
    const command = h.discord.commands().find((c) => c.name === 'settings');
    expect(command).toMatchObject({ default_member_permissions: String(1n << 5n), contexts: [0] });
    expect(command.options.map((o: { name: string }) => o.name)).toEqual([
      'show',
      'default-quota',
      'user-limit',
      'ban',
      'unban',
      'channel-allow',
      'channel-remove',
      'channels-clear',
      'banned-word-add',
      'banned-word-remove',
    ]);
  });
});

describe('banned words', () => {
  it('normalises words as moderation matches them', () => {
    expect(normalizeBannedWord('  Dragón \t  FRUIT ')).toBe('dragon fruit');
    expect(normalizeBannedWord('ﬁsh')).toBe('fish');
    expect(findBannedWord(['a dragon    fruit'], ['dragon fruit'])).toBe('dragon fruit');
  });

  it('an added word refuses the next /imagine with it ephemerally; duplicates are ignored; removing it lets the prompt through', async () => {
    const guild = freshGuild();
    const user = h.discord.user('settings-painter');
    expect((await imagine(user, { guild }, 'a Dragon fruit on a table')).content).toMatch(/queued/);

    const added = await settings(admin, { guild }, 'banned-word-add', { word: '  Dragón   FRUIT ' });
    expect(added.content).toBe('Banned "dragon fruit" (1 banned word here). Prompts containing it are refused from now on.');
    const refused = await imagine(user, { guild }, 'a DRAGON  fruit on a table');
    expect(refused.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(refused.content).toBe('Your prompt contains a banned word (`dragon fruit`). Please rephrase it.');

    const again = await settings(admin, { guild }, 'banned-word-add', { word: 'dragon fruit' });
    expect(again.content).toBe('"dragon fruit" is already banned here.');
    expect((await getGuildSettings(h.pg.db, guild.id)).bannedWords).toEqual(['dragon fruit']);

    // Other guilds are not affected.
    expect((await imagine(user, { guild: freshGuild() }, 'a dragon fruit')).content).toMatch(/queued/);

    const removed = await settings(admin, { guild }, 'banned-word-remove', { word: 'DRAGON fruit' });
    expect(removed.content).toBe('"dragon fruit" is no longer banned here (0 banned words left).');
    expect((await imagine(user, { guild }, 'a dragon fruit on a table')).content).toMatch(/queued/);
  });

  it('a word stored by the old normaliser (it kept zero-width spaces) still refuses prompts, and can be found and removed', async () => {
    const guild = freshGuild();
    const user = h.discord.user('settings-old-word');
    await setGuildSettings(h.pg.db, { guildId: guild.id, actorId: admin.id, changes: { bannedWords: ['nu\u200Bde'] } });
    expect((await imagine(user, { guild }, 'a n.u.d.e statue')).content).toBe(
      'Your prompt contains a banned word (`nu\u200Bde`). Please rephrase it.',
    );
    expect((await settings(admin, { guild }, 'banned-word-add', { word: 'NUDE' })).content).toBe('"nude" is already banned here.');
    expect((await settings(admin, { guild }, 'banned-word-remove', { word: 'nu\u00ADde' })).content).toBe(
      '"nude" is no longer banned here (0 banned words left).',
    );
    expect((await getGuildSettings(h.pg.db, guild.id)).bannedWords).toEqual([]);
  });

  it.each([
    ['punctuation only', 'banned-word-add', '!!!', '`word` must contain a letter or a digit.'],
    ['blank', 'banned-word-add', '   ', '`word` must not be empty.'],
    [
      'too long',
      'banned-word-add',
      'x'.repeat(MAX_BANNED_WORD_LENGTH + 1),
      `\`word\` is too long: at most ${MAX_BANNED_WORD_LENGTH} characters.`,
    ],
    [
      'too long once normalised',
      'banned-word-add',
      '\ufdfa'.repeat(3),
      `\`word\` is too long once normalised: at most ${MAX_BANNED_WORD_LENGTH} characters.`,
    ],
    ['control character', 'banned-word-add', 'bad\u0007word', '`word` contains characters that are not allowed (control characters).'],
    ['word not in the list', 'banned-word-remove', 'unicorn', '"unicorn" is not one of this server\'s banned words.'],
    [
      'word from the configuration',
      'banned-word-remove',
      'FORBIDDEN',
      '"forbidden" is banned by the bot\'s configuration (BANNED_WORDS), for every server; it cannot be removed here.',
    ],
  ])('refuses a %s with a clear message', async (_label, sub, word, expected) => {
    const reply = await settings(admin, { guild: refusalGuild() }, sub, { word });
    expect(reply.content).toBe(expected);
  });

  it(`refuses more than ${MAX_BANNED_WORDS} words`, async () => {
    const guild = freshGuild();
    const full = Array.from({ length: MAX_BANNED_WORDS }, (_, i) => `word${i}`);
    await setGuildSettings(h.pg.db, { guildId: guild.id, actorId: admin.id, changes: { bannedWords: full } });
    const reply = await settings(admin, { guild }, 'banned-word-add', { word: 'one more' });
    expect(reply.content).toBe(`This server already has ${MAX_BANNED_WORDS} banned words, the most allowed. Remove one first.`);
    expect((await getGuildSettings(h.pg.db, guild.id)).bannedWords).toHaveLength(MAX_BANNED_WORDS);
  });

  it('keeps every word when admins add words concurrently', async () => {
    const guild = freshGuild();
    const words = Array.from({ length: 12 }, (_, i) => `concurrent${i}`);
    await Promise.all(words.map((word) => settings(admin, { guild }, 'banned-word-add', { word })));
    expect((await getGuildSettings(h.pg.db, guild.id)).bannedWords.sort()).toEqual([...words].sort());
    expect(await settingsAudit(guild)).toHaveLength(words.length);
  });
});

describe('allowed channels and default quota', () => {
  it('allowed channels restrict /imagine at once; removing the last one or clearing allows every channel again', async () => {
    const guild = freshGuild();
    const [general, art, memes] = [at(guild.channels, 0), at(guild.channels, 1), at(guild.channels, 2)];
    const user = h.discord.user('settings-wanderer');

    const allowed = await settings(admin, { guild }, 'channel-allow', { channel: art.id });
    expect(allowed.content).toBe(`/imagine is now allowed only in <#${art.id}>.`);
    const refused = await imagine(user, { guild, channel: 0 }, 'a cat');
    expect(refused.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(refused.content).toBe(`I am not enabled in this channel. Try <#${art.id}>.`);
    expect((await imagine(user, { guild, channel: 1 }, 'a cat')).content).toMatch(/queued/);

    expect((await settings(admin, { guild }, 'channel-allow', { channel: art.id })).content).toBe(
      `/imagine is already allowed in <#${art.id}>.`,
    );
    expect((await settings(admin, { guild }, 'channel-allow', { channel: memes.id })).content).toBe(
      `/imagine is now allowed only in <#${art.id}>, <#${memes.id}>.`,
    );
    expect((await settings(admin, { guild }, 'channel-remove', { channel: general.id })).content).toBe(
      `<#${general.id}> is not one of the allowed channels.`,
    );
    expect((await settings(admin, { guild }, 'channel-remove', { channel: art.id })).content).toBe(
      `Removed <#${art.id}>. /imagine is allowed only in <#${memes.id}>.`,
    );
    expect((await imagine(user, { guild, channel: 1 }, 'a cat')).content).toBe(`I am not enabled in this channel. Try <#${memes.id}>.`);
    expect((await settings(admin, { guild }, 'channel-remove', { channel: memes.id })).content).toBe(
      `Removed <#${memes.id}>. No channel is set any more, so /imagine works in every channel.`,
    );
    expect((await imagine(user, { guild, channel: 0 }, 'a cat')).content).toMatch(/queued/);

    await settings(admin, { guild }, 'channel-allow', { channel: memes.id });
    expect((await settings(admin, { guild }, 'channels-clear')).content).toBe('/imagine works in every channel again.');
    expect((await settings(admin, { guild }, 'channels-clear')).content).toBe('/imagine already works in every channel.');
    expect((await getGuildSettings(h.pg.db, guild.id)).allowedChannelIds).toEqual([]);

    const bad = await h.discord.sendCommand({
      name: 'settings',
      user: admin,
      guildId: guild.id,
      options: [{ name: 'channel-allow', type: 1, options: [{ name: 'channel', type: 7, value: 'general' }] }],
    });
    await bad.response();
    expect(bad.original()!.content).toBe('`channel` must be a channel.');
  });

  it("the server's default quota applies to a new user at once, on top of the global one; clearing it leaves the global one", async () => {
    const guild = freshGuild();
    const set = await settings(admin, { guild }, 'default-quota', { limit: 2 });
    expect(set.content).toBe(
      "The default quota here is now 2 images per day, for users without a limit here (the bot's own limits apply too).",
    );
    const newcomer = h.discord.user('settings-newcomer');
    const quota = await send('quota', newcomer, { guild });
    expect(quota.original()!.content).toMatch(
      /^Limit: 50 images per day\nUsed: 0\nRemaining: 50\nIn this server: 2 images per day, used 0, remaining 2\n/,
    );
    const tooMany = await imagine(newcomer, { guild }, 'three cats', 3);
    expect(tooMany.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(tooMany.content).toMatch(/^Not enough quota left in this server \(2 images per day here\): 2 images left, this needs 3\./);
    expect((await imagine(newcomer, { guild }, 'two cats', 2)).content).toMatch(/queued/);
    // The server's limit does not follow the user into DMs.
    expect((await imagine(newcomer, { guild: null }, 'a dm cat', 1)).content).toMatch(/queued/);

    const cleared = await settings(admin, { guild }, 'default-quota', { clear: true });
    expect(cleared.content).toBe("This server sets no limit of its own again: only the bot's own limits apply.");
    expect((await send('quota', newcomer, { guild })).original()!.content).toMatch(
      /^Limit: 50 images per day\nUsed: 3\nRemaining: 47\nIn this server: no limit of its own \(used 2 here today\)\n/,
    );
    expect((await settings(admin, { guild }, 'default-quota', { clear: true })).content).toBe(
      'This server already sets no limit of its own.',
    );
  });

  it("a user's limit in this server wins over the server's default, and is audited", async () => {
    const guild = freshGuild();
    const helper = h.discord.user('settings-helper');
    await settings(admin, { guild }, 'default-quota', { limit: 1 });
    const raised = await settings(admin, { guild }, 'user-limit', { user: helper.id, limit: 3 });
    expect(raised.content).toBe(`<@${helper.id}> may make 3 images per day in this server.`);
    expect((await imagine(helper, { guild }, 'three owls', 3)).content).toMatch(/queued/);
    const back = await settings(admin, { guild }, 'user-limit', { user: helper.id, clear: true });
    expect(back.content).toBe(`<@${helper.id}> has this server's default limit again.`);
    expect((await imagine(helper, { guild }, 'one more owl', 1)).content).toMatch(/^You have no quota left in this server/);
    expect((await listAudit(h.pg.db, { limit: 10, targetId: helper.id })).map((a) => [a.action, a.details.limit])).toEqual([
      ['guild.user_limit', null],
      ['guild.user_limit', 3],
    ]);
  });

  it.each([
    ['neither limit nor clear', {}, 'Give either `limit` (images per day) or `clear:True` (no server limit).'],
    ['both limit and clear', { limit: 5, clear: true }, 'Give either `limit` (images per day) or `clear:True` (no server limit).'],
    ['a negative limit', { limit: -1 }, '`limit` must be a whole number from 0 to 1000000.'],
    ['a fractional limit', { limit: 2.5 }, '`limit` must be a whole number from 0 to 1000000.'],
  ])('refuses %s', async (_label, options, expected) => {
    const guild = refusalGuild();
    expect((await settings(admin, { guild }, 'default-quota', options)).content).toBe(expected);
    expect((await getGuildSettings(h.pg.db, guild.id)).defaultQuota).toBeNull();
  });
});

describe('/settings show and the audit log', () => {
  it('shows every setting, and writes one audit row per change with who, what and when', async () => {
    const guild = freshGuild();
    const before = await settings(admin, { guild }, 'show');
    expect(before.content).toBe(
      "**Settings of this server**\nDefault quota: none of its own (the bot's default is 50 images per day)\nPer-user limits (0): none\nBanned here (0): none\n" +
        '/imagine allowed in: every channel\nBanned words (0): none\n' +
        "Also banned in every server by the bot's configuration: 1 word.",
    );

    const startedAt = Date.now();
    await settings(admin, { guild }, 'default-quota', { limit: 7 });
    await settings(admin, { guild }, 'channel-allow', { channel: at(guild.channels, 2).id });
    await settings(admin, { guild }, 'banned-word-add', { word: 'Snake_Case' });
    await settings(admin, { guild }, 'banned-word-add', { word: 'owl' });
    await settings(admin, { guild }, 'banned-word-add', { word: 'owl' });
    const [limited, banned] = [h.discord.user('settings-limited'), h.discord.user('settings-banned')];
    await settings(admin, { guild }, 'user-limit', { user: limited.id, limit: 3 });
    await settings(admin, { guild }, 'ban', { user: banned.id, reason: 'spam_bot' });
    const shown = await settings(admin, { guild }, 'show');
    expect(shown.content).toBe(
      `**Settings of this server**\nDefault quota: 7 images per day here (the bot's default is 50, and applies too)\n` +
        `Per-user limits (1): <@${limited.id}>: 3\nBanned here (1): <@${banned.id}> (spam\\_bot)\n/imagine allowed in: <#${at(guild.channels, 2).id}>\nBanned words (2): "snake\\_case", "owl"\n` +
        "Also banned in every server by the bot's configuration: 1 word.",
    );
    expect(shown.attachments).toEqual([]);

    const rows = (await settingsAudit(guild)).reverse();
    expect(rows.map((r) => [r.actorId, r.details])).toEqual([
      [admin.id, { defaultQuota: 7 }],
      [admin.id, { allowedChannelIds: [at(guild.channels, 2).id] }],
      [admin.id, { bannedWords: ['snake_case'] }],
      [admin.id, { bannedWords: ['snake_case', 'owl'] }],
    ]);
    for (const row of rows) expect(row.createdAt.getTime()).toBeGreaterThanOrEqual(startedAt - 5_000);
  });

  it('sends the banned words as a file when they do not fit in a message', async () => {
    const guild = freshGuild();
    const words = Array.from(
      { length: MAX_BANNED_WORDS },
      (_, i) => `${'w'.repeat(MAX_BANNED_WORD_LENGTH - 4)}${String(i).padStart(4, '0')}`,
    );
    await setGuildSettings(h.pg.db, { guildId: guild.id, actorId: admin.id, changes: { bannedWords: words } });
    const shown = await settings(admin, { guild }, 'show');
    expect(shown.content).toContain(`Banned words (${MAX_BANNED_WORDS}): in the attached file`);
    expect(shown.attachments).toHaveLength(1);
    const [attachment] = shown.attachments;
    expect(attachment?.filename).toBe('banned-words.txt');
    expect(attachment?.data.toString()).toBe(`${words.join('\n')}\n`);
  });
});
