// Download progress for a terminal (one redrawn bar) or for logs and pipes (plain lines).

export interface PullProgress {
  fileStart(path: string, size: number): void;
  fileProgress(path: string, bytesDone: number): void;
  fileDone(path: string, outcome: string): void;
  /** A line of its own (a retry, a summary). */
  note(line: string): void;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Milliseconds since some origin; injected by tests. Default Date.now. */
  now?: () => number;
  /** Least time between two redraws of the bar, in ms. Default 100. */
  redrawMs?: number;
}

/** Decimal units, as the hub shows sizes: 1.2 GB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** A bar redrawn in place on a TTY; otherwise a line per file and per 10% of large files. */
export function createProgress(stream: ProgressStream, options: ProgressOptions = {}): PullProgress {
  const now = options.now ?? Date.now;
  const redrawMs = options.redrawMs ?? 100;
  return stream.isTTY ? new BarProgress(stream, now, redrawMs) : new LineProgress(stream);
}

class BarProgress implements PullProgress {
  private size = 0;
  private startedAt = 0;
  private startBytes = 0;
  private lastDraw = -Infinity;

  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number,
    private readonly redrawMs: number,
  ) {}

  fileStart(_path: string, size: number): void {
    this.size = size;
    this.startedAt = this.now();
    this.startBytes = -1;
    this.lastDraw = -Infinity;
  }

  fileProgress(path: string, bytesDone: number): void {
    if (this.startBytes < 0) this.startBytes = bytesDone;
    const t = this.now();
    if (t - this.lastDraw < this.redrawMs && bytesDone < this.size) return;
    this.lastDraw = t;
    const fraction = this.size > 0 ? bytesDone / this.size : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const seconds = (t - this.startedAt) / 1000;
    const rate = seconds > 0 ? `${formatBytes((bytesDone - this.startBytes) / seconds)}/s` : '';
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(bytesDone)}/${formatBytes(this.size)} ${rate} ${path}`;
    this.stream.write(`\r\x1b[K${line.slice(0, Math.max(20, (this.stream.columns ?? 100) - 1))}`);
  }

  fileDone(path: string, outcome: string): void {
    this.stream.write(`\r\x1b[K${outcome.padEnd(10)} ${path} (${formatBytes(this.size)})\n`);
  }

  note(line: string): void {
    this.stream.write(`\r\x1b[K${line}\n`);
  }
}

// Files above this size get a line every 10% in plain output.
const LARGE_FILE_BYTES = 20_000_000;

class LineProgress implements PullProgress {
  private size = 0;
  private lastTenth = 0;

  constructor(private readonly stream: ProgressStream) {}

  fileStart(path: string, size: number): void {
    this.size = size;
    this.lastTenth = -1;
    this.stream.write(`fetching   ${path} (${formatBytes(size)})\n`);
  }

  fileProgress(path: string, bytesDone: number): void {
    if (this.size < LARGE_FILE_BYTES) return;
    const tenth = Math.floor((bytesDone / this.size) * 10);
    if (this.lastTenth < 0) {
      this.lastTenth = tenth; // the first call reports bytes already on disk
      return;
    }
    if (tenth > this.lastTenth && tenth < 10) {
      this.lastTenth = tenth;
      this.stream.write(`           ${path} ${tenth * 10}% (${formatBytes(bytesDone)})\n`);
    }
  }

  fileDone(path: string, outcome: string): void {
    this.stream.write(`${outcome.padEnd(10)} ${path} (${formatBytes(this.size)})\n`);
  }

  note(line: string): void {
    this.stream.write(`${line}\n`);
  }
}
