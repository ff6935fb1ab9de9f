// sharp, loaded on first use: the pipeline thread and the imagine CLI import the modules that
// decode and resize pictures, but most of their runs (a plain prompt) never touch one, and
// loading sharp costs 0.1-0.2 s of start-up and about 20 MiB.
import type { default as Sharp } from 'sharp';

let loading: Promise<typeof Sharp> | undefined;

export function loadSharp(): Promise<typeof Sharp> {
  loading ??= import('sharp').then((module) => module.default);
  return loading;
}
