// node scripts/run-built.mjs <entry under dist/> [args...]: runs a compiled entry point in
// this process, first running `npm run build` when dist/ lacks the
// output of a source file or is older than it. `npm run imagine` goes through here: compiled
// JavaScript starts in a fraction of tsx's time, and a fresh clone or an edited source still
// runs what the sources say.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');

/** Modification time in ms, or -Infinity when the file does not exist. */
function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -Infinity;
  }
}

/** Whether some src/**\/*.ts has no dist/**\/*.js at least as new as itself. */
function buildIsStale() {
  for (const entry of readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const source = join(entry.parentPath, entry.name);
    const output = join(DIST, relative(SRC, source)).replace(/\.ts$/, '.js');
    if (mtime(output) < mtime(source)) return true;
  }
  return false;
}

const [entry, ...args] = process.argv.slice(2);
if (entry === undefined) {
  process.stderr.write('usage: node scripts/run-built.mjs <entry under dist/, e.g. cli/imagine.js> [args...]\n');
  process.exit(2);
}
if (buildIsStale()) {
  process.stderr.write('building dist/ (npm run build)...\n');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
// The entry reads its arguments from process.argv as if it had been started directly.
process.argv = [process.argv[0], join(DIST, entry), ...args];
await import(pathToFileURL(join(DIST, entry)).href);
