// GET /metrics: Prometheus text with request counts per route template, process figures, the
// projection's lag and applied events, and expiries the timer has not recorded yet; and what the
// service's parts count where it happens: events appended, timer ticks, expiries and failures,
// report generations, pool connections, and the progress of a rebuild.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'slonik';
import { LocalReportStorage } from '../../src/reports/localReportStorage';
import { holdAdvisoryLock } from '../support/advisoryLock';
import { startTestService, type TestService } from '../support/testService';
import { DAY, HOUR, TestClock } from '../support/testClock';

/** The value of one sample line, e.g. `http_requests_total{method="POST",route="/segments",status_code="201"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  let t: TestService;
  let clock: TestClock;
  const metrics = async () => {
    const response = await t.request({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    return response.body;
  };

  beforeAll(async () => {
    clock = new TestClock(new Date('2026-11-23T09:30:00.000Z'));
    // No timer: the expiry must stay unrecorded for the overdue gauge to show it.
    t = await startTestService({ clock, roles: ['api', 'projector'] });
  });
  afterAll(() => t.close());

  it('counts requests by route template and status, never by raw URL', async () => {
    await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } });
    await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } });
    await t.request({ method: 'GET', url: '/users/1000/segments' });
    await t.request({ method: 'GET', url: '/users/1002/segments' });
    await t.request({ method: 'GET', url: '/no/such/page' });

    const text = await metrics();
    expect(sample(text, 'http_requests_total{method="POST",route="/segments",status_code="201"}')).toBe(1);
    expect(sample(text, 'http_requests_total{method="POST",route="/segments",status_code="409"}')).toBe(1);
    expect(sample(text, 'http_requests_total{method="GET",route="/users/:userId/segments",status_code="200"}')).toBe(2);
    expect(sample(text, 'http_requests_total{method="GET",route="unmatched",status_code="404"}')).toBe(1);
    expect(text).not.toContain('/users/1000');
    expect(sample(text, 'http_request_duration_seconds_count{method="GET",route="/users/:userId/segments"}')).toBe(2);
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  });

  it('shows the projection caught up, with the events it applied', async () => {
    await t.settle();
    const text = await metrics();
    expect(sample(text, 'segments_projection_lag_events{projection="read_model"}')).toBe(0);
    expect(sample(text, 'segments_projection_events_applied{projection="read_model"}')).toBe(1);
    expect(sample(text, 'segments_projection_live{projection="read_model"}')).toBe(1);
    expect(sample(text, 'segments_projection_active{projection="read_model"}')).toBe(1);
  });

  it('counts the events each append stored, by event type', async () => {
    const appended = async (type: string) => sample(await metrics(), `segments_events_appended_total{type="${type}"}`) ?? 0;
    const created = await appended('SegmentCreated');
    const added = await appended('MembershipAdded');
    const removed = await appended('MembershipRemoved');
    expect((await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_VOICE_MESSAGES' } })).statusCode).toBe(201);
    const bulk = await t.request({ method: 'POST', url: '/segments/AVITO_VOICE_MESSAGES/members', payload: { add: [2001, 2002, 2003] } });
    expect(bulk.statusCode).toBe(200);
    const user = await t.request({ method: 'POST', url: '/users/2001/segments', payload: { remove: ['AVITO_VOICE_MESSAGES'] } });
    expect(user.statusCode).toBe(200);
    // A request that changes nothing appends nothing.
    expect((await t.request({ method: 'POST', url: '/users/2001/segments', payload: { remove: ['AVITO_VOICE_MESSAGES'] } })).statusCode).toBe(200);
    expect(await appended('SegmentCreated')).toBe(created + 1);
    expect(await appended('MembershipAdded')).toBe(added + 3);
    expect(await appended('MembershipRemoved')).toBe(removed + 1);
  });

  it('counts memberships past their expiry that the timer has not recorded', async () => {
    const add = await t.request({
      method: 'POST',
      url: '/users/1000/segments',
      payload: { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 2 * 24 * 3600 }] },
    });
    expect(add.statusCode).toBe(200);
    await t.settle();
    expect(sample(await metrics(), 'segments_memberships_expiry_overdue')).toBe(0);
    clock.advance(2 * DAY);
    expect(sample(await metrics(), 'segments_memberships_expiry_overdue')).toBe(1);
  });
});

describe('GET /metrics with API tokens', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({
      apiTokens: [{ name: 'prometheus', token: 'read-token-0123456789', scope: 'read' }],
    });
  });
  afterAll(() => t.close());

  it('needs a token with scope read', async () => {
    const anonymous = await t.request({ method: 'GET', url: '/metrics' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toContain('application/problem+json');
    const scraper = await t.request({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer read-token-0123456789' } });
    expect(scraper.statusCode).toBe(200);
  });
});

describe('GET /metrics counts what the timer, reports, pools and rebuilds do', () => {
  let t: TestService;
  let clock: TestClock;
  let reports: string;
  const scrape = async () => {
    const response = await t.request({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    return response.body;
  };
  const value = async (series: string) => sample(await scrape(), series) ?? 0;
  const addForAnHour = async (userIds: number[]) => {
    for (const userId of userIds) {
      const added = await t.request({ method: 'POST', url: `/users/${userId}/segments`, payload: { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 3_600 }] } });
      expect(added.statusCode).toBe(200);
    }
    await t.settle();
  };

  beforeAll(async () => {
    clock = new TestClock(new Date('2026-11-23T09:30:00.000Z'));
    reports = fs.mkdtempSync(path.join(os.tmpdir(), 'segments-metrics-reports-'));
    // The timer's schedule never comes round during the test: each tick below is the one asked for.
    t = await startTestService({ clock, ttlSweepSchedule: '0 0 0 1 1 *', reportStorage: new LocalReportStorage(reports, 'http://127.0.0.1:8080') });
    expect((await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } })).statusCode).toBe(201);
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(reports, { recursive: true, force: true });
  });

  it('counts timer runs, the expiries they record, and their failures', async () => {
    const timer = t.service.timer!;
    await addForAnHour([3001, 3002, 3003]);
    clock.advance(2 * HOUR);
    expect(await timer.tick()).toEqual({ due: 3, expired: 3, failedUsers: 0 });
    expect(await value('segments_expiry_timer_runs_total{outcome="completed"}')).toBe(1);
    expect(await value('segments_expiries_recorded_total')).toBe(3);
    expect(await value('segments_events_appended_total{type="MembershipRemoved"}')).toBe(3);
    await t.settle();

    // A user whose stream refuses the append (a real failure inside PostgreSQL) fails alone.
    await addForAnHour([3004, 3005]);
    await t.db.pool.query(sql.unsafe`
      CREATE FUNCTION refuse_user_3005() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'user-3005 refuses appends'; END $$`);
    await t.db.pool.query(sql.unsafe`
      CREATE TRIGGER refuse_user_3005 BEFORE INSERT ON events FOR EACH ROW
      WHEN (NEW.stream_id = 'user-3005') EXECUTE FUNCTION refuse_user_3005()`);
    clock.advance(2 * HOUR);
    try {
      expect(await timer.tick()).toEqual({ due: 2, expired: 1, failedUsers: 1 });
    } finally {
      await t.db.pool.query(sql.unsafe`DROP TRIGGER refuse_user_3005 ON events`);
    }
    expect(await value('segments_expiry_timer_runs_total{outcome="completed"}')).toBe(2);
    expect(await value('segments_expiries_recorded_total')).toBe(4);
    expect(await value('segments_expiry_timer_failures_total{kind="user"}')).toBe(1);
    await t.settle();

    // A tick that cannot read the due memberships fails as a whole.
    await t.db.pool.query(sql.unsafe`ALTER TABLE memberships RENAME TO memberships_away`);
    try {
      await expect(timer.tick()).rejects.toThrow(/memberships/);
    } finally {
      await t.db.pool.query(sql.unsafe`ALTER TABLE memberships_away RENAME TO memberships`);
    }
    expect(await value('segments_expiry_timer_runs_total{outcome="failed"}')).toBe(1);
    expect(await value('segments_expiry_timer_failures_total{kind="tick"}')).toBe(1);

    // Another instance holding the timer's lock: this one skips its tick.
    const other = await holdAdvisoryLock(t.db.pool, 'membership-expiry-timer');
    try {
      expect(await timer.tick()).toEqual({ skipped: 'locked' });
    } finally {
      await other.release();
    }
    expect(await value('segments_expiry_timer_runs_total{outcome="skipped"}')).toBe(1);
    expect(await timer.tick()).toEqual({ due: 1, expired: 1, failedUsers: 0 });
    expect(await value('segments_expiries_recorded_total')).toBe(5);
  });

  it('times report generations by outcome', async () => {
    const count = (outcome: string) => value(`segments_report_generation_duration_seconds_count{outcome="${outcome}"}`);
    expect((await t.request({ method: 'POST', url: '/reports/history', payload: { period: '2026-11' } })).statusCode).toBe(201);
    expect(await count('succeeded')).toBe(1);
    expect(await value('segments_report_generation_duration_seconds_sum{outcome="succeeded"}')).toBeGreaterThan(0);
    expect(await value('segments_report_generation_duration_seconds_bucket{le="+Inf",outcome="succeeded"}')).toBe(1);
    expect(await count('failed')).toBe(0);

    // Storage fails: where the reports folder should be lies a file.
    fs.rmSync(reports, { recursive: true });
    fs.writeFileSync(reports, '');
    try {
      expect((await t.request({ method: 'POST', url: '/reports/history', payload: { period: '2026-11' } })).statusCode).toBeGreaterThanOrEqual(500);
    } finally {
      fs.rmSync(reports);
      fs.mkdirSync(reports);
    }
    expect(await count('failed')).toBe(1);
    expect(await count('succeeded')).toBe(1);
  });

  it('shows the connections of the write pool and the read pool, in use, idle and waiting', async () => {
    const inUse = async (pool: string) => {
      const text = await scrape();
      return sample(text, `segments_database_pool_connections{pool="${pool}"}`)! - sample(text, `segments_database_pool_idle_connections{pool="${pool}"}`)!;
    };
    // Three connections of the service's own pool held while it is scraped (the projector and the
    // scrape itself use some more, a varying number).
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let taken = 0;
    const holders = Array.from({ length: 3 }, () =>
      t.db.pool.connect(async () => {
        taken += 1;
        await released;
      }),
    );
    while (taken < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await inUse('write')).toBeGreaterThanOrEqual(3);
    release();
    await Promise.all(holders);

    // Every connection of the read pool (10) held: the next query waits for one.
    const clients = await Promise.all(Array.from({ length: 10 }, () => t.readPool.connect()));
    const waiting = t.readPool.query('SELECT 1');
    try {
      expect(await value('segments_database_pool_connections{pool="read"}')).toBe(10);
      expect(await value('segments_database_pool_idle_connections{pool="read"}')).toBe(0);
      expect(await value('segments_database_pool_waiting_clients{pool="read"}')).toBe(1);
    } finally {
      for (const client of clients) client.release();
    }
    await waiting;
    expect(await value('segments_database_pool_waiting_clients{pool="read"}')).toBe(0);
  });

  it('shows the progress of a rebuild while it runs', async () => {
    const projection = async () => (await t.request({ method: 'GET', url: '/projections/read_model' })).json();
    expect(await value('segments_projection_rebuild_running{projection="read_model"}')).toBe(0);
    // Standing in for a projector batch that takes long: the rebuild waits for it before its swap.
    const batch = await holdAdvisoryLock(t.db.pool, 'projection-pause:read_model');
    try {
      expect((await t.request({ method: 'POST', url: '/projections/read_model/rebuild' })).statusCode).toBe(202);
      for (const deadline = Date.now() + 60_000; (await projection()).rebuild?.state !== 'swapping'; ) {
        if (Date.now() > deadline) throw new Error('the rebuild did not reach its swap within 60 s');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const { eventsApplied } = await projection();
      const text = await scrape();
      expect(sample(text, 'segments_projection_rebuild_running{projection="read_model"}')).toBe(1);
      expect(sample(text, 'segments_projection_rebuild_events_done{projection="read_model"}')).toBe(eventsApplied);
      expect(sample(text, 'segments_projection_rebuild_events_total{projection="read_model"}')).toBe(eventsApplied);
      expect(eventsApplied).toBeGreaterThan(0);
    } finally {
      await batch.release();
    }
    for (const deadline = Date.now() + 60_000; (await projection()).rebuild?.state !== 'finished'; ) {
      if (Date.now() > deadline) throw new Error('the rebuild did not finish within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const text = await scrape();
    expect(sample(text, 'segments_projection_rebuild_running{projection="read_model"}')).toBe(0);
    expect(sample(text, 'segments_projection_rebuild_events_done{projection="read_model"}')).toBeUndefined();
  });
});
