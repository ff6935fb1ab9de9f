// The message store of the local Discord server: channel messages and interaction
// responses with their edits, validated against Discord's documented limits so that a
// payload Discord would reject is rejected here too.
import { at } from '../../src/checked.js';
import { snowflake } from './snowflake.js';
import type { FakeUser, Json, StoredAttachment, StoredMessage, UploadedFile } from './types.js';

/** An error answer in Discord's shape: `{ code, message, errors? }` with an HTTP status. */
export class DiscordApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly errors?: Json,
  ) {
    super(message);
    this.name = 'DiscordApiError';
  }

  toJson(): Json {
    return this.errors === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, errors: this.errors };
  }
}

export const MessageFlags = { Ephemeral: 64, Loading: 128 } as const;

const LIMITS = { content: 2000, embeds: 10, attachments: 10, rows: 5, perRow: 5, customId: 100, label: 80 };

function invalidForm(field: string, message: string): DiscordApiError {
  return new DiscordApiError(400, 50035, 'Invalid Form Body', {
    [field]: { _errors: [{ code: 'BASE_TYPE_INVALID', message }] },
  });
}

/** Checks a message body (create or edit) against Discord's limits; throws DiscordApiError. */
export function validateMessageBody(body: Json, files: UploadedFile[], maxUploadBytes: number): void {
  if (body !== null && typeof body !== 'object') throw invalidForm('_root', 'Expected an object.');
  const b = body ?? {};
  if (b.content !== undefined && b.content !== null) {
    if (typeof b.content !== 'string') throw invalidForm('content', 'Could not interpret value as string.');
    if (b.content.length > LIMITS.content) throw invalidForm('content', `Must be ${LIMITS.content} or fewer in length.`);
  }
  if (b.embeds !== undefined && b.embeds !== null) {
    if (!Array.isArray(b.embeds) || b.embeds.length > LIMITS.embeds)
      throw invalidForm('embeds', `Must be ${LIMITS.embeds} or fewer in length.`);
  }
  if (b.components !== undefined && b.components !== null) validateComponents(b.components);
  if (files.length > LIMITS.attachments) throw invalidForm('files', `Must be ${LIMITS.attachments} or fewer in length.`);
  for (const f of files) {
    if (f.data.length > maxUploadBytes) throw new DiscordApiError(413, 40005, 'Request entity too large');
  }
}

function validateComponents(rows: Json): void {
  if (!Array.isArray(rows) || rows.length > LIMITS.rows) throw invalidForm('components', `Must be ${LIMITS.rows} or fewer in length.`);
  const customIds = new Set<string>();
  rows.forEach((row: Json, r: number) => {
    if (row?.type !== 1 || !Array.isArray(row.components) || row.components.length < 1 || row.components.length > LIMITS.perRow) {
      throw invalidForm(`components.${r}`, `An action row holds 1 to ${LIMITS.perRow} components.`);
    }
    row.components.forEach((c: Json, i: number) => {
      const at = `components.${r}.components.${i}`;
      if (c?.type !== 2) throw invalidForm(at, 'Only buttons are supported by the local server.');
      if (c.label !== undefined && (typeof c.label !== 'string' || c.label.length > LIMITS.label)) {
        throw invalidForm(`${at}.label`, `Must be ${LIMITS.label} or fewer in length.`);
      }
      if (c.label === undefined && c.emoji === undefined) throw invalidForm(at, 'A button needs a label or an emoji.');
      if (c.style === 5) {
        if (typeof c.url !== 'string') throw invalidForm(`${at}.url`, 'Link buttons need a url.');
        return;
      }
      if (typeof c.style !== 'number' || c.style < 1 || c.style > 4)
        throw invalidForm(`${at}.style`, 'Value must be one of (1, 2, 3, 4, 5).');
      if (typeof c.custom_id !== 'string' || c.custom_id.length < 1 || c.custom_id.length > LIMITS.customId) {
        throw invalidForm(`${at}.custom_id`, `Must be between 1 and ${LIMITS.customId} in length.`);
      }
      if (customIds.has(c.custom_id)) throw invalidForm(`${at}.custom_id`, 'Component custom id cannot be duplicated');
      customIds.add(c.custom_id);
    });
  });
}

