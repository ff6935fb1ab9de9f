// Regenerates the README's pictures from the demo model: a result grid, the image emerging
// from noise (the latent previews a worker sends to Discord, then the result), and the
// editing buttons' operations on one image (the same requests the buttons make).
// Run: npx tsx scripts/readme-images.ts
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { at } from '../src/checked.js';
import { makeGrid } from '../src/images/grid.js';
import { encodePng, type RgbImage } from '../src/images/png.js';
import { PipelineHost } from '../src/pipeline/index.js';

const OUT = 'docs/images';
const TILE = 128;

function raw(image: RgbImage) {
  return sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const host = await PipelineHost.start({ modelDir: 'models/shapes-demo', provider: 'cpu' });
  try {
    const base = {
      negativePrompt: '',
      steps: 20,
      guidance: 5,
      sampler: host.model.defaultSampler,
      width: 128,
      height: 128,
      rng: 'numpy' as const,
    };
    const grid = await host.generate({ ...base, prompt: 'a yellow circle on a purple background', seed: 2024, count: 4 });
    writeFileSync(`${OUT}/grid.png`, encodePng(makeGrid(grid.images)));

    const frames: RgbImage[] = [];
    const single = await host.generate(
      { ...base, prompt: 'a white triangle on a blue background', seed: 7, count: 1 },
      { onProgress: (p) => p.preview && [1, 3, 5, 8, 12, 16].includes(p.step) && frames.push(p.preview) },
    );
    const tiles: RgbImage[] = [];
    for (const frame of frames) {
      const { data } = await raw(frame).resize(TILE, TILE, { kernel: 'nearest' }).raw().toBuffer({ resolveWithObject: true });
      tiles.push({ width: TILE, height: TILE, rgb: new Uint8Array(data) });
    }
    tiles.push(at(single.images, 0));
    const strip = new Uint8Array(tiles.length * TILE * TILE * 3);
    const width = tiles.length * TILE;
    tiles.forEach((tile, i) => {
      for (let y = 0; y < TILE; y++) strip.set(tile.rgb.subarray(y * TILE * 3, (y + 1) * TILE * 3), (y * width + i * TILE) * 3);
    });
    writeFileSync(`${OUT}/previews.png`, encodePng({ width, height: TILE, rgb: strip }));

    // One image, then what Zoom out 2x, Vary (region) of the centre, ➡️ and Upscale (subtle)
    // make of it: made with the imagine CLI, the commands the README lists.
    const work = mkdtempSync(join(tmpdir(), 'readme-edits-'));
    const imagine = (args: string[]) =>
      execFileSync(process.execPath, ['scripts/run-built.mjs', 'cli/imagine.js', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    const common = ['--count', '1', '--steps', '20', '--guidance', '5'];
    imagine(['a yellow circle on a purple background', '--seed', '2024', ...common, '--out', join(work, 'source.png')]);
    const edits = [
      ['a yellow circle on a purple background', '--zoom-out', '2'],
      ['a red square on a purple background', '--region', 'center'],
      ['a yellow circle on a purple background', '--pan', 'right'],
      ['a yellow circle on a purple background', '--upscale', 'subtle'],
    ];
    const files = [join(work, 'source.png')];
    for (const [i, [prompt = '', ...edit]] of edits.entries()) {
      files.push(join(work, `edit-${i}.png`));
      imagine([prompt, '--seed', '11', ...common, '--init', join(work, 'source.png'), ...edit, '--out', join(work, `edit-${i}.png`)]);
    }
    const results = await Promise.all(files.map(async (file) => ({ file, ...(await sharp(file).metadata()) })));
    const left = (i: number) => results.slice(0, i).reduce((w, r) => w + r.width + 8, 0);
    await sharp({
      create: { width: left(results.length) - 8, height: Math.max(...results.map((r) => r.height)), channels: 3, background: '#ffffff' },
    })
      .composite(results.map((r, i) => ({ input: r.file, left: left(i), top: 0 })))
      .png()
      .toFile(`${OUT}/edits.png`);
    rmSync(work, { recursive: true });
    process.stdout.write(`wrote ${OUT}/grid.png, ${OUT}/previews.png and ${OUT}/edits.png\n`);
  } finally {
    await host.close();
  }
}

await main();
