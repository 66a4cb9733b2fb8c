// The README's walkthrough: every request its example blocks show, scene by scene, each scene on a
// fresh service. Times are relative to now and positions come from the answers before them, so
// the walkthrough gives the same statuses and shapes whenever it runs.
import type { Answer, Call } from './exchange';
import { sleep, type Recorder } from './recorder';

export interface Scene {
  name: string;
  run(r: Recorder): Promise<void>;
}

const json = (method: Call['method'], path: string, body: unknown, show: Call['show'] = 'plain'): Call => ({ method, path, body, show });
const post = (path: string, body: unknown, show: Call['show'] = 'plain') => json('POST', path, body, show);
const get = (path: string, show: Call['show'] = 'plain', headers?: Record<string, string>): Call => ({ path, show, headers });
const positionOf = (answer: Answer | undefined) => answer!.header('x-position')!;
const monthOf = (date: Date) => date.toISOString().slice(0, 7);
const DAY_MS = 86_400_000;

const tasks: Scene = {
  name: 'tasks',
  async run(r) {
    await r.block('health-live', get('/health/live', 'headers'));
    await r.block('health-ready', get('/health/ready', 'pretty'));

    await r.block('create-voice', post('/segments', { slug: 'AVITO_VOICE_MESSAGES', description: 'Voice messages in chats' }, 'headers'));
    await r.block('create-others', ...['AVITO_PERFORMANCE_VAS', 'AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50'].map((slug) => post('/segments', { slug })));
    await r.block('add-1000', post('/users/1000/segments', { add: ['AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS', 'AVITO_DISCOUNT_30'] }, 'headers'));
    const [first1002] = await r.block('add-1002', post('/users/1002/segments', { add: ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_50'] }));
    await r.block('read-1000', get('/users/1000/segments', 'pretty'));
    await r.block('read-1002', get('/users/1002/segments'));
    await r.block('read-1004', get('/users/1004/segments'));

    const [change] = await r.block(
      'add-and-remove',
      post('/users/1002/segments', { add: ['AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS'], remove: ['AVITO_DISCOUNT_50', 'AVITO_DISCOUNT_30'] }, 'headers'),
    );
    await r.block('min-position', get('/users/1002/segments', 'headers', { 'X-Min-Position': change!.json().position }));
    await r.block('min-position-504', get('/users/1000/segments', 'headers', { 'X-Min-Position': '999999/1' }));
    await r.block('min-position-400', get('/users/1000/segments', 'plain', { 'X-Min-Position': 'latest' }));

    await r.block('expected-version-409', post('/users/1002/segments', { add: ['AVITO_DISCOUNT_50'], expectedVersion: first1002!.json().version }, 'headers'));
    await r.block(
      'expected-version',
      post('/users/1002/segments', { add: ['AVITO_DISCOUNT_50'], remove: ['AVITO_PERFORMANCE_VAS'], expectedVersion: change!.json().version }, 'pretty'),
    );

    await r.block('segments', get('/segments', 'pretty'));
    await r.block('segment', get('/segments/AVITO_VOICE_MESSAGES', 'headers'));
    await r.block('segment-case', get('/segments/avito_voice_messages'));

    await r.block('bulk', post('/segments/AVITO_VOICE_MESSAGES/members', { add: [1000, 2001, 2002, 2003], remove: [1004] }, 'headers'));
    const [page1] = await r.block('members-1', get('/segments/AVITO_VOICE_MESSAGES/members?limit=2', 'pretty'));
    const [page2] = await r.block('members-2', get(`/segments/AVITO_VOICE_MESSAGES/members?limit=2&cursor=${page1!.json().nextCursor}`));
    await r.block('members-3', get(`/segments/AVITO_VOICE_MESSAGES/members?limit=2&cursor=${page2!.json().nextCursor}`));

    const [deletion] = await r.block('delete', { method: 'DELETE', path: '/segments/AVITO_DISCOUNT_30', show: 'headers' });
    await r.block('after-delete', get('/users/1000/segments', 'pretty', { 'X-Min-Position': positionOf(deletion) }));
    await r.block('deleted-read', get('/segments/AVITO_DISCOUNT_30', 'headers'));
    await r.block('deleted-delete', { method: 'DELETE', path: '/segments/AVITO_DISCOUNT_30', show: 'pretty' });
    await r.block('recreate', post('/segments', { slug: 'AVITO_DISCOUNT_30' }));
    await r.block('recreated-members', get('/segments/AVITO_DISCOUNT_30/members'));

    await r.block('error-fields', post('/users/1000/segments', { add: ['AVITO_DISCOUNT_30', 'avito discount'], remove: 'AVITO_DISCOUNT_50' }, 'headers'));
    await r.block('error-both', post('/users/1000/segments', { add: ['AVITO_DISCOUNT_50'], remove: ['AVITO_DISCOUNT_50'] }, 'pretty'));
    await r.block('error-user-id', get('/users/0042/segments', 'pretty'));
    await r.block('error-json', { method: 'POST', path: '/segments', raw: '{"slug": ', show: 'pretty' });
    await r.block('error-route', get('/segment'));
    await r.block('error-media', { method: 'POST', path: '/segments', raw: 'slug=AVITO_DISCOUNT_70', contentType: null });
    await r.block('error-exists', post('/segments', { slug: 'AVITO_DISCOUNT_30' }, 'headers'));
    await r.block('error-unknown', post('/users/1004/segments', { add: ['AVITO_DISCOUNT_50', 'AVITO_DISCOUNT_70'], remove: ['AVITO_VOICE_MESAGES'] }, 'headers'));
    await r.block('error-unchanged', get('/users/1004/segments'));

    await r.block('projections', get('/projections', 'pretty'));
    await r.block('metrics', {
      path: '/metrics',
      show: 'headers',
      display: { pipe: 'head -2', output: (a) => `HTTP/1.1 ${a.status} ${a.statusMessage}\n${a.rawHeaders[0]}: ${a.rawHeaders[1]}` },
    }, {
      path: '/metrics',
      display: { pipe: "grep -E '^segments_'", output: (a) => a.text.split('\n').filter((line) => line.startsWith('segments_')).join('\n') },
    }, {
      path: '/metrics',
      display: {
        pipe: `grep 'http_requests_total{method="POST",route="/segments"'`,
        output: (a) => a.text.split('\n').filter((line) => line.startsWith('http_requests_total{method="POST",route="/segments"')).join('\n'),
      },
    });
    await r.block('docs', {
      path: '/docs',
      display: { curlOptions: `-o /dev/null -w '%{http_code} %{content_type}\\n'`, output: (a) => `${a.status} ${a.header('content-type')}` },
    });
    await r.block('docs-json', {
      path: '/docs/json',
      display: {
        pipe: `python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["openapi"], d["info"]["title"], d["servers"]); [print(m.upper(), p) for p, ms in d["paths"].items() for m in ms]'`,
        output: (a) => {
          const d = a.json();
          const servers = `[${d.servers.map((s: { url: string }) => `{'url': '${s.url}'}`).join(', ')}]`;
          const operations = Object.entries(d.paths as Record<string, object>).flatMap(([p, ms]) => Object.keys(ms).map((m) => `${m.toUpperCase()} ${p}`));
          return [`${d.openapi} ${d.info.title} ${servers}`, ...operations].join('\n');
        },
      },
    });
  },
};

const ttl: Scene = {
  name: 'ttl',
  async run(r) {
    for (const slug of ['AVITO_VOICE_MESSAGES', 'AVITO_PERFORMANCE_VAS', 'AVITO_DISCOUNT_30', 'AVITO_DISCOUNT_50']) await r.quiet(post('/segments', { slug }));
    // Midnight (UTC) eight days from now: a moment someone would pick, always in the future.
    const today = new Date(new Date().toISOString().slice(0, 10));
    const inEightDays = new Date(today.getTime() + 8 * DAY_MS).toISOString();
    await r.block('add', post('/users/1000/segments', {
      add: ['AVITO_VOICE_MESSAGES', { slug: 'AVITO_DISCOUNT_30', ttlSeconds: 172800 }, { slug: 'AVITO_PERFORMANCE_VAS', expiresAt: inEightDays }],
    }, 'headers'));
    await r.block('renew', post('/users/1000/segments', { add: [{ slug: 'AVITO_DISCOUNT_30', ttlSeconds: 604800 }, { slug: 'AVITO_PERFORMANCE_VAS', expiresAt: null }] }, 'pretty'));
    await r.block('plain-slug', post('/users/1000/segments', { add: ['AVITO_DISCOUNT_30'] }));
    await r.block('bulk', post('/segments/AVITO_DISCOUNT_50/members', { add: [1000, 1002, 1004], ttlSeconds: 3600 }, 'headers'));
    await r.block('bulk-members', get('/segments/AVITO_DISCOUNT_50/members', 'pretty'));
    await r.block('refusals', post('/users/1004/segments', {
      add: [
        { slug: 'AVITO_DISCOUNT_30', ttlSeconds: 0 },
        { slug: 'AVITO_VOICE_MESSAGES', ttlSeconds: 60, expiresAt: inEightDays },
        { slug: 'AVITO_PERFORMANCE_VAS', expiresAt: '2026-01-01T00:00:00.000Z' },
      ],
    }, 'pretty'));
    await r.block('refusal-float', post('/segments/AVITO_DISCOUNT_30/members', { add: [1004], ttlSeconds: 1.5 }, 'headers'));
    await r.block('unchanged', get('/users/1004/segments'));
    const [short] = await r.block('three-seconds', post('/users/1004/segments', { add: [{ slug: 'AVITO_VOICE_MESSAGES', ttlSeconds: 3 }] }, 'headers'));
    await r.block('before-expiry', get('/users/1004/segments', 'plain', { 'X-Min-Position': short!.json().position }), get('/segments/AVITO_VOICE_MESSAGES'));
    const expiresAt = Date.parse(short!.json().segments.find((s: { slug: string }) => s.slug === 'AVITO_VOICE_MESSAGES').expiresAt);
    await sleep(Math.max(0, expiresAt - Date.now()) + 300);
    await r.block('after-expiry', get('/users/1004/segments'), get('/segments/AVITO_VOICE_MESSAGES'));
  },
};

const percentage: Scene = {
  name: 'percentage',
  async run(r) {
    await r.block('create', post('/segments', { slug: 'AVITO_VOICE_MESSAGES', description: 'Voice messages in chats', autoAssignPercent: 10 }, 'headers'));
    // Which users a percentage takes in depends on the segment's random seed: find them.
    const isIn = async (userId: number) => (await r.quiet(get(`/users/${userId}/segments`))).json().segments.length > 0;
    const inAtTen: number[] = [];
    const outAtTen: number[] = [];
    // 1 in 9 of the users outside 10 % is inside 20 %: among 150 of them, none is one in 10^7.
    for (let userId = 1000; inAtTen.length === 0 || outAtTen.length < 150; userId++) ((await isIn(userId)) ? inAtTen : outAtTen).push(userId);
    const [insider, outsider] = [inAtTen[0]!, outAtTen[0]!];
    await r.block('insider', get(`/users/${insider}/segments`));
    await r.block('outsider', get(`/users/${outsider}/segments`));
    await r.block('raise', json('PATCH', '/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 20 }, 'headers'));
    let raised: number | undefined;
    for (const userId of outAtTen.slice(1)) if (raised === undefined && (await isIn(userId))) raised = userId;
    if (raised === undefined) throw new Error('none of 149 users outside 10 % came in at 20 %; run again');
    await r.block('insider-stays', get(`/users/${insider}/segments`));
    await r.block('raised-in', get(`/users/${raised}/segments`));
    await r.block('decimals', json('PATCH', '/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 10.555 }, 'pretty'));
    await r.block('string', json('PATCH', '/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: '10' }));
    await r.block('unknown', json('PATCH', '/segments/AVITO_DISCOUNT_70', { autoAssignPercent: 5 }));
    await r.block('opt-out', post(`/users/${insider}/segments`, { remove: ['AVITO_VOICE_MESSAGES'] }));
    await r.block('everyone', json('PATCH', '/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: 100 }));
    await r.block('opted-out', get(`/users/${insider}/segments`));
    await r.block('outsider-in', get(`/users/${outsider}/segments`));
    await r.block('manual', post(`/users/${raised}/segments`, { add: ['AVITO_VOICE_MESSAGES'] }, 'pretty'));
    await r.block('off', json('PATCH', '/segments/AVITO_VOICE_MESSAGES', { autoAssignPercent: null }));
    await r.block('manual-stays', get(`/users/${raised}/segments`));
    await r.block('auto-gone', get(`/users/${outsider}/segments`));
  },
};

const history: Scene = {
  name: 'history',
  async run(r) {
    for (const slug of ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30', 'AVITO_PERFORMANCE_VAS']) await r.quiet(post('/segments', { slug }));
    const before = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000).toISOString();
    await r.block('add', post('/users/1000/segments', { add: ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30', 'AVITO_PERFORMANCE_VAS'] }));
    // The removal comes a second later; `between` is the whole second that separates them.
    const boundary = Math.ceil((Date.now() + 500) / 1000) * 1000;
    await sleep(boundary - Date.now() + 100);
    const between = new Date(boundary).toISOString();
    await r.block('remove', post('/users/1000/segments', { remove: ['AVITO_DISCOUNT_30'] }));
    await r.quiet(post('/users/1002/segments', { add: ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30'] }));
    const [deleted] = await r.block('delete', { method: 'DELETE', path: '/segments/AVITO_PERFORMANCE_VAS', show: 'headers' });
    // History reads the read model: with the deletion's position it has the deletion's removal too.
    const seen = { 'X-Min-Position': positionOf(deleted) };
    await r.block('history', get('/users/1000/history', 'pretty', seen));
    await r.block('history-from', get(`/users/1000/history?from=${between}`, 'plain', seen));
    await r.block('at-between', get(`/users/1000/segments?at=${between}`, 'pretty', seen));
    await r.block('at-before', get(`/users/1000/segments?at=${before}`));
    await r.block('at-invalid', get('/users/1000/segments?at=yesterday'));
    await r.block('history-range', get('/users/1000/history?from=2026-11-24T00:00:00.000Z&to=2026-11-23T00:00:00.000Z'));

    const now = new Date();
    const thisMonth = monthOf(now);
    const nextMonth = monthOf(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)));
    const [report] = await r.block('report', post('/reports/history', { period: thisMonth }, 'headers'));
    await r.block('report-download', get(new URL(report!.json().url).pathname, 'headers'));
    const [ofOne] = await r.block('report-user', post('/reports/history', { period: thisMonth, userId: 1002 }));
    await r.block('report-user-download', get(new URL(ofOne!.json().url).pathname));
    const [empty] = await r.block('report-empty', post('/reports/history', { period: '2023-08', userId: 1004 }));
    await r.block('report-empty-download', get(new URL(empty!.json().url).pathname));
    await r.block('report-month-13', post('/reports/history', { period: '2026-13' }));
    await r.block('report-month-format', post('/reports/history', { period: '2026-8' }));
    await r.block('report-future', post('/reports/history', { period: nextMonth }));
    await r.block('report-unknown', get('/reports/0123456789abcdef0123456789abcdef.csv', 'headers'));
  },
};

export const SCENES: Scene[] = [tasks, ttl, percentage, history];