/** Width and height of a PNG or GIF, as Discord reports them for image attachments. */
function imageSize(data: Buffer): { width: number; height: number } | null {
  if (data.length >= 24 && data.readUInt32BE(0) === 0x89504e47 && data.toString('latin1', 12, 16) === 'IHDR') {
    return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data.length >= 10 && data.toString('latin1', 0, 4) === 'GIF8') {
    return { width: data.readUInt16LE(6), height: data.readUInt16LE(8) };
  }
  return null;
}

export interface CreateMessageInput {
  channelId: string;
  guildId: string | null;
  body: Json;
  files: UploadedFile[];
  flags?: number;
  interactionToken?: string | null;
  interactionMetadata?: Json;
}

export interface BotIdentity {
  id: string;
  username: string;
}

export class MessageStore {
  private readonly byId = new Map<string, StoredMessage>();
  private readonly listeners = new Set<(m: StoredMessage) => void>();

  constructor(
    private readonly attachmentBase: () => string,
    private readonly users: Map<string, FakeUser>,
    private readonly bot: BotIdentity,
  ) {}

  /** Every message ever stored (deleted ones too, flagged), oldest first. */
  all(): StoredMessage[] {
    return [...this.byId.values()];
  }

  get(id: string): StoredMessage | undefined {
    return this.byId.get(id);
  }

  inChannel(channelId: string): StoredMessage[] {
    return this.all().filter((m) => m.channelId === channelId && !m.deleted);
  }

