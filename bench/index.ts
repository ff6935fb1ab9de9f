// npm run bench [-- <filter>...]: runs every bench/*.bench.ts (or those whose name contains
// one of the filters) one after another, and rewrites docs/benchmarks.md from the results.
// Each bench module exports `run(): Promise<BenchResult>`. Results are kept per bench in
// docs/benchmarks.json, so running one bench updates its section and keeps the others'.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { at } from '../src/checked.js';

export interface BenchResult {
  name: string;
  /** Markdown lines for the report (tables, notes, images). */
  lines: string[];
  metrics: Record<string, number>;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  onnxruntime: string;
}

export interface BenchRecord {
  /** File name without `.bench.ts`. */
  id: string;
  ok: boolean;
  result?: BenchResult;
  /** First line of the error for a bench that threw. */
  error?: string;
  durationMs: number;
  ranAt: string;
  /** 1-minute load average when the bench started: above 0 means something else used the CPU too. */
  loadAverage: number;
  machine: MachineInfo;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH_DIR = join(ROOT, 'bench');
const RESULTS_FILE = join(ROOT, 'docs', 'benchmarks.json');
const REPORT_FILE = join(ROOT, 'docs', 'benchmarks.md');

export function machineInfo(): MachineInfo {
  const require = createRequire(import.meta.url);
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    onnxruntime: (require('onnxruntime-node/package.json') as { version: string }).version,
  };
}

export const describeMachine = (m: MachineInfo) =>
  `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB memory, ${m.os}, Node ${m.node}, onnxruntime-node ${m.onnxruntime}`;

/** Bench ids in `dir` (file names without `.bench.ts`), sorted, filtered by substring. */
export function findBenches(dir: string, filters: string[]): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => basename(f, '.bench.ts'))
    .filter((id) => filters.length === 0 || filters.some((f) => id.includes(f)))
    .sort();
}

/** Imports and runs one bench; a bench that throws (or exports no run) becomes a failed record. */
export async function runBench(dir: string, id: string, machine: MachineInfo, now: () => Date = () => new Date()): Promise<BenchRecord> {
  const started = performance.now();
  const ranAt = now().toISOString();
  const loadAverage = Math.round(at(loadavg(), 0) * 100) / 100;
  try {
    const module = (await import(pathToFileURL(join(dir, `${id}.bench.ts`)).href)) as { run?: () => Promise<unknown> };
    if (typeof module.run !== 'function') throw new TypeError(`bench/${id}.bench.ts exports no run() function`);
    const result = (await module.run()) as BenchResult;
    if (typeof result?.name !== 'string' || !Array.isArray(result.lines) || typeof result.metrics !== 'object') {
      throw new TypeError(`bench/${id}.bench.ts: run() must resolve to { name, lines, metrics }`);
    }
    return { id, ok: true, result, durationMs: performance.now() - started, ranAt, loadAverage, machine };
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    return { id, ok: false, error: message, durationMs: performance.now() - started, ranAt, loadAverage, machine };
  }
}

const formatMetric = (v: number) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4));

/** The whole docs/benchmarks.md from the records of every bench. */
export function renderReport(records: BenchRecord[], machine: MachineInfo, generatedAt: string): string {
  const out: string[] = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/index.ts); do not edit by hand. `npm run bench -- <name>` reruns one bench and keeps the',
    "others' last results (docs/benchmarks.json). Timed targets live here, not in the tests.",
    '',
    `Last run: ${generatedAt} on ${describeMachine(machine)}.`,
    '',
    `The load average when each bench started shows whether other processes (a training job, a test run) competed for the`,
    `${machine.cores} cores: near or above ${machine.cores}, that bench's timings are pessimistic.`,
    '',
    '| bench | result | took | measured at | load average |',
    '| --- | --- | --- | --- | --- |',
    ...records.map(
      (r) =>
        `| [${r.result?.name ?? r.id}](#${r.id}) | ${r.ok ? 'ok' : '**failed**'} | ${(r.durationMs / 1000).toFixed(1)} s | ${r.ranAt} | ${r.loadAverage} |`,
    ),
    '',
  ];
  for (const record of records) {
    out.push(
      `<a id="${record.id}"></a>`,
      `## ${record.result?.name ?? record.id}`,
      '',
      `\`bench/${record.id}.bench.ts\`, ${record.ranAt}, load average ${record.loadAverage} when it started.`,
    );
    if (describeMachine(record.machine) !== describeMachine(machine))
      out.push(`Measured on another machine: ${describeMachine(record.machine)}.`);
    out.push('');
    if (!record.ok || !record.result) {
      out.push(`**Failed:** ${record.error ?? 'unknown error'}`, '');
      continue;
    }
    if (record.result.lines.length > 0) out.push(...record.result.lines, '');
    const metrics = Object.entries(record.result.metrics);
    if (metrics.length > 0) {
      out.push('| metric | value |', '| --- | --- |', ...metrics.map(([k, v]) => `| ${k} | ${formatMetric(v)} |`), '');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function readRecords(): Map<string, BenchRecord> {
  if (!existsSync(RESULTS_FILE)) return new Map();
  const records = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as BenchRecord[];
  return new Map(records.map((r) => [r.id, r]));
}

async function main(filters: string[]): Promise<number> {
  process.chdir(ROOT); // benches open models/... relative to the repository
  const ids = findBenches(BENCH_DIR, filters);
  if (ids.length === 0) {
    process.stderr.write(`no bench matches ${filters.join(', ')}; benches: ${findBenches(BENCH_DIR, []).join(', ')}\n`);
    return 2;
  }
  const machine = machineInfo();
  process.stdout.write(`${describeMachine(machine)}\n`);
  const records = readRecords();
  let failed = 0;
  for (const id of ids) {
    process.stdout.write(`running ${id}...\n`);
    const record = await runBench(BENCH_DIR, id, machine);
    records.set(id, record);
    if (record.ok)
      process.stdout.write(`  done in ${(record.durationMs / 1000).toFixed(1)} s: ${JSON.stringify(record.result!.metrics)}\n`);
    else {
      failed++;
      process.stdout.write(`  FAILED: ${record.error}\n`);
    }
  }
  // Benches whose file is gone are dropped from the report.
  const present = new Set(findBenches(BENCH_DIR, []));
  const kept = [...records.values()].filter((r) => present.has(r.id)).sort((a, b) => a.id.localeCompare(b.id));
  writeFileSync(RESULTS_FILE, `${JSON.stringify(kept, null, 2)}\n`);
  writeFileSync(REPORT_FILE, renderReport(kept, machine, new Date().toISOString()));
  process.stdout.write(`wrote docs/benchmarks.md (${ids.length - failed} ok, ${failed} failed)\n`);
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
