// Pure renderers for every message that shows a job: queued, progress, result, failed,
// cancelled. They return Discord API JSON (plus the files to upload) and do no I/O, so
// the bot and the worker render the same job the same way.
import {
  ButtonStyle,
  ComponentType,
  type APIActionRowComponent,
  type APIAllowedMentions,
  type APIButtonComponentWithCustomId,
  type APIComponentInMessageActionRow,
} from 'discord-api-types/v10';
import { editDenoises, editLabel } from '../contract/index.js';
import type { Job } from '../db/index.js';
import { buildCustomId, type ButtonAction, type ButtonEdit } from './custom-ids.js';

/** The job fields a message shows: a `jobs` row, or any object with these fields. */
export type MessageJob = Pick<
  Job,
  | 'id'
  | 'userId'
  | 'kind'
  | 'prompt'
  | 'negativePrompt'
  | 'model'
  | 'sampler'
  | 'steps'
  | 'guidance'
  | 'width'
  | 'height'
  | 'count'
  | 'strength'
  | 'seed'
  | 'edit'
>;

export interface MessageFile {
  name: string;
  data: Buffer;
}

export interface MessagePayload {
  content: string;
  components: APIActionRowComponent<APIComponentInMessageActionRow>[];
  /** Replaces every attachment of an edited message (an empty list removes them). */
  files: MessageFile[];
  allowedMentions: APIAllowedMentions;
}

export interface ProgressView {
  step: number;
  totalSteps: number;
  /** When the job should finish; shown as a relative Discord timestamp. Null while unknown. */
  etaUnixSeconds: number | null;
  /** The current predicted image, small (JPEG or WebP). */
  preview: MessageFile | null;
}

export interface ResultView {
  /** The 2x2 grid (several images) or the single image, already under the upload limit. */
  file: MessageFile;
  /** The seed of each image, by index. */
  seeds: number[];
  /** Generation time; omitted when unknown (a result shown again later). */
  elapsedMs?: number;
  /** Offer the Replay button (an animated denoising replay was stored). */
  replay?: boolean;
  /** A line about how the result was made, e.g. that a canvas was scaled down to fit. */
  note?: string;
}

/** Discord's limit on message content. */
const CONTENT_LIMIT = 2000;
/** Room kept for the lines around the prompt. */
const PROMPT_LIMIT = 1200;

// Prompts are user text: never let them ping anyone. Results mention only the owner.
const NO_MENTIONS: APIAllowedMentions = { parse: [] };
const mentionOwner = (job: MessageJob): APIAllowedMentions => ({ parse: [], users: [job.userId] });