  /** Resolves with the first message (now or later, created or edited) matching the predicate. */
  waitFor(predicate: (m: StoredMessage) => boolean, timeoutMs = 10_000): Promise<StoredMessage> {
    const found = this.all().find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no message matched within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (m: StoredMessage) => {
        if (!predicate(m)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(m);
      };
      this.listeners.add(listener);
    });
  }

  create(input: CreateMessageInput): StoredMessage {
    const now = Date.now();
    const b = input.body ?? {};
    const message: StoredMessage = {
      id: snowflake(now),
      channelId: input.channelId,
      guildId: input.guildId,
      content: typeof b.content === 'string' ? b.content : '',
      components: Array.isArray(b.components) ? b.components : [],
      embeds: Array.isArray(b.embeds) ? b.embeds : [],
      attachments: [],
      flags: (input.flags ?? 0) | (typeof b.flags === 'number' ? b.flags & MessageFlags.Ephemeral : 0),
      interactionToken: input.interactionToken ?? null,
      interactionMetadata: input.interactionMetadata ?? null,
      messageReference: b.message_reference ?? null,
      mentions: [],
      createdAt: now,
      editedAt: null,
      edits: [],
      deleted: false,
    };
    if (message.messageReference && message.messageReference.fail_if_not_exists !== false) {
      const target = this.byId.get(String(message.messageReference.message_id));
      if (!target || target.deleted) throw invalidForm('message_reference', 'Unknown message');
    }
    message.attachments = this.resolveAttachments(message, [], b.attachments, input.files);
    message.mentions = this.mentionsOf(message.content, b.allowed_mentions);
    this.byId.set(message.id, message);
    this.notify(message);
    return message;
  }

  /** Applies an edit. Fields absent from the body stay as they were, like Discord. */
  edit(message: StoredMessage, body: Json, files: UploadedFile[]): StoredMessage {
    const b = body ?? {};
    if (b.content !== undefined) message.content = b.content ?? '';
    if (b.components !== undefined) message.components = b.components ?? [];
    if (b.embeds !== undefined) message.embeds = b.embeds ?? [];
    if (b.content !== undefined || b.allowed_mentions !== undefined)
      message.mentions = this.mentionsOf(message.content, b.allowed_mentions);
    if (b.attachments !== undefined || files.length > 0) {
      message.attachments = this.resolveAttachments(message, message.attachments, b.attachments, files);
    }
    message.flags &= ~MessageFlags.Loading;
    message.editedAt = Date.now();
    message.edits.push({ at: message.editedAt, json: body, files });
    this.notify(message);
    return message;
  }

  delete(message: StoredMessage): void {
    message.deleted = true;
    this.notify(message);
  }

  attachment(channelId: string, attachmentId: string): StoredAttachment | undefined {
    for (const m of this.byId.values()) {
      if (m.channelId !== channelId) continue;
      const a = m.attachments.find((x) => x.id === attachmentId);
      if (a) return a;
    }
    return undefined;
  }

  /**
   * Discord's v10 rule: with an `attachments` field, the message ends up with exactly the
   * listed attachments (existing ones by id, new ones by the index of their `files[n]`);
   * without it, new files are appended to what the message already has.
   */
  private resolveAttachments(
    message: StoredMessage,
    existing: StoredAttachment[],
    listed: Json,
    files: UploadedFile[],
  ): StoredAttachment[] {
    const upload = (file: UploadedFile, meta: Json): StoredAttachment => {
      const id = snowflake();
      const filename = typeof meta?.filename === 'string' ? meta.filename : file.name;
      const size = imageSize(file.data);
      return {
        id,
        filename,
        contentType: file.contentType,
        size: file.data.length,
        width: size?.width ?? null,
        height: size?.height ?? null,
        data: file.data,
        url: `${this.attachmentBase()}/${message.channelId}/${id}/${encodeURIComponent(filename)}`,
      };
    };
    let result: StoredAttachment[];
    if (Array.isArray(listed)) {
      result = [];
      for (const entry of listed) {
        const id = String(entry?.id);
        const kept = existing.find((a) => a.id === id);
        if (kept) {
          result.push(kept);
          continue;
        }
        const file = /^\d{1,2}$/.test(id) ? files[Number(id)] : undefined;
        if (!file) throw invalidForm('attachments', `Unknown attachment id ${id}`);
        result.push(upload(file, entry));
      }
    } else {
      result = [...existing, ...files.map((f) => upload(f, null))];
    }
    if (result.length > LIMITS.attachments) throw invalidForm('attachments', `Must be ${LIMITS.attachments} or fewer in length.`);
    return result;
  }

  private mentionsOf(content: string, allowed: Json): string[] {
    const mentioned = [...content.matchAll(/<@!?(\d{15,21})>/g)].map((m) => at(m, 1));
    const unique = [...new Set(mentioned)];
    if (allowed === undefined || allowed === null) return unique;
    const parse: unknown[] = Array.isArray(allowed.parse) ? allowed.parse : [];
    if (parse.includes('users')) return unique;
    const users: unknown[] = Array.isArray(allowed.users) ? allowed.users : [];
    return unique.filter((id) => users.includes(id));
  }

  private notify(message: StoredMessage): void {
    for (const listener of [...this.listeners]) listener(message);
  }

  /** The message as Discord's API returns it. */
  toJson(m: StoredMessage): Json {
    const userJson = (id: string) => {
      const u = this.users.get(id);
      return { id, username: u?.username ?? `user${id.slice(-4)}`, global_name: u?.globalName ?? null, discriminator: '0', avatar: null };
    };
    return {
      id: m.id,
      type: m.interactionMetadata ? 20 : m.messageReference ? 19 : 0,
      channel_id: m.channelId,
      ...(m.guildId ? { guild_id: m.guildId } : {}),
      author: { id: this.bot.id, username: this.bot.username, global_name: null, discriminator: '0000', avatar: null, bot: true },
      content: m.content,
      timestamp: new Date(m.createdAt).toISOString(),
      edited_timestamp: m.editedAt === null ? null : new Date(m.editedAt).toISOString(),
      tts: false,
      mention_everyone: false,
      mentions: m.mentions.map(userJson),
      mention_roles: [],
      attachments: m.attachments.map((a) => ({
        id: a.id,
        filename: a.filename,
        size: a.size,
        url: a.url,
        proxy_url: a.url,
        content_type: a.contentType,
        ...(a.width !== null ? { width: a.width, height: a.height } : {}),
      })),
      embeds: m.embeds,
      components: m.components,
      pinned: false,
      flags: m.flags,
      ...(m.interactionToken ? { webhook_id: this.bot.id, application_id: this.bot.id } : {}),
      ...(m.interactionMetadata ? { interaction_metadata: m.interactionMetadata } : {}),
      ...(m.messageReference ? { message_reference: { type: 0, channel_id: m.channelId, ...m.messageReference } } : {}),
    };
  }
}
