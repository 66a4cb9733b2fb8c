// GET /metrics: Prometheus text with request counts per route template, process figures, the
// projection's lag and applied events, and expiries the timer has not recorded yet.
import { startTestService, type TestService } from '../support/testService';
import { DAY, TestClock } from '../support/testClock';

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
