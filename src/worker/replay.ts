// The frames of a job's denoising replay: a bounded, evenly spread selection of its
// progress previews, so memory stays the same however many steps or previews a job has.
import type { RgbImage } from '../images/png.js';

/** Frames in a replay at most (the last preview included). */
export const REPLAY_MAX_FRAMES = 24;

interface Frame {
  /** Arrival number of the preview (0, 1, 2, ...). */
  n: number;
  image: RgbImage;
}

/**
 * Keeps every `stride`-th preview; when that fills the frames, the stride doubles and
 * every other kept frame goes. The latest preview is always kept as the final frame.
 */
export class ReplayFrames {
  private kept: Frame[] = [];
  private latest: Frame | null = null;
  private stride = 1;
  private count = 0;

  constructor(private readonly maxFrames = REPLAY_MAX_FRAMES) {
    if (!Number.isInteger(maxFrames) || maxFrames < 2) throw new RangeError(`maxFrames must be a whole number >= 2, got ${maxFrames}`);
  }

  add(image: RgbImage): void {
    const frame = { n: this.count++, image };
    this.latest = frame;
    if (frame.n % this.stride !== 0) return;
    this.kept.push(frame);
    // One place stays free for the latest preview.
    if (this.kept.length >= this.maxFrames) {
      this.stride *= 2;
      this.kept = this.kept.filter((f) => f.n % this.stride === 0);
    }
  }

  /** The replay's frames in order, ending with the latest preview. */
  frames(): RgbImage[] {
    if (this.latest === null) return [];
    const frames = this.kept.map((f) => f.image);
    if (this.kept.at(-1) !== this.latest) frames.push(this.latest.image);
    return frames;
  }
}
