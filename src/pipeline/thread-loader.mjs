// Entry of the pipeline's worker thread when the sources run as TypeScript (tsx, vitest):
// a new thread starts without the parent's loader, so register tsx here first.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
