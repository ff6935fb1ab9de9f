// Time per image against steps for every sampler on the demo model (CPU, one image with
// classifier-free guidance, so the UNet runs on a batch of 2), and the chart of it at
// docs/benchmarks-samplers.png.
import { writeFileSync } from 'node:fs';
import { at } from '../src/checked.js';
import { SAMPLERS } from '../src/contract/index.js';
import { PipelineHost } from '../src/pipeline/index.js';
import { lineChartSvg, renderPng } from './chart.js';
import { median } from './stats.js';

const MODEL_DIR = 'models/shapes-demo';
const STEPS = [5, 10, 20, 30];
const RUNS = 5;
const CHART_FILE = 'docs/benchmarks-samplers.png';

export async function run(): Promise<{ name: string; lines: string[]; metrics: Record<string, number> }> {
  const host = await PipelineHost.start({ modelDir: MODEL_DIR, provider: 'cpu' });
  try {
    const base = {
      prompt: 'a red circle on a blue background',
      negativePrompt: '',
      seed: 7,
      guidance: 5,
      width: host.model.nativeWidth,
      height: host.model.nativeHeight,
      count: 1,
      rng: 'numpy' as const,
    };
    await host.generate({ ...base, steps: 20, sampler: host.model.defaultSampler }); // warm-up

    const timings = new Map<string, number[]>(); // sampler -> median ms per STEPS entry
    for (const sampler of SAMPLERS) {
      const row: number[] = [];
      for (const steps of STEPS) {
        const walls: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const started = performance.now();
          await host.generate({ ...base, steps, sampler, seed: base.seed + i });
          walls.push(performance.now() - started);
        }
        row.push(median(walls));
      }
      timings.set(sampler, row);
    }

    const svg = lineChartSvg({
      title: `Time per image against steps: ${host.model.name}, ${host.provider.toUpperCase()}, guidance on`,
      xLabel: 'steps',
      yLabel: `ms per image (median of ${RUNS})`,
      series: [...timings].map(([name, row]) => ({ name, points: row.map((ms, i) => [at(STEPS, i), ms] as [number, number]) })),
    });
    writeFileSync(CHART_FILE, await renderPng(svg));

    const metrics: Record<string, number> = {};
    const lines = [
      `One ${host.model.nativeWidth}x${host.model.nativeHeight} image of \`${MODEL_DIR}\` with guidance ${base.guidance} (UNet batch 2), ${host.provider}, median of ${RUNS} runs after a warm-up, wall time of \`PipelineHost.generate\`. The last column is the slope between 5 and 30 steps: the cost of one more step.`,
      '',
      `| sampler | ${STEPS.map((s) => `${s} steps (ms)`).join(' | ')} | ms per step |`,
      `| --- | ${STEPS.map(() => '---:').join(' | ')} | ---: |`,
    ];
    for (const [sampler, row] of timings) {
      const perStep = (at(row, row.length - 1) - at(row, 0)) / (at(STEPS, STEPS.length - 1) - at(STEPS, 0));
      lines.push(`| ${sampler} | ${row.map((ms) => ms.toFixed(0)).join(' | ')} | ${perStep.toFixed(1)} |`);
      STEPS.forEach((s, i) => (metrics[`${sampler}.steps${s}.ms`] = Math.round(at(row, i) * 10) / 10));
      metrics[`${sampler}.per_step.ms`] = Math.round(perStep * 100) / 100;
    }
    lines.push('', '![Time per image against steps, one line per sampler](benchmarks-samplers.png)');
    return { name: 'samplers: time per image against steps', lines, metrics };
  } finally {
    await host.close();
  }
}
