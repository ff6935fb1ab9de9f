// Seed arithmetic. Seeds are what users type into /imagine: whole numbers that fit in 32
// bits, the range numpy's RandomState(int) accepts and the part of a torch seed its
// MT19937 uses. Image i of a batch uses seed + i (mod 2^32), so each image can be rerun alone.
import { randomInt } from 'node:crypto';

export const MAX_SEED = 0xffffffff;

/** The seed of image `index` of a batch whose first image has `seed`. */
export function imageSeed(seed: number, index: number): number {
  return (seed + index) % (MAX_SEED + 1);
}

/** A uniformly random seed. */
export function randomSeed(): number {
  return randomInt(0, MAX_SEED + 1);
}
