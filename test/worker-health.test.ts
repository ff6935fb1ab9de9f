// The worker's health server (src/worker/health.ts): HEALTH_PORT=0 gives each worker on a
// machine a free port of its own; a taken port is refused with a message saying what to do.
import { afterEach, describe, expect, it } from 'vitest';
import { HealthPortInUseError, startHealthServer, type HealthServer } from '../src/worker/health.js';

const started: HealthServer[] = [];

async function start(port: number, name: string): Promise<HealthServer> {
  const server = await startHealthServer({
    port,
    host: '127.0.0.1',
    health: () => ({ ok: true, checks: { consuming: { ok: true, detail: name } } }),
    metrics: () => `worker_name{name="${name}"} 1\n`,
  });
  started.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

describe('health server ports', () => {
  it('gives two servers asked for port 0 a free port each, and both answer', async () => {
    const [a, b] = [await start(0, 'gpu0'), await start(0, 'gpu1')];
    expect(a.port).toBeGreaterThan(0);
    expect(b.port).toBeGreaterThan(0);
    expect(a.port).not.toBe(b.port);
    for (const [server, name] of [
      [a, 'gpu0'],
      [b, 'gpu1'],
    ] as const) {
      const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { checks: { consuming: { detail: string } } }).checks.consuming.detail).toBe(name);
      expect(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()).toContain(`name="${name}"`);
    }
  });

  it('refuses a port another worker holds, naming HEALTH_PORT and the fix', async () => {
    const first = await start(0, 'first');
    const second = start(first.port, 'second');
    await expect(second).rejects.toBeInstanceOf(HealthPortInUseError);
    await expect(second).rejects.toThrow(
      `HEALTH_PORT ${first.port} is already in use (another worker on this machine?): give each worker its own HEALTH_PORT, or HEALTH_PORT=0 for a free one`,
    );
  });
});