/** Backslash-escapes the characters Discord markdown reacts to inside a line. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\*_~`|<>[\]()#-]/g, (c) => `\\${c}`);
}

type ActionButtonStyle = APIButtonComponentWithCustomId['style'];

function button(label: string, action: ButtonAction, style: ActionButtonStyle = ButtonStyle.Secondary): APIButtonComponentWithCustomId {
  return { type: ComponentType.Button, style, label, custom_id: buildCustomId(action) };
}

function row(buttons: APIButtonComponentWithCustomId[]): APIActionRowComponent<APIComponentInMessageActionRow> {
  return { type: ComponentType.ActionRow, components: buttons };
}

function quotedPrompt(job: MessageJob): string {
  const prompt = job.prompt.length > PROMPT_LIMIT ? `${job.prompt.slice(0, PROMPT_LIMIT)}…` : job.prompt;
  return `**${escapeMarkdown(prompt.replace(/\s+/g, ' '))}**`;
}

function formatGuidance(guidance: number): string {
  return Number.isInteger(guidance) ? guidance.toFixed(1) : String(guidance);
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function limit(content: string): string {
  return content.length <= CONTENT_LIMIT ? content : `${content.slice(0, CONTENT_LIMIT - 1)}…`;
}

function header(job: MessageJob): string {
  return `${quotedPrompt(job)} - <@${job.userId}>`;
}

function cancelRow(job: MessageJob): APIActionRowComponent<APIComponentInMessageActionRow> {
  return row([button('Cancel', { action: 'cancel', jobId: job.id }, ButtonStyle.Danger)]);
}

export function renderQueued(job: MessageJob, position: number): MessagePayload {
  const where = position <= 1 ? 'next in line' : `position ${position}`;
  return {
    content: limit(`${header(job)}\nJob \`${job.id}\` queued, ${where}`),
    components: [cancelRow(job)],
    files: [],
    allowedMentions: NO_MENTIONS,
  };
}

export function renderProgress(job: MessageJob, progress: ProgressView): MessagePayload {
  const percent = Math.floor((100 * progress.step) / Math.max(1, progress.totalSteps));
  const eta = progress.etaUnixSeconds === null ? '' : `, done <t:${Math.round(progress.etaUnixSeconds)}:R>`;
  return {
    content: limit(`${header(job)}\nJob \`${job.id}\` step ${progress.step}/${progress.totalSteps} (${percent}%)${eta}`),
    components: [cancelRow(job)],
    files: progress.preview === null ? [] : [progress.preview],
    allowedMentions: NO_MENTIONS,
  };
}

function resultRows(job: MessageJob, result: ResultView): APIActionRowComponent<APIComponentInMessageActionRow>[] {
  const jobId = job.id;
  const replay = result.replay === true ? [button('Replay', { action: 'replay', jobId })] : [];
  if (result.seeds.length === 1) {
    const index = 0;
    const edit = (label: string, e: ButtonEdit) => button(label, { action: 'edit', jobId, index, edit: e });
    return [
      row([
        edit('Upscale (subtle)', { kind: 'upscale', mode: 'subtle' }),
        edit('Upscale (creative)', { kind: 'upscale', mode: 'creative' }),
        button('Vary (subtle)', { action: 'variation', jobId, index, strength: 'subtle' }),
        button('Vary (strong)', { action: 'variation', jobId, index, strength: 'strong' }),
        button('Vary (region)', { action: 'region', jobId, index }),
      ]),
      row([edit('Zoom out 2x', { kind: 'zoom', factor: 2 }), edit('Zoom out 1.5x', { kind: 'zoom', factor: 1.5 })]),
      row([
        edit('⬅️', { kind: 'pan', direction: 'left' }),
        edit('➡️', { kind: 'pan', direction: 'right' }),
        edit('⬆️', { kind: 'pan', direction: 'up' }),
        edit('⬇️', { kind: 'pan', direction: 'down' }),
      ]),
      row([button('Rerun', { action: 'reroll', jobId }), ...replay]),
    ];
  }
  const indexes = result.seeds.map((_, index) => index);
  return [
    row(indexes.map((index) => button(`U${index + 1}`, { action: 'select', jobId, index }))),
    row(indexes.map((index) => button(`V${index + 1}`, { action: 'variation', jobId, index, strength: 'strong' }))),
    row([button('🔄', { action: 'reroll', jobId }), ...replay]),
  ];
}

export function renderResult(job: MessageJob, result: ResultView): MessagePayload {
  const seeds = result.seeds.length === 1 ? `seed ${result.seeds[0]}` : `seeds ${result.seeds.join(', ')}`;
  const details = [
    seeds,
    job.sampler,
    `${job.steps} steps`,
    `guidance ${formatGuidance(job.guidance)}`,
    `${job.width}x${job.height}`,
    ...(job.edit === null ? [] : [editLabel(job.edit)]),
    ...(job.strength === null || (job.edit !== null && !editDenoises(job.edit)) ? [] : [`strength ${job.strength}`]),
    job.model,
    ...(result.elapsedMs === undefined ? [] : [formatSeconds(result.elapsedMs)]),
  ];
  const negative = job.negativePrompt === '' ? '' : `\nNegative: ${escapeMarkdown(job.negativePrompt.slice(0, 300))}`;
  const note = result.note === undefined ? '' : `\n${result.note}`;
  return {
    content: limit(`${header(job)}\nJob \`${job.id}\` · ${details.join(' · ')}${negative}${note}`),
    components: resultRows(job, result),
    files: [result.file],
    allowedMentions: mentionOwner(job),
  };
}

/** What a failed or cancelled job's charge became, as the ledger says. */
export interface RefundView {
  charged: number;
  credited: number;
}

/** The truth about the refund: nothing is claimed that the ledger does not show. */
function refundLine(refund: RefundView): string {
  if (refund.charged === 0) return '';
  if (refund.credited >= refund.charged) return '\nYour quota was refunded.';
  if (refund.credited > 0) return `\n${refund.credited} of its ${refund.charged} images were given back to your quota.`;
  return '\nNothing was given back: the quota it was charged to has been reset since.';
}

export function renderFailed(job: MessageJob, reason: string, refund: RefundView): MessagePayload {
  return {
    content: limit(`${header(job)}\nJob \`${job.id}\` failed: ${escapeMarkdown(reason)}${refundLine(refund)}`),
    components: [],
    files: [],
    allowedMentions: mentionOwner(job),
  };
}

/** @param reason why the bot cancelled it (no worker came); none when a person did. */
export function renderCancelled(job: MessageJob, refund: RefundView, reason?: string): MessagePayload {
  const why = reason === undefined ? '.' : `: ${escapeMarkdown(reason)}`;
  return {
    content: limit(`${header(job)}\nJob \`${job.id}\` cancelled${why}${refundLine(refund)}`),
    components: [],
    files: [],
    // A cancellation nobody asked for is news to the owner.
    allowedMentions: reason === undefined ? NO_MENTIONS : mentionOwner(job),
  };
}

/** A queued job whose model no live worker serves: it keeps its place (and its Cancel button). */
export function renderWaitingForWorker(job: MessageJob): MessagePayload {
  return {
    content: limit(`${header(job)}\nJob \`${job.id}\`: no worker for model \`${job.model}\` is online; your job waits.`),
    components: [cancelRow(job)],
    files: [],
    allowedMentions: NO_MENTIONS,
  };
}

/**
 * The original job message once the result had to be posted as a new message (the
 * interaction token expired): no more buttons, and a pointer to the reply.
 */
export function renderSuperseded(job: MessageJob): MessagePayload {
  return {
    content: limit(`${header(job)}\nJob \`${job.id}\` is done: the result is in the reply below.`),
    components: [],
    files: [],
    allowedMentions: NO_MENTIONS,
  };
}
