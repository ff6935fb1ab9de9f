// GET /healthz (200 when the worker is consuming, 503 with the failing checks otherwise)
// and GET /metrics (Prometheus text) on HEALTH_PORT. Port 0 picks a free port, for several
// workers on one machine (one per GPU); `port` then says which.
import { createServer, type Server } from 'node:http';

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail: string }>;
}

export interface HealthServerOptions {
  /** 0 picks a free port (several workers on one machine, tests). */
  port: number;
  /** @defaultValue '0.0.0.0' */
  host?: string;
  health: () => HealthReport;
  /** The Prometheus text; may first refresh what it samples. */
  metrics: () => string | Promise<string>;
}

export interface HealthServer {
  /** The port it listens on (the one picked when asked for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** The port is taken, most likely by another worker on this machine. */
export class HealthPortInUseError extends Error {
  constructor(readonly port: number) {
    super(
      `HEALTH_PORT ${port} is already in use (another worker on this machine?): give each worker its own HEALTH_PORT, or HEALTH_PORT=0 for a free one`,
    );
    this.name = 'HealthPortInUseError';
  }
}

/** Listens on `port` (0: a free one); rejects with HealthPortInUseError when it is taken. */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      const report = options.health();
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(report));
    } else if (req.method === 'GET' && path === '/metrics') {
      Promise.resolve()
        .then(() => options.metrics())
        .then(
          (text) => {
            res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
            res.end(text);
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
          },
        );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /healthz or /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new HealthPortInUseError(options.port) : err));
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
