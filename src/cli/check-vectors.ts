// npm run check-vectors [-- DIR]
// Checks every reference-vector file under DIR (default: the repository's test/vectors): one line
// per file on stdout, `PASS|FAIL <relative path>  max error <x>`, then `N passed, N failed`.
// What differed in a failed file goes to stderr. Exit code: 0 all passed, 1 some failed,
// 2 bad arguments.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkVectorDirectory, listVectorFiles, REPO_VECTORS_DIR } from '../vectors/index.js';

const USAGE = 'usage: npm run check-vectors -- [DIR]   (DIR: a reference-vectors folder; default test/vectors)';

export interface Output {
  write(text: string): unknown;
}

/** Runs the check for command-line `args`; returns the exit code. */
export async function runCheckVectors(args: string[], out: Output, err: Output): Promise<number> {
  if (args.length > 1 || args[0]?.startsWith('-')) {
    err.write(`${USAGE}\n`);
    return 2;
  }
  const shown = args[0] ?? REPO_VECTORS_DIR;
  const dir = resolve(shown);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    err.write(`check-vectors: ${shown} is not a directory\n`);
    return 2;
  }
  if ((await listVectorFiles(dir)).length === 0) {
    err.write(`check-vectors: no vector files (*.json) under ${shown}\n`);
    return 2;
  }
  const results = await checkVectorDirectory(dir);
  for (const r of results) {
    out.write(`${r.passed ? 'PASS' : 'FAIL'} ${r.file}  max error ${formatError(r.maxAbsError)}\n`);
    if (!r.passed && r.detail) err.write(`  ${r.file}: ${r.detail}\n`);
  }
  const failed = results.filter((r) => !r.passed).length;
  out.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

function formatError(x: number): string {
  return x === 0 || !Number.isFinite(x) ? String(x) : x.toExponential(2);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runCheckVectors(process.argv.slice(2), process.stdout, process.stderr);
}
