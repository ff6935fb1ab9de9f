// Button custom_ids carry only an action, a job id and an image index (and for edits a short
// code of the edit). Anyone who can see a message can click (or forge) them, so parsing is
// strict and the job is always reloaded from Postgres and checked against the clicking user
// before acting.
import { isJobId, type Edit } from '../contract/index.js';

/** An edit a button starts at once (Vary (region) asks for its cells first: `region`). */
export type ButtonEdit = Exclude<Edit, { kind: 'region' }>;

export type ButtonAction =
  | { action: 'select'; jobId: string; index: number } // U1-U4: post that image alone
  | { action: 'variation'; jobId: string; index: number; strength: 'subtle' | 'strong' } // V1-V4 (strong), Vary buttons
  | { action: 'reroll'; jobId: string } // 🔄 and "Rerun" on a single image: same request, new seed
  | { action: 'cancel'; jobId: string }
  | { action: 'replay'; jobId: string } // animated denoising replay
  | { action: 'edit'; jobId: string; index: number; edit: ButtonEdit } // Zoom out, pan, Upscale
  | { action: 'region'; jobId: string; index: number }; // Vary (region): a modal of cells and the prompt

const PREFIX = 'img';

/** The code of each edit a button starts, in its custom_id. */
const EDIT_CODES: readonly (readonly [string, ButtonEdit])[] = Object.freeze([
  ['z2', { kind: 'zoom', factor: 2 }],
  ['z15', { kind: 'zoom', factor: 1.5 }],
  ['pl', { kind: 'pan', direction: 'left' }],
  ['pr', { kind: 'pan', direction: 'right' }],
  ['pu', { kind: 'pan', direction: 'up' }],
  ['pd', { kind: 'pan', direction: 'down' }],
  ['us', { kind: 'upscale', mode: 'subtle' }],
  ['uc', { kind: 'upscale', mode: 'creative' }],
] as const);

function editCode(edit: ButtonEdit): string {
  const found = EDIT_CODES.find(([, e]) => JSON.stringify(e) === JSON.stringify(edit));
  if (found === undefined) throw new RangeError(`no button for the edit ${JSON.stringify(edit)}`);
  return found[0];
}

/** Builds a custom_id (at most 100 characters, Discord's limit). */
export function buildCustomId(a: ButtonAction): string {
  switch (a.action) {
    case 'select':
      return `${PREFIX}:u:${a.jobId}:${a.index}`;
    case 'variation':
      return `${PREFIX}:v${a.strength === 'subtle' ? 's' : ''}:${a.jobId}:${a.index}`;
    case 'reroll':
      return `${PREFIX}:r:${a.jobId}`;
    case 'cancel':
      return `${PREFIX}:c:${a.jobId}`;
    case 'replay':
      return `${PREFIX}:p:${a.jobId}`;
    case 'edit':
      return `${PREFIX}:${editCode(a.edit)}:${a.jobId}:${a.index}`;
    case 'region':
      return `${PREFIX}:vr:${a.jobId}:${a.index}`;
  }
}

/**
 * A modal a button opened (remix, Vary (region)) carries that button's custom_id behind its
 * own prefix, so its submit is handled by the same button handler, checked the same way.
 */
const MODAL_PREFIX = 'mdl:';

export function buildModalId(a: ButtonAction): string {
  return `${MODAL_PREFIX}${buildCustomId(a)}`;
}

/** Parses a modal's custom_id into the action of the button that opened it, or null. */
export function parseModalId(customId: string): ButtonAction | null {
  return customId.startsWith(MODAL_PREFIX) ? parseCustomId(customId.slice(MODAL_PREFIX.length)) : null;
}

const INDEXED = new Set(['u', 'v', 'vs', 'vr', ...EDIT_CODES.map(([code]) => code)]);

/** Parses a custom_id into typed data, or returns null for anything we did not build. */
export function parseCustomId(customId: string): ButtonAction | null {
  if (customId.length > 100) return null;
  const parts = customId.split(':');
  if (parts[0] !== PREFIX) return null;
  const [, code, jobId, indexText] = parts;
  if (code === undefined || jobId === undefined || !isJobId(jobId)) return null;
  const withIndex = INDEXED.has(code);
  if (parts.length !== (withIndex ? 4 : 3)) return null;
  let index = 0;
  if (withIndex) {
    if (indexText === undefined || !/^[0-3]$/.test(indexText)) return null;
    index = Number(indexText);
  }
  const edit = EDIT_CODES.find(([c]) => c === code);
  if (edit !== undefined) return { action: 'edit', jobId, index, edit: edit[1] };
  switch (code) {
    case 'u':
      return { action: 'select', jobId, index };
    case 'v':
      return { action: 'variation', jobId, index, strength: 'strong' };
    case 'vs':
      return { action: 'variation', jobId, index, strength: 'subtle' };
    case 'vr':
      return { action: 'region', jobId, index };
    case 'r':
      return { action: 'reroll', jobId };
    case 'c':
      return { action: 'cancel', jobId };
    case 'p':
      return { action: 'replay', jobId };
    default:
      return null;
  }
}
