// The job contract shared by the bot (producer) and the workers (consumers).
export {
  GENERATE_JOB_NAME,
  GenerationQueues,
  assertJobId,
  enqueueGeneration,
  fairPriority,
  modelForQueueName,
  queueNameForModel,
} from './queues.js';
export type { EnqueueRequest, GenerationJobData, GenerationQueuesOptions } from './queues.js';
export { Heartbeat, liveModels, liveWorkers, workerKey } from './heartbeat.js';
export type { HeartbeatOptions, WorkerHeartbeat } from './heartbeat.js';
export { cancelChannel, publishCancel, subscribeCancels } from './cancel.js';
export type { PublishCancelOptions } from './cancel.js';
export { InvalidJobIdError, InvalidModelNameError } from './errors.js';
export { Lease } from './lease.js';
export type { LeaseOptions } from './lease.js';
