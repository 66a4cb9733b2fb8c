// The example from the task text, through HTTP.
import { startTestService, type TestService } from '../support/testService';


describe('the task example', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(() => t.close());

  it('users 1000, 1002 and 1004 get exactly the segments of the task table', async () => {
    for (const slug of ['AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS', 'AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50']) {
      const created = await t.request({ method: 'POST', url: '/segments', headers: { 'content-type': 'application/json' }, payload: { slug } });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ slug, description: null, autoAssignPercent: null });
    }

    const user1000 = await t.request({
      method: 'POST',
      url: '/users/1000/segments',
      payload: { add: ['AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS', 'AVITO_DISCOUNT_30'] },
    });
    expect(user1000.statusCode).toBe(200);
    expect(user1000.json()).toMatchObject({
      userId: 1000,
      added: ['AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS', 'AVITO_DISCOUNT_30'],
      removed: [],
      version: 3,
    });
    const user1002 = await t.request({
      method: 'POST',
      url: '/users/1002/segments',
      payload: { add: ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_50'] },
    });
    expect(user1002.statusCode).toBe(200);

    const slugsOf = async (userId: number, position?: string) => {
      const response = await t.request({
        method: 'GET',
        url: `/users/${userId}/segments`,
        headers: position ? { 'x-min-position': position } : {},
      });
      expect(response.statusCode).toBe(200);
      expect(response.json().userId).toBe(userId);
      return (response.json().segments as Array<{ slug: string; source: string }>).map((segment) => {
        expect(segment.source).toBe('manual');
        return segment.slug;
      });
    };

    // Read-your-writes: the position of the last write makes the read wait for the projection.
    expect(await slugsOf(1000, user1000.json().position)).toEqual(['AVITO_DISCOUNT_30', 'AVITO_PERFORMANCE_VAS', 'AVITO_VOICE_MESSAGES']);
    expect(await slugsOf(1002, user1002.json().position)).toEqual(['AVITO_DISCOUNT_50', 'AVITO_VOICE_MESSAGES']);
    expect(await slugsOf(1004)).toEqual([]);
  });

  it('adding segments later keeps the ones a user already has', async () => {
    const response = await t.request({ method: 'POST', url: '/users/1000/segments', payload: { add: ['AVITO_DISCOUNT_50', 'AVITO_DISCOUNT_30'] } });
    expect(response.statusCode).toBe(200);
    expect(response.json().added).toEqual(['AVITO_DISCOUNT_50']);
    expect(response.json().segments.map((s: { slug: string }) => s.slug)).toEqual([
      'AVITO_DISCOUNT_30',
      'AVITO_DISCOUNT_50',
      'AVITO_PERFORMANCE_VAS',
      'AVITO_VOICE_MESSAGES',
    ]);
  });

  it('add and remove in one request apply together', async () => {
    const response = await t.request({
      method: 'POST',
      url: '/users/1002/segments',
      payload: { add: ['AVITO_PERFORMANCE_VAS'], remove: ['AVITO_DISCOUNT_50', 'AVITO_DISCOUNT_30'] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ added: ['AVITO_PERFORMANCE_VAS'], removed: ['AVITO_DISCOUNT_50'] });
    const read = await t.request({ method: 'GET', url: '/users/1002/segments', headers: { 'x-min-position': response.json().position } });
    expect(read.json().segments.map((s: { slug: string }) => s.slug)).toEqual(['AVITO_PERFORMANCE_VAS', 'AVITO_VOICE_MESSAGES']);
  });
});

