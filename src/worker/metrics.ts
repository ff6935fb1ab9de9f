// A small Prometheus registry: counters, gauges and histograms with labels, rendered in
// the text exposition format (version 0.0.4). Enough for one process; no dependency.

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
    .join(',');
}

function series(name: string, key: string, value: number): string {
  return `${name}${key === '' ? '' : `{${key}}`} ${formatValue(value)}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

interface Metric {
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new RangeError(`counter ${this.name} can only go up, got ${by}`);
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, value] of this.values) lines.push(series(this.name, key, value));
    return lines;
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), value);
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [key, value] of this.values) lines.push(series(this.name, key, value));
    return lines;
  }
}

interface HistogramSeries {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram implements Metric {
  private readonly values = new Map<string, HistogramSeries>();
  /** Upper bounds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: number[],
  ) {
    if (buckets.length === 0 || buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!)) {
      throw new RangeError(`histogram ${name} needs strictly ascending buckets`);
    }
    this.buckets = buckets;
  }

  observe(value: number, labels: Labels = {}): void {
    const key = labelKey(labels);
    let s = this.values.get(key);
    if (s === undefined) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(key, s);
    }
    this.buckets.forEach((bound, i) => {
      if (value <= bound) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, s] of this.values) {
      const sep = key === '' ? '' : ',';
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket{${key}${sep}le="${formatValue(bound)}"} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket{${key}${sep}le="+Inf"} ${s.count}`);
      lines.push(series(`${this.name}_sum`, key, s.sum));
      lines.push(series(`${this.name}_count`, key, s.count));
    }
    return lines;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  /** The exposition text (Content-Type: text/plain; version=0.0.4). */
  render(): string {
    return `${this.metrics.flatMap((m) => m.render()).join('\n')}\n`;
  }

  private add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
}

/** The worker's metrics, in one place so the names are easy to find. */
export function createWorkerMetrics(registry = new MetricsRegistry()) {
  return {
    registry,
    queueDepth: registry.gauge('imagine_queue_depth', 'Jobs waiting in the queue of a model (waiting, prioritized, delayed).'),
    jobs: registry.counter(
      'imagine_jobs_total',
      'Jobs finished by this worker, by outcome (succeeded, failed, cancelled, retried, skipped).',
    ),
    jobSeconds: registry.histogram(
      'imagine_job_duration_seconds',
      'Time from pickup to delivered result.',
      [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    ),
    stepSeconds: registry.histogram(
      'imagine_step_duration_seconds',
      'Denoising step time (generation time / steps).',
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    ),
    queueWaitSeconds: registry.histogram(
      'imagine_queue_wait_seconds',
      'Time from enqueue to pickup.',
      [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
    ),
    previewEdits: registry.counter('imagine_preview_edits_total', 'Progress edits sent to Discord.'),
    discordRateLimits: registry.counter('imagine_discord_rate_limits_total', 'HTTP 429 answers from Discord.'),
    residentMemory: registry.gauge(
      'process_resident_memory_bytes',
      'Resident memory of the worker process (the pipeline thread included).',
    ),
    deliveries: registry.counter('imagine_deliveries_total', 'Final messages, by route (interaction, channel, failed).'),
    reconcileActions: registry.counter(
      'imagine_reconcile_actions_total',
      'Repairs by the reconciler, by action (requeued, removed, stall_requeued, stall_failed, redelivered, redelivery_failed, told_waiting, no_worker_cancelled).',
    ),
    retentionFreed: registry.counter(
      'imagine_retention_freed_total',
      'What the daily retention run freed, by kind (images, image_bytes, replays, replay_bytes, tokens).',
    ),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
