// Pictures users gave to start from (/imagine image:), stored once as PNG so reruns of the
// jobs made from them stay exact, under the same retention as results.
import { createHash, randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { inputImages, type InputImageRow } from './schema.js';
import { ensureUserExists } from './users.js';

export type InputImage = InputImageRow;

/** Stores a user's picture (already decoded, checked and normalised to PNG); returns its id. */
export async function storeInputImage(db: Db, input: { userId: string; png: Uint8Array; width: number; height: number }): Promise<string> {
  await ensureUserExists(db, input.userId);
  const id = `in${randomBytes(10).toString('hex')}`;
  await db.insert(inputImages).values({
    id,
    userId: input.userId,
    width: input.width,
    height: input.height,
    sha256: createHash('sha256').update(input.png).digest('hex'),
    png: Buffer.from(input.png.buffer, input.png.byteOffset, input.png.byteLength),
  });
  return id;
}

export async function getInputImage(db: Db, id: string): Promise<InputImage | null> {
  const [row] = await db.select().from(inputImages).where(eq(inputImages.id, id));
  return row ?? null;
}
