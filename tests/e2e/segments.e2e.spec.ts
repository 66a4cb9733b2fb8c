// Segments: list, read, delete and re-create; members and the bulk route.
import { startTestService, type TestService } from '../support/testService';

describe('segments', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(() => t.close());

  const post = (url: string, payload: unknown) => t.request({ method: 'POST', url, payload: payload as Record<string, unknown> });
  const get = (url: string) => t.request({ method: 'GET', url });

  it('the service starts empty', async () => {
    expect((await get('/segments')).json()).toEqual({ segments: [], nextCursor: null });
    expect((await get('/users/1000/segments')).json()).toEqual({ userId: 1000, segments: [] });
  });

  it('lists segments sorted by slug with their explicit member counts', async () => {
    expect((await post('/segments', { slug: 'AVITO_VOICE_MESSAGES', description: 'Voice messages in chats' })).statusCode).toBe(201);
    expect((await post('/segments', { slug: 'AVITO_DISCOUNT_30' })).statusCode).toBe(201);
    await post('/users/1000/segments', { add: ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30'] });
    await post('/users/1002/segments', { add: ['AVITO_VOICE_MESSAGES'] });
    await t.settle();
    const list = (await get('/segments')).json();
    expect(list.segments.map((s: { slug: string; memberCount: number }) => [s.slug, s.memberCount])).toEqual([
      ['AVITO_DISCOUNT_30', 1],
      ['AVITO_VOICE_MESSAGES', 2],
    ]);
    const one = (await get('/segments/AVITO_VOICE_MESSAGES')).json();
    expect(one).toMatchObject({ slug: 'AVITO_VOICE_MESSAGES', description: 'Voice messages in chats', autoAssignPercent: null, memberCount: 2 });
    expect(new Date(one.createdAt).toISOString()).toBe(one.createdAt);
  });

  it('lists segments a page at a time, in slug order, with a cursor to the next page', async () => {
    const slugs = ['PAGE_a', 'PAGE_B', 'PAGE_c', 'PAGE_D', 'PAGE_e'];
    for (const slug of slugs) expect((await post('/segments', { slug })).statusCode).toBe(201);
    await t.settle();
    const everything = (await get('/segments?limit=1000')).json();
    expect(everything.nextCursor).toBeNull();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${encodeURIComponent(cursor)}`;
      const page = (await get(`/segments${query}`)).json();
      expect(page.segments.length).toBeLessThanOrEqual(2);
      seen.push(...page.segments.map((segment: { slug: string }) => segment.slug));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(seen).toEqual(everything.segments.map((segment: { slug: string }) => segment.slug));
    // Sorted by UTF-16 code unit, as every list of the API: upper case before lower case.
    expect(seen.filter((slug) => slug.startsWith('PAGE_'))).toEqual(['PAGE_B', 'PAGE_D', 'PAGE_a', 'PAGE_c', 'PAGE_e']);
    expect((await get('/segments?limit=0')).statusCode).toBe(400);
    expect((await get('/segments?cursor=not%20a%20slug')).statusCode).toBe(400);
    for (const slug of slugs) expect((await t.request({ method: 'DELETE', url: `/segments/${slug}` })).statusCode).toBe(204);
  });

  it('a description in Cyrillic with an emoji is stored and returned as sent', async () => {
    const created = await t.request({ method: 'POST', url: '/segments', payload: { slug: 'AVITO_TEXT_CHECK', description: 'Скидка 30 % 🎉' } });
    expect(created.statusCode).toBe(201);
    expect(created.json().description).toBe('Скидка 30 % 🎉');
    const read = await t.request({ method: 'GET', url: '/segments/AVITO_TEXT_CHECK', headers: { 'x-min-position': created.headers['x-position'] as string } });
    expect(read.json().description).toBe('Скидка 30 % 🎉');
    expect((await t.request({ method: 'DELETE', url: '/segments/AVITO_TEXT_CHECK' })).statusCode).toBe(204);
  });

  it('slugs are case-sensitive', async () => {
    const created = await post('/segments', { slug: 'avito_discount_30' });
    expect(created.statusCode).toBe(201);
    // Read-your-writes: the X-Position of the write makes the read wait for the projection.
    const read = await t.request({ method: 'GET', url: '/segments/avito_discount_30', headers: { 'x-min-position': created.headers['x-position'] as string } });
    expect(read.json()).toMatchObject({ slug: 'avito_discount_30', memberCount: 0 });
    expect((await get('/segments/AVITO_DISCOUNT_30')).json().memberCount).toBe(1);
    await t.request({ method: 'DELETE', url: '/segments/avito_discount_30' });
  });

  it('deleting a segment removes every member, recorded as segment_deleted; the slug starts empty when re-created', async () => {
    expect((await t.request({ method: 'DELETE', url: '/segments/AVITO_VOICE_MESSAGES' })).statusCode).toBe(204);
    await t.settle();
    expect((await get('/segments/AVITO_VOICE_MESSAGES')).statusCode).toBe(404);
    expect((await get('/users/1002/segments')).json().segments).toEqual([]);
    expect((await get('/users/1000/segments')).json().segments.map((s: { slug: string }) => s.slug)).toEqual(['AVITO_DISCOUNT_30']);
    const removal = (await t.service.store.readStream('user-1002')).at(-1)!;
    const deletion = (await t.service.store.readStream('segment-AVITO_VOICE_MESSAGES')).at(-1)!;
    expect(removal).toMatchObject({ type: 'MembershipRemoved', data: { reason: 'segment_deleted' } });
    expect((removal.data as { effectiveAt: string }).effectiveAt).toBe((deletion.data as { deletedAt: string }).deletedAt);

    expect((await post('/segments', { slug: 'AVITO_VOICE_MESSAGES' })).statusCode).toBe(201);
    await t.settle();
    expect((await get('/segments/AVITO_VOICE_MESSAGES')).json().memberCount).toBe(0);
    expect((await get('/users/1002/segments')).json().segments).toEqual([]);
  });

  it('an empty segment can be deleted', async () => {
    await post('/segments', { slug: 'EMPTY' });
    expect((await t.request({ method: 'DELETE', url: '/segments/EMPTY' })).statusCode).toBe(204);
  });

  it('the bulk route adds and removes users with the rules of the user route', async () => {
    await post('/segments', { slug: 'BULK' });
    const first = await post('/segments/BULK/members', { add: [1, 2, 3, 4, 5] });
    expect(first.json()).toEqual({ added: 5, removed: 0 });
    // Already a member: not counted. Not a member: nothing to remove.
    const second = await post('/segments/BULK/members', { add: [5, 6], remove: [1, 99] });
    expect(second.json()).toEqual({ added: 1, removed: 1 });
    await t.settle();
    const history = await t.service.store.readStream('user-1');
    expect(history.map((e) => [e.type, (e.data as { reason: string }).reason])).toEqual([
      ['MembershipAdded', 'bulk'],
      ['MembershipRemoved', 'bulk'],
    ]);
    expect((await get('/segments/BULK')).json().memberCount).toBe(5);
  });

  it('members are listed by user id, page by page', async () => {
    const page1 = (await get('/segments/BULK/members?limit=2')).json();
    expect(page1.members.map((m: { userId: number }) => m.userId)).toEqual([2, 3]);
    expect(page1.members[0]).toEqual({ userId: 2, addedAt: expect.any(String), expiresAt: null });
    const page2 = (await get(`/segments/BULK/members?limit=2&cursor=${page1.nextCursor}`)).json();
    expect(page2.members.map((m: { userId: number }) => m.userId)).toEqual([4, 5]);
    const page3 = (await get(`/segments/BULK/members?limit=2&cursor=${page2.nextCursor}`)).json();
    expect(page3).toEqual({ members: [expect.objectContaining({ userId: 6 })], nextCursor: null });
  });

  it('a bulk change of 100,000 users is applied whole', async () => {
    await post('/segments', { slug: 'BIG' });
    const ids = Array.from({ length: 100_000 }, (_, i) => 1_000_000 + i);
    const response = await post('/segments/BIG/members', { add: ids });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ added: 100_000, removed: 0 });
    // Projecting 100,000 changes takes 5–9 s on a 2-core machine, longer while it is busy; this
    // test is about the bulk being applied whole, not about how fast.
    await t.settle({ timeoutMs: 60_000 });
    expect((await get('/segments/BIG')).json().memberCount).toBe(100_000);
    expect((await get('/users/1099999/segments')).json().segments.map((s: { slug: string }) => s.slug)).toEqual(['BIG']);
  }, 120_000);
});
