// `npm run imagine` as a person runs it: files, seeds, parameters, and one-line errors.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readPngParameters } from '../../src/images/png.js';
import { DEMO_MODEL_DIR } from '../support/demo-model.js';

const run = promisify(execFile);
/** A PNG that is not one of the demo model's sizes (its samples grid). */
const DEMO_SAMPLES = 'models/shapes-demo/samples.png';

async function imagine(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli/imagine.ts', ...args, ...(args.includes('--model') ? [] : ['--model', DEMO_MODEL_DIR])],
      { env: { ...process.env, CI: 'true' } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('imagine CLI', () => {
  it('writes a grid and the single images with their parameters, and prints seeds and timing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagine-'));
    const out = join(dir, 'fox.png');
    const previews = join(dir, 'previews');
    const r = await imagine([
      'a red circle on a blue background',
      '--seed',
      '42',
      '--steps',
      '6',
      '--count',
      '4',
      '--out',
      out,
      '--previews',
      previews,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/seeds: 42, 43, 44, 45/);
    expect(r.stdout).toMatch(/4 image\(s\) 128x128, 6 steps, .* s \(ONNX Runtime .* s\)/);
    const grid = await sharp(out).metadata();
    expect(grid.width).toBeGreaterThan(256);
    expect(grid.width).toBeLessThanOrEqual(256 + 8);
    for (let i = 1; i <= 4; i++) {
      const params = readPngParameters(readFileSync(join(dir, `fox-${i}.png`)));
      expect(params).toMatch(
        new RegExp(
          `^a red circle on a blue background\\nSteps: 6, Sampler: [^,]+, CFG scale: 7.5, Seed: ${41 + i}, Size: 128x128, Model hash: [0-9a-f]{10}, Model: shapes-demo`,
        ),
      );
    }
    expect(readdirSync(previews)).toHaveLength(6);
  });

  it('reruns a seed to the same bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagine-'));
    const args = ['a green triangle on a white background', '--seed', '7', '--steps', '5', '--sampler', 'euler_a'];
    await imagine([...args, '--out', join(dir, 'a.png')]);
    await imagine([...args, '--out', join(dir, 'b.png')]);
    expect(readFileSync(join(dir, 'a.png')).equals(readFileSync(join(dir, 'b.png')))).toBe(true);
  });

  it('edits an image: each edit writes its result with a parameters chunk naming it, and reruns to the same bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagine-'));
    const source = join(dir, 'source.png');
    expect((await imagine(['a red circle on a blue background', '--seed', '3', '--steps', '6', '--out', source])).code).toBe(0);
    const mask = join(dir, 'mask.png');
    await sharp({ create: { width: 128, height: 128, channels: 3, background: '#000000' } })
      .composite([{ input: { create: { width: 60, height: 60, channels: 3, background: '#ffffff' } }, left: 30, top: 30 }])
      .png()
      .toFile(mask);
    // [flags, label in the parameters, size, images, rerun]: the other edits run the same code in-process (edits.test.ts).
    const cases: [string[], string, string, number, boolean][] = [
      [['--region', 'center,bottom'], 'Vary (region): center, bottom', '128x128', 4, true],
      [['--zoom-out', '1.5', '--count', '1'], 'Zoom out 1.5x', '128x128', 1, false],
      [['--mask', mask, '--strength', '0.9'], 'inpaint (mask)', '128x128', 1, true],
      [['--upscale', 'subtle', '--upscaler', 'test/fixtures/onnx-variants/upscaler-4x-no-config'], 'Upscale (subtle)', '256x256', 1, false],
    ];
    for (const [flags, label, size, count, rerun] of cases) {
      const args = ['a yellow square on a blue background', '--seed', '9', '--steps', '4', '--init', source, ...flags];
      const [a, b] = [join(dir, 'a.png'), join(dir, 'b.png')];
      const r = await imagine([...args, '--out', a]);
      expect(r.stderr, flags.join(' ')).toBe('');
      expect(r.stdout).toMatch(new RegExp(`${count} image\\(s\\) ${size}`));
      if (rerun) {
        await imagine([...args, '--out', b]);
        expect(readFileSync(a).equals(readFileSync(b)), flags.join(' ')).toBe(true);
      }
      const single = count === 1 ? a : join(dir, 'a-1.png');
      const params = readPngParameters(readFileSync(single))!;
      expect(params).toContain(`Size: ${size}`);
      expect(params).toMatch(new RegExp(`Edit: ${label.replace(/[()]/g, '\\$&')}$`));
      expect(params.includes('Denoising strength')).toBe(!flags.includes('subtle'));
      if (flags.includes('--mask')) expect(params).toContain('Denoising strength: 0.9');
    }
  });

  it.each([
    [['--steps', '5'], /give exactly one prompt/],
    [['x', '--steps', 'ten'], /--steps must be a number, got 'ten'/],
    [['x', '--sampler', 'magic'], /--sampler must be one of euler, .*, got 'magic'/],
    [['x', '--count', '9'], /`count` must be a whole number from 1 to 4\./],
    [['x', '--width', '100'], /`shapes-demo`.*100/],
    [['x', '--bogus'], /Unknown option '--bogus'/],
    [['x', '--model', 'models/nope'], /model folder .*nope does not exist/],
    [['x', '--init', 'missing.png', '--strength', '0.5'], /--init: cannot read 'missing.png'/],
    [['x', '--region', 'center'], /--region edits an image: give it with --init/],
    [['x', '--init', 'package.json', '--zoom-out', '2', '--pan', 'left'], /give one edit at a time, not --zoom-out and --pan/],
    [
      ['x', '--init', DEMO_SAMPLES, '--region', 'top,middle'],
      /Pick one or more cells of top-left, top, top-right, left, center, right, bottom-left, bottom, bottom-right\./,
    ],
    [['x', '--init', DEMO_SAMPLES, '--zoom-out', '3'], /Zoom out by 2 or 1\.5\./],
    [['x', '--init', DEMO_SAMPLES, '--pan', 'sideways'], /--pan must be one of left, right, up, down, got 'sideways'/],
    [['x', '--init', 'package.json', '--upscale', 'subtle'], /the start image is not a readable PNG, JPEG or WebP file/],
    [['x', '--init', DEMO_SAMPLES], /--init needs --strength \(or an edit\)/],
  ])('refuses %j with one line on stderr and a non-zero exit', async (args, message) => {
    const r = await imagine(args);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
