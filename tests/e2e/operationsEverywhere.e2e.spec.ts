// Every process answers its probes and scrapes, whatever its roles, and an API process's readiness
// notices a projection that has stopped advancing while events wait (no projector anywhere).
import { createService } from '../../src/service';
import { createReadModelProjection } from '../../src/projections/readModel/readModelProjection';
import { ProjectionRunner } from '../../src/projections/runner';
import { freePort } from '../../src/platform/embeddedPostgres';
import { createTestDatabase } from '../support/database';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { serviceParts } from '../support/testService';

const quiet = { info() {}, error() {} };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a process without the api role', () => {
  it('serves /health/live, /health/ready and /metrics on HEALTH_PORT, and nothing else', async () => {
    const db = await createTestDatabase();
    const healthPort = await freePort();
    let projector: ServiceProcess | undefined;
    try {
      projector = await startServiceProcess({ DATABASE_URL: db.url, ROLES: 'projector,timer', HEALTH_PORT: String(healthPort) });
      const url = `http://127.0.0.1:${healthPort}`;
      const ready = await waitFor('ready', async () => {
        const response = await fetch(`${url}/health/ready`);
        return response.status === 200 ? ((await response.json()) as { checks: Array<{ name: string; ok: boolean }> }) : undefined;
      });
      expect(ready.checks.map((check) => check.name)).toEqual(['database', 'event store', 'projection read_model']);
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      const metrics = await fetch(`${url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^segments_projection_lag_events/m);
      const read = await fetch(`${url}/users/1/segments`);
      expect(read.status).toBe(404);
      expect(read.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await read.json()) as { detail: string }).detail).toMatch(/runs projector, timer and serves only/);
      expect((await fetch(`${url}/segments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"slug":"A"}' })).status).toBe(404);
    } finally {
      expect(await projector?.stop()).toBe(0);
      await db.drop();
    }
  }, 120_000);
});

describe('readiness of an api process without a projector', () => {
  it('fails when events wait and the read model has not advanced for PROJECTION_STALL_SECONDS, and recovers', async () => {
    const db = await createTestDatabase();
    const parts = serviceParts(db.pool, db.url);
    const service = await createService({ ...parts, roles: new Set(['api']), readView: 'database', projectionStallMs: 500 });
    const runner = new ProjectionRunner({ pool: db.pool, store: parts.store, projection: createReadModelProjection(), logger: quiet, retryDelayMs: 50 });
    const ready = async () => {
      const response = await service.app.inject({ method: 'GET', url: '/health/ready' });
      return { status: response.statusCode, body: response.json() as { detail?: string } };
    };
    try {
      expect((await ready()).status).toBe(200);
      expect((await service.app.inject({ method: 'POST', url: '/segments', payload: { slug: 'A' } })).statusCode).toBe(201);
      // Pending, but not yet for long: still ready.
      expect((await ready()).status).toBe(200);
      const stalled = await waitFor('stalled', async () => {
        const answer = await ready();
        return answer.status === 503 ? answer : undefined;
      });
      expect(stalled.body.detail).toMatch(/projection progress: events pending and the read model not advancing for \d+ s/);
      runner.start();
      await waitFor('ready again', async () => ((await ready()).status === 200 ? true : undefined));
    } finally {
      await runner.stop();
      await service.stop();
      await (parts.readPool as unknown as { end(): Promise<void> }).end();
      await db.drop();
    }
  }, 60_000);
});
