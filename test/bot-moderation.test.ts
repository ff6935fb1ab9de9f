// Banned words: case- and accent-insensitive, whole words, any script.
import { describe, expect, it } from 'vitest';
import { findBannedWord, foldText } from '../src/bot/moderation.js';
import { sizeForAspect } from '../src/bot/sizes.js';

describe('findBannedWord', () => {
  const banned = ['nude', 'gros mot', 'c++', '殺'];

  it.each([
    ['NUDE portrait', 'nude'],
    ['a Nüde statue', 'nude'],
    ['ｎｕｄｅ (full width)', 'nude'],
    ['n\u0075\u0301de', 'nude'],
    ['日本nude', 'nude'],
    ['quel GROS MOT', 'gros mot'],
    ['coding in C++ today', 'c++'],
    ['人を殺す', '殺'],
  ])('finds %j', (text, word) => {
    expect(findBannedWord([text], banned)).toBe(word);
  });

  it.each(['nudes', 'denude', 'nude2', 'grosmot', 'c+', 'a calm lake'])('lets %j through', (text) => {
    expect(findBannedWord([text], banned)).toBeNull();
  });

  it('checks every text (prompt and negative prompt)', () => {
    expect(findBannedWord(['fine', 'but NUDE here'], banned)).toBe('nude');
    expect(findBannedWord(['anything'], [])).toBeNull();
    expect(foldText('Ça Été')).toBe('ca ete');
  });
});

describe('sizeForAspect', () => {
  const demo = { nativeWidth: 128, nativeHeight: 128, sizeMultiple: 64 };
  const sd = { nativeWidth: 512, nativeHeight: 512, sizeMultiple: 64 };

  it('maps aspects to multiples of the model size near its native area', () => {
    expect(sizeForAspect('1:1', demo, 1 << 20)).toEqual({ width: 128, height: 128 });
    expect(sizeForAspect('4:3', demo, 1 << 20)).toEqual({ width: 192, height: 128 });
    expect(sizeForAspect('9:16', demo, 1 << 20)).toEqual({ width: 128, height: 192 });
    expect(sizeForAspect('4:3', sd, 1 << 20)).toEqual({ width: 512, height: 384 });
    expect(sizeForAspect('16:9', sd, 1 << 20)).toEqual({ width: 576, height: 320 });
    expect(sizeForAspect('3:4', sd, 1 << 20)).toEqual({ width: 384, height: 512 });
  });

  it('stays within MAX_PIXELS', () => {
    const { width, height } = sizeForAspect('16:9', sd, 512 * 512);
    expect(width * height).toBeLessThanOrEqual(512 * 512);
    expect(width % 64 + height % 64).toBe(0);
  });
});
