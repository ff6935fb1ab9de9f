// `npm run check-vectors -- DIR` as a child process: its output format, summary line and
// exit codes, on the repository's vectors (test/vectors) and on temporary copies (one of them corrupted).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLIP_BPE_DIR, listVectorFiles, REPO_VECTORS_DIR } from '../src/vectors/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LINE = /^(PASS|FAIL) \S+ {2}max error \S+$/;

function checkVectors(...args: string[]) {
  const run = spawnSync(join(ROOT, 'node_modules/.bin/tsx'), ['src/cli/check-vectors.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, lines: run.stdout.trimEnd().split('\n') };
}

const tempDirs: string[] = [];
/** A vectors folder holding copies of the rng and tokenizer cases (not the BPE files). */
function rngAndTokenizerCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'check-vectors-'));
  tempDirs.push(dir);
  cpSync(join(REPO_VECTORS_DIR, 'rng'), join(dir, 'rng'), { recursive: true });
  mkdirSync(join(dir, 'tokenizer'));
  cpSync(join(REPO_VECTORS_DIR, 'tokenizer/clip_tokenizer_vectors.json'), join(dir, 'tokenizer/clip_tokenizer_vectors.json'));
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('check-vectors CLI', () => {
  it('passes rng and tokenizer copies, taking the BPE files from the demo model', () => {
    const { code, lines } = checkVectors(rngAndTokenizerCopy());
    expect(lines).toEqual([
      expect.stringMatching(/^PASS rng\/numpy_randomstate_randn\.json {2}max error /),
      expect.stringMatching(/^PASS rng\/torch_cpu_randn\.json {2}max error /),
      'PASS tokenizer/clip_tokenizer_vectors.json  max error 0',
      '3 passed, 0 failed',
    ]);
    expect(code).toBe(0);
  });

  it('uses DIR/tokenizer/vocab.json and merges.txt when present, without treating them as cases', () => {
    const dir = rngAndTokenizerCopy();
    cpSync(join(CLIP_BPE_DIR, 'vocab.json'), join(dir, 'tokenizer/vocab.json'));
    writeFileSync(join(dir, 'tokenizer/merges.txt'), '#version: 0.2\n');
    const { code, lines } = checkVectors(dir);
    // Without merges every word falls apart into bytes, so the tokenizer file must fail.
    expect(lines.slice(-2)).toEqual([
      expect.stringMatching(/^FAIL tokenizer\/clip_tokenizer_vectors\.json {2}max error /),
      '2 passed, 1 failed',
    ]);
    expect(code).toBe(1);
  });

  it('fails with exit code 1 and "1 failed" when one file is corrupted', () => {
    const dir = rngAndTokenizerCopy();
    const file = join(dir, 'rng/torch_cpu_randn.json');
    // Edit the text: a JSON round trip would also round the file's 64-bit seed.
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('"values":[1.5409960746765137]');
    writeFileSync(file, text.replace('"values":[1.5409960746765137]', '"values":[1.5509960746765137]'));
    const { code, lines, stderr } = checkVectors(dir);
    expect(lines).toContainEqual(expect.stringMatching(/^FAIL rng\/torch_cpu_randn\.json {2}max error 1\.00e-2$/));
    expect(lines.at(-1)).toBe('2 passed, 1 failed');
    expect(stderr).toContain('rng/torch_cpu_randn.json: ');
    expect(code).toBe(1);
  });

  it('checks a prompt-syntax folder: attention exactly as float64, schedules exactly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-vectors-'));
    tempDirs.push(dir);
    cpSync(join(REPO_VECTORS_DIR, 'prompt-syntax'), join(dir, 'prompt-syntax'), { recursive: true });
    expect(checkVectors(dir)).toMatchObject({
      code: 0,
      lines: ['PASS prompt-syntax/prompt_syntax.json  max error 0', '1 passed, 0 failed'],
      stderr: '',
    });

    // One weight off in its last bit fails, and the error shows it.
    const file = join(dir, 'prompt-syntax/prompt_syntax.json');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('1.5730000000000004');
    writeFileSync(file, text.replace('1.5730000000000004', '1.5730000000000006'));
    const weight = checkVectors(dir);
    expect(weight.lines).toEqual(['FAIL prompt-syntax/prompt_syntax.json  max error 2.22e-16', '0 passed, 1 failed']);
    expect(weight.stderr).toContain('attention[1]: 1.5730000000000004, expected 1.5730000000000006');
    expect(weight.code).toBe(1);

    // A schedule's text differs.
    writeFileSync(
      file,
      text.replace(
        '"fantasy landscape with a lake and an oak in background masterful"',
        '"fantasy landscape with a lake and an oak in background shoddy"',
      ),
    );
    const schedule = checkVectors(dir);
    expect(schedule.lines[0]).toBe('FAIL prompt-syntax/prompt_syntax.json  max error Infinity');
    expect(schedule.stderr).toContain('schedules[10][3]: text "fantasy landscape with a lake and an oak in background masterful"');
  });

  it('checks every file of test/vectors, by default, and passes them all', async () => {
    const files = await listVectorFiles(REPO_VECTORS_DIR);
    expect(files.length).toBeGreaterThan(50);
    expect(files.some((f) => f.includes('tables/') || f.endsWith('index.json') || f.endsWith('vocab.json'))).toBe(false);
    const { code, lines, stderr } = checkVectors();
    expect(lines.slice(0, -1).every((l) => LINE.test(l))).toBe(true);
    expect(lines.slice(0, -1).map((l) => l.split(' ')[1])).toEqual(files);
    expect(lines.at(-1)).toBe(`${files.length} passed, 0 failed`);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('answers bad arguments with one line on stderr and exit code 2', () => {
    const extra = checkVectors('a', 'b');
    expect(extra.code).toBe(2);
    expect(extra.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^usage: npm run check-vectors -- \[DIR\]/)]);
    const nowhere = checkVectors('/nonexistent/vectors');
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toBe('check-vectors: /nonexistent/vectors is not a directory\n');
    expect(nowhere.stdout).toBe('');
    const empty = mkdtempSync(join(tmpdir(), 'check-vectors-'));
    tempDirs.push(empty);
    expect(readdirSync(empty)).toEqual([]);
    expect(checkVectors(empty)).toMatchObject({ code: 2, stderr: `check-vectors: no vector files (*.json) under ${empty}\n` });
  });
});
