// Shapes shared by the pieces of the local Discord API server.

/** A parsed JSON body. Tests index into it freely, so it is deliberately untyped. */
export type Json = any;

export interface UploadedFile {
  name: string;
  contentType: string;
  data: Buffer;
}

export interface RecordedRequest {
  method: string;
  /** Path without the `/api/v10` prefix, e.g. `/channels/123/messages`. */
  path: string;
  query: Record<string, string>;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The JSON body, or the parsed `payload_json` part of a multipart body; null when there is none. */
  json: Json;
  files: UploadedFile[];
  /** Epoch milliseconds (sub-millisecond precision) when the request arrived. */
  receivedAt: number;
  /** What the server answered; set once the answer is sent. */
  response?: { status: number; json: Json };
}

export interface ReplyRule {
  status: number;
  json?: Json;
  headers?: Record<string, string>;
}

/** Returns undefined for the default handling, or an answer to send instead. */
export type RequestRule = (req: RecordedRequest) => ReplyRule | undefined;

export interface FakeUser {
  id: string;
  username: string;
  globalName?: string;
  /** Role ids the member has in every guild (guild interactions only). */
  roles?: string[];
  /** Member permission bitfield as a decimal string; a normal member's permissions by default. */
  permissions?: string;
}

export interface FakeChannel {
  id: string;
  name: string;
}

export interface FakeGuild {
  id: string;
  name: string;
  channels: FakeChannel[];
  /** Extra role ids (besides @everyone) that exist in the guild. */
  roles: string[];
}

export interface StoredAttachment {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  width: number | null;
  height: number | null;
  data: Buffer;
  url: string;
}

export interface MessageEdit {
  at: number;
  json: Json;
  files: UploadedFile[];
}

export interface StoredMessage {
  id: string;
  channelId: string;
  guildId: string | null;
  content: string;
  components: Json[];
  embeds: Json[];
  attachments: StoredAttachment[];
  flags: number;
  /** Set on interaction responses and follow-ups: the token of the interaction. */
  interactionToken: string | null;
  /** Set on interaction responses: the interaction id, type, name and user; null on other messages. */
  interactionMetadata: Json;
  /** The message this one replies to (`message_reference` as sent); null when it is no reply. */
  messageReference: Json;
  /** User ids the message pings (after applying allowed_mentions). */
  mentions: string[];
  createdAt: number;
  editedAt: number | null;
  /** Every edit after creation, in order, with the body that produced it. */
  edits: MessageEdit[];
  deleted: boolean;
}
