// Interaction payloads as Discord sends them over the gateway (INTERACTION_CREATE), and
// the per-interaction state Discord keeps: the 3-second deadline for the first response,
// the 15-minute token, the @original message.
import { randomBytes } from 'node:crypto';
import { snowflake } from './snowflake.js';
import type { FakeGuild, FakeUser, Json, RecordedRequest, StoredMessage } from './types.js';

export const InteractionType = { Command: 2, Component: 3, Autocomplete: 4, ModalSubmit: 5 } as const;
export const OptionType = {
  Subcommand: 1,
  SubcommandGroup: 2,
  String: 3,
  Integer: 4,
  Boolean: 5,
  User: 6,
  Channel: 7,
  Role: 8,
  Mentionable: 9,
  Number: 10,
  Attachment: 11,
} as const;

/** A normal member's permissions: view, send, embed, attach, read history, use application commands. */
export const MEMBER_PERMISSIONS = '2147601408';
/** What the bot may do in the channel (same set). */
const APP_PERMISSIONS = '2147601408';

export interface RawOption {
  name: string;
  type: number;
  value?: unknown;
  options?: RawOption[];
  focused?: boolean;
}

/** A file a user attaches to a slash command's attachment option. */
export interface UploadInput {
  filename: string;
  data: Buffer;
  /** What the client claims (Discord passes it on unchecked). */
  contentType?: string;
  /** The size the payload declares; the real size by default. */
  declaredSize?: number;
}

export interface CommandInput {
  name: string;
  /** Option values by name (types come from the registered command), or raw options sent as they are. */
  options?: Record<string, unknown> | RawOption[];
  /** Files for attachment options, by option name: served by the local server, listed in `resolved.attachments`. */
  attachments?: Record<string, UploadInput>;
  subcommand?: string;
  user: FakeUser;
  /** Guild to send from; the first guild by default. null sends from a DM. */
  guildId?: string | null;
  channelId?: string;
  /** Extra member fields (roles, permissions) for this one interaction. */
  member?: { roles?: string[]; permissions?: string };
}

export interface AutocompleteInput extends CommandInput {
  /** The option being typed. */
  focused: string;
}

export interface ClickInput {
  message: StoredMessage;
  customId: string;
  user: FakeUser;
  member?: { roles?: string[]; permissions?: string };
  /** Send the click even if no button on the message has this custom_id (forged clicks). */
  unchecked?: boolean;
}

export interface InteractionState {
  id: string;
  token: string;
  type: number;
  channelId: string;
  guildId: string | null;
  user: FakeUser;
  payload: Json;
  sentAt: number;
  /** The message a component was clicked on. */
  componentMessageId: string | null;
  callback: { type: number; at: number; request: RecordedRequest } | null;
  originalMessageId: string | null;
  followUpIds: string[];
  expired: boolean;
  callbackWaiters: Set<(r: RecordedRequest) => void>;
}

/** What sendCommand / clickButton return: the interaction and ways to await its answers. */
export interface InteractionHandle {
  id: string;
  token: string;
  /** Epoch ms (sub-ms precision) when the interaction was dispatched. */
  sentAt: number;
  payload: Json;
  /** The callback request (POST /interactions/:id/:token/callback) once it arrived. */
  response(timeoutMs?: number): Promise<RecordedRequest>;
  /** The @original message as it is now (after a type 4/5 callback, or the clicked message). */
  original(): StoredMessage | undefined;
  /** Follow-up messages sent with this token. */
  followUps(): StoredMessage[];
}

export function newInteractionToken(): string {
  // Real tokens are long opaque base64url strings; the logger masks runs this long.
  return `aW50ZXJhY3Rpb24${randomBytes(96).toString('base64url')}`;
}

export function userJson(u: FakeUser): Json {
  return { id: u.id, username: u.username, global_name: u.globalName ?? null, discriminator: '0', avatar: null, public_flags: 0 };
}

function memberJson(u: FakeUser, extra: CommandInput['member']): Json {
  return {
    user: userJson(u),
    roles: extra?.roles ?? u.roles ?? [],
    permissions: extra?.permissions ?? u.permissions ?? MEMBER_PERMISSIONS,
    nick: null,
    avatar: null,
    joined_at: new Date(Date.now() - 86_400_000).toISOString(),
    premium_since: null,
    deaf: false,
    mute: false,
    pending: false,
    flags: 0,
    communication_disabled_until: null,
  };
}

export interface Context {
  applicationId: string;
  guilds: FakeGuild[];
  users: Map<string, FakeUser>;
  dmChannels: Map<string, string>;
  /** Registered command definitions (global and guild), for option types; undefined for an unknown command. */
  findCommand(name: string, guildId: string | null): Json;
  /** Keeps an uploaded file for download; returns its id and URL. */
  addUpload(file: UploadInput): { id: string; url: string };
}

