// The AbortControllers of the jobs this process is running, keyed by job id. A cancel
// published by the bot (or read from Postgres before a preview) aborts the job's generation
// at its next step; so does finding the run superseded (another run holds the job); a
// shutdown past its grace period aborts every job so they can be handed back to the queue.

export type AbortReason = 'cancelled' | 'superseded' | 'shutdown';

export class RunningJobs {
  private readonly controllers = new Map<string, AbortController>();

  /** Registers a job before it is claimed, so a cancel arriving meanwhile is not lost. */
  start(jobId: string): AbortSignal {
    const controller = new AbortController();
    this.controllers.set(jobId, controller);
    return controller.signal;
  }

  finish(jobId: string): void {
    this.controllers.delete(jobId);
  }

  get size(): number {
    return this.controllers.size;
  }

  /** Aborts the job as cancelled if it runs here; returns whether it did. */
  cancel(jobId: string): boolean {
    return this.abort(jobId, 'cancelled');
  }

  /** Aborts the job for `reason` if it runs here (the first reason stays); returns whether it did. */
  abort(jobId: string, reason: AbortReason): boolean {
    const controller = this.controllers.get(jobId);
    if (controller === undefined) return false;
    controller.abort(reason);
    return true;
  }

  abortAll(reason: AbortReason): void {
    for (const controller of this.controllers.values()) controller.abort(reason);
  }
}
