// npm run models:pull -- <hub-repo-id> [--revision REV] [--subfolder DIR] [--name NAME]:
// downloads a Stable Diffusion ONNX export from the Hugging Face Hub into MODELS_DIR/<name>
// and checks that the pipeline loads it.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, loadConfig } from '../config.js';
import { HubClient } from '../hub/client.js';
import { HubError } from '../hub/errors.js';
import { createProgress, type ProgressStream } from '../hub/progress.js';
import { pullModel } from '../hub/pull.js';
import { ModelLoadError } from '../pipeline/errors.js';
import { validateModelFolder } from '../pipeline/model.js';

const USAGE = `usage: npm run models:pull -- <hub-repo-id> [--revision REV] [--subfolder DIR] [--name NAME]
  <hub-repo-id>     owner/name on the Hugging Face Hub (HF_ENDPOINT), like stabilityai/sd-turbo
  --revision REV    branch, tag or commit (default: main)
  --subfolder DIR   folder of the ONNX export inside the repository, like onnx (default: the root)
  --name NAME       folder name under MODELS_DIR (default: the repository's name)
Set HF_TOKEN for gated or private repositories. An interrupted download resumes when run again.`;

class UsageError extends Error {}

export interface CliIo {
  env: NodeJS.ProcessEnv;
  /** Results and the final summary. */
  stdout: ProgressStream;
  /** Progress and errors. */
  stderr: ProgressStream;
}

export interface ModelsPullTuning {
  /** Retries per file after a broken connection. Default 3. */
  retries?: number;
  /** First wait before a retry, in ms. Default 2000. */
  retryDelayMs?: number;
}

function parse(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        revision: { type: 'string', default: 'main' },
        subfolder: { type: 'string', default: '' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  const [repo, ...more] = positionals;
  if (repo === undefined) throw new UsageError('missing the hub repository id');
  if (more.length > 0) throw new UsageError(`one repository at a time, got ${positionals.join(' ')}`);
  const name = values.name ?? repo.split('/').pop() ?? repo;
  if (!/^[a-zA-Z0-9._-]+$/.test(name) || name.startsWith('.'))
    throw new UsageError(`--name must be a folder name (letters, digits, . _ -), got '${name}'`);
  return { repo, name, revision: values.revision, subfolder: values.subfolder };
}

/** Runs the command; returns the exit code (0 done, 1 failed, 2 usage). Every failure is told in one line, never a stack trace. */
export async function modelsPull(argv: string[], io: CliIo, tuning: ModelsPullTuning = {}): Promise<number> {
  try {
    const args = parse(argv);
    if (!args) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const config = loadConfig(io.env);
    const destination = join(config.MODELS_DIR, args.name);
    const client = new HubClient({ endpoint: config.HF_ENDPOINT, token: config.HF_TOKEN });
    const result = await pullModel({
      client,
      repo: args.repo,
      revision: args.revision,
      subfolder: args.subfolder,
      destination,
      progress: createProgress(io.stderr),
      retries: tuning.retries,
      retryDelayMs: tuning.retryDelayMs,
      validate: async (dir) => {
        io.stderr.write(`checking that the pipeline loads ${dir} (CPU)...\n`);
        const info = await validateModelFolder(dir);
        for (const warning of info.warnings) io.stderr.write(`warning: ${warning}\n`);
        io.stdout.write(
          `model ${args.name}: ${info.nativeWidth}x${info.nativeHeight} native, default sampler ${info.defaultSampler}, img2img ${info.supportsImg2Img ? 'yes' : 'no'}, hash ${info.hash.slice(0, 12)}\n`,
        );
      },
    });
    const fetched = result.files.filter((f) => f.outcome !== 'present').length;
    io.stdout.write(
      `ready: ${result.dir} (${result.files.length} files, ${fetched} fetched, commit ${result.commit.slice(0, 12)}). Add "${args.name}" to WORKER_MODELS to serve it.\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`error: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    if (error instanceof ModelLoadError) {
      io.stderr.write(`error: the files were downloaded but the pipeline cannot load them: ${error.message}\n`);
      return 1;
    }
    if (error instanceof HubError || error instanceof ConfigError) {
      io.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    // File system errors (a MODELS_DIR that is a file, no permission, a full disk) and anything else.
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`error: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  loadDotenv({ quiet: true });
  process.exitCode = await modelsPull(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr });
}
