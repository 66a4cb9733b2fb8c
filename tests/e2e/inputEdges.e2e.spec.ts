// Inputs at the edges of what the contract allows: moments outside what PostgreSQL can store,
// offsets in query times, report periods before 1970, a command that changes nothing for a user
// never seen, and the bearer scheme in any case. Each answer is the documented one, never a 500.
import { startTestService, type TestService } from '../support/testService';

describe('inputs at the edges', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
    await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_DISCOUNT_30' } });
  });
  afterAll(() => t.close());
  const get = (url: string) => t.request({ method: 'GET', url });

  it.each([
    ['/users/1000/segments?at=0000-01-01T00:00:00.000Z', 'querystring.at'],
    ['/users/1000/segments?at=1969-12-31T23:59:59.999Z', 'querystring.at'],
    ['/users/1000/history?from=0000-06-01T00:00:00.000Z', 'querystring.from'],
    ['/users/1000/history?to=0000-06-01T00:00:00.000Z', 'querystring.to'],
  ])('%s is 400 naming %s, not a database error', async (url, path) => {
    const response = await get(url);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json().errors).toEqual([{ path, message: 'must lie in the years 1970 to 9999' }]);
  });

  it('query times may carry an offset, as body times may', async () => {
    const response = await get(`/users/1000/segments?at=${encodeURIComponent('2026-11-23T12:00:00+03:00')}`);
    expect(response.statusCode).toBe(200);
    const history = await get(`/users/1000/history?from=${encodeURIComponent('2026-01-01T00:00:00-05:00')}`);
    expect(history.statusCode).toBe(200);
  });

  it.each(['0099-12', '0000-01', '1969-12'])('report period %s is 400 naming period', async (period) => {
    const before = await t.snapshot();
    const response = await t.request({ method: 'POST', url: '/reports/history', payload: { period } });
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([{ path: 'period', message: 'a month as YYYY-MM, month 01 to 12, from 1970-01' }]);
    expect(await t.snapshot()).toEqual(before);
  });

  it('a command that changes nothing for a user never seen still answers a position to read after', async () => {
    const response = await t.request({ method: 'POST', url: '/users/78/segments', payload: { remove: ['AVITO_DISCOUNT_30'] } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ userId: 78, added: [], removed: [], segments: [], version: 0, position: '0/0' });
    expect(response.headers['x-position']).toBe('0/0');
    const read = await t.request({ method: 'GET', url: '/users/78/segments', headers: { 'x-min-position': '0/0' } });
    expect(read.statusCode).toBe(200);
  });
});

describe('bearer tokens', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ apiTokens: [{ name: 'dashboard', token: 'read-token-0123456789', scope: 'read' }] });
  });
  afterAll(() => t.close());

  it.each(['Bearer', 'bearer', 'BEARER'])('the scheme name is case-insensitive: %s', async (scheme) => {
    const response = await t.request({ method: 'GET', url: '/segments', headers: { authorization: `${scheme} read-token-0123456789` } });
    expect(response.statusCode).toBe(200);
  });
});
