// A finished job's result file, rebuilt from the images stored in Postgres: a single
// image as its stored PNG bytes, several as the same 2x2 grid the worker posts.
import type { Job, StoredImage } from '../db/index.js';
import type { MessageFile } from '../discord/messages.js';
import { decodePng, encodeResultFile } from '../worker/images.js';
import { UserError } from './errors.js';

export async function resultFile(job: Job, images: StoredImage[], maxUploadBytes: number): Promise<MessageFile> {
  if (images.length === 0) throw new UserError(`Job \`${job.id}\` has no stored images.`);
  if (images.length === 1) return { name: `${job.id}.png`, data: images[0].png };
  const decoded = await Promise.all(images.map((image) => decodePng(image.png)));
  return encodeResultFile(decoded, maxUploadBytes, job.id);
}
