// Denoising replays: one animated WebP per job, written once by the worker that completed
// the job and read by the bot's Replay button.
import { eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { replays, type ReplayRow } from './schema.js';

export type StoredReplay = ReplayRow;

export interface NewReplay {
  /** Animated WebP bytes. */
  webp: Uint8Array;
  frames: number;
  /** Size of one frame in pixels. */
  width: number;
  height: number;
}

/** Stores a job's replay; a second call for the same job keeps the first. Returns whether this call stored it. */
export async function storeReplay(db: Db, jobId: string, replay: NewReplay): Promise<boolean> {
  const inserted = await db
    .insert(replays)
    .values({
      jobId,
      webp: Buffer.from(replay.webp.buffer, replay.webp.byteOffset, replay.webp.byteLength),
      frames: replay.frames,
      width: replay.width,
      height: replay.height,
    })
    .onConflictDoNothing()
    .returning({ jobId: replays.jobId });
  return inserted.length > 0;
}

export async function getReplay(db: Db, jobId: string): Promise<StoredReplay | null> {
  const [replay] = await db.select().from(replays).where(eq(replays.jobId, jobId));
  return replay ?? null;
}