/** Where an interaction happens: its guild, channel and the member or user fields. */
function placeFields(
  ctx: Context,
  user: FakeUser,
  guildId: string | null | undefined,
  channelId: string | undefined,
  member: CommandInput['member'],
): Json {
  ctx.users.set(user.id, user);
  if (guildId === null) {
    let dm = ctx.dmChannels.get(user.id);
    if (!dm) {
      dm = snowflake();
      ctx.dmChannels.set(user.id, dm);
    }
    return {
      channel_id: dm,
      channel: { id: dm, type: 1, flags: 0, last_message_id: null, recipients: [userJson(user)] },
      user: userJson(user),
      context: 1,
      authorizing_integration_owners: { '1': user.id },
    };
  }
  const guild = guildId === undefined ? ctx.guilds[0] : ctx.guilds.find((g) => g.id === guildId);
  if (!guild) throw new Error(`unknown guild ${guildId}`);
  const channel = channelId === undefined ? guild.channels[0] : guild.channels.find((c) => c.id === channelId);
  if (!channel) throw new Error(`unknown channel ${channelId} in guild ${guild.id}`);
  return {
    guild_id: guild.id,
    guild: { id: guild.id, locale: 'en-US', features: [] },
    guild_locale: 'en-US',
    channel_id: channel.id,
    channel: {
      id: channel.id,
      type: 0,
      guild_id: guild.id,
      name: channel.name,
      position: 0,
      flags: 0,
      parent_id: null,
      nsfw: false,
      topic: null,
      last_message_id: null,
      rate_limit_per_user: 0,
      permissions: APP_PERMISSIONS,
    },
    member: memberJson(user, member),
    context: 0,
    authorizing_integration_owners: { '0': guild.id },
  };
}

function inferType(value: unknown): number {
  if (typeof value === 'boolean') return OptionType.Boolean;
  if (typeof value === 'number') return Number.isInteger(value) ? OptionType.Integer : OptionType.Number;
  return OptionType.String;
}

/** Turns `{ name: value }` into Discord's option list, typed after the registered definition. */
function buildOptions(
  values: Record<string, unknown>,
  definitions: Json[] | undefined,
  focused: string | undefined,
): { options: RawOption[]; userIds: string[] } {
  const userIds: string[] = [];
  const options = Object.entries(values).map(([name, value]): RawOption => {
    const def = definitions?.find((o: Json) => o?.name === name);
    const type: number = def?.type ?? inferType(value);
    let v = value;
    if (type === OptionType.User && typeof value === 'object' && value !== null && 'id' in value) v = (value as FakeUser).id;
    if (type === OptionType.User) userIds.push(String(v));
    return { name, type, value: v, ...(focused === name ? { focused: true } : {}) };
  });
  return { options, userIds };
}

/** The payload's `resolved` users (and members in a guild); undefined when no user option was given. */
function resolvedUsers(ctx: Context, ids: string[], inGuild: boolean): Json {
  if (ids.length === 0) return undefined;
  const users: Record<string, Json> = {};
  const members: Record<string, Json> = {};
  for (const id of ids) {
    const u = ctx.users.get(id) ?? { id, username: `user${id.slice(-4)}` };
    users[id] = userJson(u);
    if (inGuild) {
      const { user: _user, ...member } = memberJson(u, undefined);
      members[id] = member;
    }
  }
  return inGuild ? { users, members } : { users };
}

function basePayload(ctx: Context, type: number, token: string, data: Json, place: Json): Json {
  return {
    id: snowflake(),
    application_id: ctx.applicationId,
    type,
    data,
    ...place,
    token,
    version: 1,
    app_permissions: APP_PERMISSIONS,
    locale: 'en-US',
    entitlements: [],
    attachment_size_limit: 10 * 1024 * 1024,
  };
}

