// The bytes of stored images, for the jobs that start from one (variations, edits) or show
// one again (U1-U4, /show). An image whose bytes expired (RETENTION_DAYS) is regenerated from
// its job's request, its own start image first (recursively), proven identical by the
// SHA-256 stored with it, and stored again; reruns are byte-identical, so this is exact as
// long as the model's files did not change.
import { formatParameters, generationRequest, imageSeed, type StoredImageRef } from '../contract/index.js';
import { getImage, getInputImage, getJob, jobParams, restoreImage, type Db, type Job } from '../db/index.js';
import { AppError } from '../errors.js';
import { encodePng } from '../images/png.js';
import type { Logger } from '../log.js';
import type { ImageGenerator } from './processor.js';

/** A stored image that is gone, or expired and cannot be made again exactly. */
export class ImageUnavailableError extends AppError {
  constructor(message: string) {
    super(message, { userVisible: true, retryable: false });
  }
}

/** A start image's start image's ... : deeper chains than this are refused. */
const MAX_LINEAGE = 8;

export interface StoredImagesOptions {
  db: Db;
  /** Loaded models by name: an expired image is regenerated with its own job's model. */
  generators: ReadonlyMap<string, ImageGenerator>;
  logger: Logger;
}

export class StoredImages {
  constructor(private readonly options: StoredImagesOptions) {}

  /** The PNG a reference points at: a job's image (regenerated if expired), or a user's picture. */
  async pngOf(ref: StoredImageRef, depth = 0): Promise<Uint8Array> {
    if ('jobId' in ref) return this.png(ref.jobId, ref.index, depth);
    const input = await getInputImage(this.options.db, ref.inputId);
    if (input === null) throw new ImageUnavailableError('the picture this job started from no longer exists');
    if (input.png === null)
      throw new ImageUnavailableError(
        'the picture this job started from has expired (kept for RETENTION_DAYS), so it cannot be used again',
      );
    return input.png;
  }

  /** The width and height of the image a reference points at (no bytes needed: they stay when the bytes expire). */
  async sizeOf(ref: StoredImageRef): Promise<{ width: number; height: number } | null> {
    const row = 'jobId' in ref ? await getImage(this.options.db, ref.jobId, ref.index) : await getInputImage(this.options.db, ref.inputId);
    return row === null ? null : { width: row.width, height: row.height };
  }

  /** The PNG of image `index` of job `jobId` (for a U1-U4 job: the parent image it selected). */
  async png(jobId: string, index: number, depth = 0): Promise<Uint8Array> {
    const where = `job ${jobId}, image ${index + 1}`;
    if (depth > MAX_LINEAGE)
      throw new ImageUnavailableError(`the source image (${where}) descends from more than ${MAX_LINEAGE} expired images`);
    const job = await getJob(this.options.db, jobId);
    if (job === null) throw new ImageUnavailableError(`the source image (${where}) no longer exists`);
    const image = await getImage(this.options.db, jobId, index);
    if (image === null && job.kind === 'select' && job.parentJobId !== null) return this.png(job.parentJobId, job.parentIndex ?? 0, depth);
    if (image === null) throw new ImageUnavailableError(`the source image (${where}) no longer exists`);
    if (image.png !== null) return image.png;
    return this.regenerate(job, index, depth);
  }

  private async regenerate(job: Job, index: number, depth: number): Promise<Uint8Array> {
    const where = `job ${job.id}, image ${index + 1}`;
    const generator = this.options.generators.get(job.model);
    if (generator === undefined)
      throw new ImageUnavailableError(`the image (${where}) has expired and its model ${job.model} is not loaded here`);
    if (job.modelHash !== null && job.modelHash !== generator.model.hash) {
      throw new ImageUnavailableError(
        `the image (${where}) has expired and cannot be made again exactly: model ${job.model} has changed since`,
      );
    }
    const params = { ...jobParams(job), count: 1, seed: imageSeed(job.seed, index) };
    const init = params.init === null ? null : await this.pngOf(params.init, depth + 1);
    const request = generationRequest(params, init);
    this.options.logger.info({ jobId: job.id, index }, 'regenerating an expired image');
    const output = await generator.generate(request);
    const generated = output.images[0];
    if (generated === undefined) throw new Error('the pipeline returned no image');
    const png = encodePng(generated, formatParameters(request, generated.seed, generator.model));
    if (!(await restoreImage(this.options.db, job.id, index, png))) {
      throw new ImageUnavailableError(`the image (${where}) has expired and could not be made again exactly`);
    }
    return png;
  }
}
