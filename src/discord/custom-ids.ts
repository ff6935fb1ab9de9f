// Button custom_ids carry only an action, a job id and an image index. Anyone who can see
// a message can click (or forge) them, so parsing is strict and the job is always
// reloaded from Postgres and checked against the clicking user before acting.
import { isJobId } from '../contract/index.js';

export type ButtonAction =
  | { action: 'select'; jobId: string; index: number } // U1-U4: post that image alone
  | { action: 'variation'; jobId: string; index: number; strength: 'subtle' | 'strong' } // V1-V4 (strong), Vary buttons
  | { action: 'reroll'; jobId: string } // 🔄 and "Rerun" on a single image: same request, new seed
  | { action: 'cancel'; jobId: string }
  | { action: 'replay'; jobId: string }; // animated denoising replay

const PREFIX = 'img';

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

/** Parses a custom_id into typed data, or returns null for anything we did not build. */
export function parseCustomId(customId: string): ButtonAction | null {
  if (customId.length > 100) return null;
  const parts = customId.split(':');
  if (parts[0] !== PREFIX) return null;
  const [, code, jobId, indexText] = parts;
  if (jobId === undefined || !isJobId(jobId)) return null;
  const withIndex = code === 'u' || code === 'v' || code === 'vs';
  if (withIndex !== (parts.length === 4) || (!withIndex && parts.length !== 3)) return null;
  let index = 0;
  if (withIndex) {
    if (indexText === undefined || !/^[0-3]$/.test(indexText)) return null;
    index = Number(indexText);
  }
  switch (code) {
    case 'u':
      return { action: 'select', jobId, index };
    case 'v':
      return { action: 'variation', jobId, index, strength: 'strong' };
    case 'vs':
      return { action: 'variation', jobId, index, strength: 'subtle' };
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