export function commandPayload(ctx: Context, input: CommandInput, type: number, token: string, focused?: string): Json {
  const place = placeFields(ctx, input.user, input.guildId, input.channelId, input.member);
  const guildId: string | null = place.guild_id ?? null;
  const command = ctx.findCommand(input.name, guildId);
  let options: RawOption[];
  let userIds: string[] = [];
  if (Array.isArray(input.options)) {
    options = input.options;
  } else {
    const topDefs: Json[] | undefined = command?.options;
    const defs = input.subcommand === undefined ? topDefs : topDefs?.find((o: Json) => o?.name === input.subcommand)?.options;
    ({ options, userIds } = buildOptions(input.options ?? {}, defs, focused));
    if (input.subcommand !== undefined) options = [{ name: input.subcommand, type: OptionType.Subcommand, options }];
  }
  let resolved = resolvedUsers(ctx, userIds, guildId !== null);
  const attachments: Record<string, Json> = {};
  for (const [name, file] of Object.entries(input.attachments ?? {})) {
    const { id, url } = ctx.addUpload(file);
    options.push({ name, type: OptionType.Attachment, value: id });
    attachments[id] = {
      id,
      filename: file.filename,
      size: file.declaredSize ?? file.data.length,
      url,
      proxy_url: url,
      ephemeral: true,
      ...(file.contentType ? { content_type: file.contentType } : {}),
    };
  }
  if (Object.keys(attachments).length > 0) resolved = { ...(resolved ?? {}), attachments };
  const data = {
    id: command?.id ?? snowflake(),
    name: input.name,
    type: 1,
    options,
    ...(resolved ? { resolved } : {}),
    ...(command?.guild_id ? { guild_id: command.guild_id } : {}),
  };
  return basePayload(ctx, type, token, data, place);
}

export function clickPayload(ctx: Context, input: ClickInput, messageJson: Json, token: string): Json {
  const guildId = input.message.guildId;
  const place = placeFields(ctx, input.user, guildId, guildId === null ? undefined : input.message.channelId, input.member);
  if (guildId === null) {
    // A DM click happens in the DM channel the message is in.
    place.channel_id = input.message.channelId;
    place.channel.id = input.message.channelId;
  }
  return {
    ...basePayload(ctx, InteractionType.Component, token, { custom_id: input.customId, component_type: 2 }, place),
    message: messageJson,
  };
}

export interface ModalSubmitInput {
  /** The interaction the modal was the answer to (its callback was type 9). */
  opened: InteractionHandle;
  user: FakeUser;
  /** Values by component custom_id: text for a text input, the chosen option values for a select. */
  values: Record<string, string | string[]>;
  member?: { roles?: string[]; permissions?: string };
}

/** The modal's fields (custom_id -> component JSON), in label components (type 18) or action rows (type 1). */
export function modalFields(modal: Json): Map<string, Json> {
  const fields = new Map<string, Json>();
  for (const top of modal?.components ?? []) {
    const inner: Json[] = top?.type === 18 ? [top.component] : (top?.components ?? []);
    for (const c of inner) if (typeof c?.custom_id === 'string') fields.set(c.custom_id, c);
  }
  return fields;
}

/**
 * A MODAL_SUBMIT payload for a modal the bot showed, with the user's values (checked against its fields and limits);
 * `message` is the message whose component opened the modal, null for one opened by a command.
 */
export function modalSubmitPayload(ctx: Context, input: ModalSubmitInput, modal: Json, opener: Json, token: string, message: Json): Json {
  const fields = modalFields(modal);
  const components: Json[] = [];
  for (const [customId, value] of Object.entries(input.values)) {
    const field = fields.get(customId);
    if (!field) throw new Error(`the modal has no field ${customId}`);
    if (field.type === 4) {
      if (typeof value !== 'string') throw new Error(`text input ${customId} takes a string`);
      if (value.length > (field.max_length ?? 4000) || value.length < (field.min_length ?? 0))
        throw new Error(`text input ${customId}: length out of its bounds`);
      components.push({
        type: 18,
        id: components.length + 1,
        component: { type: 4, id: components.length + 2, custom_id: customId, value },
      });
    } else if (field.type === 3) {
      if (!Array.isArray(value)) throw new Error(`select ${customId} takes a list`);
      const allowed = new Set((field.options ?? []).map((o: Json) => o.value));
      if (value.some((v) => !allowed.has(v))) throw new Error(`select ${customId}: a value that is not one of its options`);
      if (value.length < (field.min_values ?? 1) || value.length > (field.max_values ?? 1))
        throw new Error(`select ${customId}: number of values out of its bounds`);
      components.push({
        type: 18,
        id: components.length + 1,
        component: { type: 3, id: components.length + 2, custom_id: customId, values: value },
      });
    } else {
      throw new Error(`field ${customId} has type ${field.type}, which this server does not submit`);
    }
  }
  const place = placeFields(ctx, input.user, opener.guild_id ?? null, opener.guild_id ? opener.channel_id : undefined, input.member);
  if (!opener.guild_id) {
    place.channel_id = opener.channel_id;
    place.channel.id = opener.channel_id;
  }
  return {
    ...basePayload(ctx, InteractionType.ModalSubmit, token, { custom_id: modal.custom_id, components }, place),
    ...(message === null ? {} : { message }),
  };
}

/** Whether a message carries a (non-disabled) button with this custom_id. */
export function hasButton(message: StoredMessage, customId: string): boolean {
  return message.components.some((row: Json) => (row?.components ?? []).some((c: Json) => c?.custom_id === customId && !c.disabled));
}
