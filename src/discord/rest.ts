// What the bot's and the workers' REST clients share.

/**
 * How often @discordjs/rest drops its idle per-route handlers. Its webhook routes are keyed by
 * the interaction token, so every job adds one; the library's hourly sweep let about 1 KiB
 * per job pile up (the soak, bench/soak.ts). Idle means no request queued and no rate limit.
 */
export const REST_HANDLER_SWEEP_MS = 60_000;
