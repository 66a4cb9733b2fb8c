// What the OpenAPI document says about each operation beyond its schemas: the name of each answer
// and examples from the task's story. Request examples must stay valid whenever they are sent, so
// they hold no absolute moments: a time limit is `ttlSeconds`, a report month lies in the past.
// tests/e2e/openapiExamples.e2e.spec.ts sends every request example to a running service.

export interface NamedExample {
  summary: string;
  value: unknown;
}

export interface OperationDocs {
  /** The name of each answer, by status; problem answers fall back to PROBLEM_DESCRIPTIONS. */
  responses?: Record<number, string>;
  /** One example per path parameter. Query and header parameters get none, so "Try it out" sends none. */
  params?: Record<string, string>;
  /** Request body examples, in the order a newcomer would send them. */
  body?: Record<string, NamedExample>;
  /** The success answer's example; or one per request example, under the same names. */
  answer?: unknown;
  answers?: Record<string, NamedExample>;
  /** The success answer's media type, when it is not JSON. */
  mediaType?: string;
}

export const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'The request was invalid (problem+json; `errors` names each wrong field)',
  401: 'No token, or an unknown one, while API_TOKENS is configured (problem+json, with WWW-Authenticate: Bearer)',
  403: 'The token lacks the scope this route needs (problem+json)',
  404: 'Not found (problem+json)',
  409: 'Conflict (problem+json)',
  413: 'The body is over the size limit (problem+json)',
  422: 'The request names segments that do not exist (problem+json)',
  429: 'Over the rate limit of this token (or client address); nothing was changed, retry after Retry-After seconds (problem+json)',
  503: 'The database or the event store does not answer, or the database cancelled the statement for a conflict; nothing was changed, retry later (problem+json)',
  504: 'The read model did not reach X-Min-Position within 5 s (problem+json)',
};

const at = '2026-11-23T12:24:19.043Z';
const twoDaysLater = '2026-11-25T12:24:19.043Z';
const voice = { slug: 'AVITO_VOICE_MESSAGES', description: 'Voice messages in chats', autoAssignPercent: null, createdAt: '2026-11-23T12:24:18.882Z' };
const vas = { slug: 'AVITO_PERFORMANCE_VAS', description: 'Promotion services, for 10 % of users', autoAssignPercent: 10, createdAt: '2026-11-23T12:24:18.939Z' };
const discount = { slug: 'AVITO_DISCOUNT_30', description: '30 % discount', autoAssignPercent: null, createdAt: '2026-11-23T12:24:18.955Z' };
const user1000Segments = [
  { slug: 'AVITO_DISCOUNT_30', source: 'manual', addedAt: at, expiresAt: twoDaysLater },
  { slug: 'AVITO_PERFORMANCE_VAS', source: 'auto', addedAt: vas.createdAt, expiresAt: null },
  { slug: 'AVITO_VOICE_MESSAGES', source: 'manual', addedAt: at, expiresAt: null },
];
const projection = {
  projection: 'read_model',
  state: 'live',
  position: '752/13',
  eventsApplied: 13,
  lagEvents: 0,
  lagMs: 0,
  lastAppliedAt: '2026-11-23T12:24:20.112Z',
  lastError: null,
  rebuild: null,
};
const reportName = 'd123eb2b8b00a0f0eef71f718d834509.csv';

/** By operation, as the document names it: method and OpenAPI path. */
export const OPERATION_DOCS: Record<string, OperationDocs> = {
  'GET /health/live': { responses: { 200: 'The process runs' }, answer: { status: 'ok' } },
  'GET /health/ready': {
    responses: { 200: 'Ready: every check passes', 503: 'Not ready: `detail` and `checks` name the failing parts (problem+json)' },
    answer: {
      status: 'ready',
      checks: [
        { name: 'database', ok: true },
        { name: 'event store', ok: true },
        { name: 'projection read_model', ok: true, detail: 'live' },
        { name: 'read view', ok: true, detail: '3 memberships' },
      ],
    },
  },
  'GET /projections': { responses: { 200: "Each projection's position, lag and state" }, answer: { projections: [projection] } },
  'GET /projections/{name}': {
    responses: { 200: "The projection's position, lag and state", 404: 'There is no projection of that name (problem+json)' },
    params: { name: 'read_model' },
    answer: projection,
  },
  'POST /projections/{name}/rebuild': {
    responses: {
      202: 'The rebuild started; follow it in GET /projections/{name} (the Location)',
      404: 'There is no projection of that name (problem+json)',
      409: 'A rebuild or a verify of this projection is running (problem+json)',
    },
    params: { name: 'read_model' },
    answer: {
      projection: 'read_model',
      rebuild: {
        state: 'building', startedAt: '2026-11-23T12:30:00.000Z', updatedAt: '2026-11-23T12:30:00.000Z', finishedAt: null, position: null,
        eventsDone: 0, eventsTotal: 13, percent: 0, eventsPerSecond: null, etaSeconds: null, error: null,
      },
    },
  },
  'GET /metrics': {
    responses: { 200: 'Prometheus text exposition (text/plain; version=0.0.4)' },
    mediaType: 'text/plain',
    answer:
      '# HELP segments_projection_lag_events Events appended but not yet applied by the projection\n' +
      '# TYPE segments_projection_lag_events gauge\nsegments_projection_lag_events{projection="read_model"} 0\n',
  },
  'POST /segments': {
    responses: { 201: 'The segment, as created', 409: 'A live segment with this slug exists (problem+json)' },
    body: {
      voiceMessages: { summary: 'A segment analysts fill by hand', value: { slug: 'AVITO_VOICE_MESSAGES', description: 'Voice messages in chats' } },
      performanceVas: {
        summary: '10 % of all users fall into it automatically',
        value: { slug: 'AVITO_PERFORMANCE_VAS', description: 'Promotion services, for 10 % of users', autoAssignPercent: 10 },
      },
      discount30: { summary: 'A discount, given to users for a limited time', value: { slug: 'AVITO_DISCOUNT_30', description: '30 % discount' } },
    },
    answer: voice,
  },
  'GET /segments': {
    responses: { 200: 'A page of live segments, sorted by slug' },
    answer: { segments: [{ ...discount, memberCount: 1 }, { ...vas, memberCount: 0 }, { ...voice, memberCount: 2 }], nextCursor: null },
  },
  'GET /segments/{slug}': {
    responses: { 200: 'The segment, with its count of explicit members', 404: 'The segment does not exist (problem+json)' },
    params: { slug: 'AVITO_VOICE_MESSAGES' },
    answer: { ...voice, memberCount: 2 },
  },
  'PATCH /segments/{slug}': {
    responses: { 200: 'The segment after the change', 404: 'The segment does not exist (problem+json)' },
    params: { slug: 'AVITO_PERFORMANCE_VAS' },
    body: { raise: { summary: 'Raise the share to 20 %: every user who was in stays in', value: { autoAssignPercent: 20 } } },
    answer: { ...vas, autoAssignPercent: 20, memberCount: 0 },
  },
  'DELETE /segments/{slug}': {
    responses: { 204: 'Deleted: every member has left the segment (history reason segment_deleted)', 404: 'The segment does not exist (problem+json)' },
    params: { slug: 'AVITO_VOICE_MESSAGES' },
  },
  'GET /segments/{slug}/members': {
    responses: { 200: 'A page of explicit, unexpired members, ordered by user id', 404: 'The segment does not exist (problem+json)' },
    params: { slug: 'AVITO_VOICE_MESSAGES' },
    answer: { members: [{ userId: 1000, addedAt: at, expiresAt: null }, { userId: 1002, addedAt: '2026-11-23T12:24:19.122Z', expiresAt: null }], nextCursor: null },
  },
  'POST /segments/{slug}/members': {
    responses: {
      200: 'How many users joined and how many left (users who already were as asked are not counted)',
      404: 'The segment does not exist (problem+json)',
    },
    params: { slug: 'AVITO_VOICE_MESSAGES' },
    body: { bulk: { summary: 'Users 1000 and 1002 join, user 1004 leaves', value: { add: [1000, 1002], remove: [1004] } } },
    answer: { added: 2, removed: 0 },
  },
  'POST /users/{userId}/segments': {
    responses: {
      200: "The change, applied: what was added and removed, and the user's active segments after it",
      409: "`expectedVersion` does not match the user's version (problem+json)",
      422: '`add` or `remove` names segments that do not exist; `slugs` lists every one, and nothing was applied (problem+json)',
    },
    params: { userId: '1000' },
    body: {
      join: {
        summary: 'AVITO_VOICE_MESSAGES for good, AVITO_DISCOUNT_30 for 2 days',
        value: { add: ['AVITO_VOICE_MESSAGES', { slug: 'AVITO_DISCOUNT_30', ttlSeconds: 172800 }] },
      },
      leave: { summary: 'End the 2-day discount early', value: { remove: ['AVITO_DISCOUNT_30'] } },
    },
    answers: {
      join: {
        summary: 'Both segments are new to user 1000',
        value: { userId: 1000, added: ['AVITO_VOICE_MESSAGES', 'AVITO_DISCOUNT_30'], removed: [], segments: user1000Segments, version: 2, position: '749/7' },
      },
      leave: {
        summary: 'User 1000 had the discount',
        value: { userId: 1000, added: [], removed: ['AVITO_DISCOUNT_30'], segments: user1000Segments.slice(1), version: 3, position: '751/8' },
      },
    },
  },
  'GET /users/{userId}/segments': {
    responses: { 200: "The user's active segments, sorted by slug" },
    params: { userId: '1000' },
    answer: { userId: 1000, segments: user1000Segments },
  },
  'GET /users/{userId}/history': {
    responses: { 200: "The user's membership changes in time order, each with its reason" },
    params: { userId: '1000' },
    answer: {
      userId: 1000,
      entries: [
        { slug: 'AVITO_PERFORMANCE_VAS', operation: 'added', reason: 'auto', at: vas.createdAt },
        { slug: 'AVITO_VOICE_MESSAGES', operation: 'added', reason: 'manual', at },
        { slug: 'AVITO_DISCOUNT_30', operation: 'added', reason: 'manual', at },
        { slug: 'AVITO_DISCOUNT_30', operation: 'removed', reason: 'expired', at: twoDaysLater },
      ],
    },
  },
  'POST /reports/history': {
    responses: { 201: 'The report is written: a link that downloads it without a token' },
    body: {
      month: { summary: 'Every change in August 2023', value: { period: '2023-08' } },
      oneUser: { summary: "User 1000's changes in August 2023", value: { period: '2023-08', userId: 1000 } },
    },
    answer: { url: `http://127.0.0.1:8080/reports/${reportName}`, period: '2023-08', userId: 1000, rows: 2, expiresAt: '2026-11-24T16:27:54.304Z' },
  },
  'GET /reports/{file}': {
    responses: { 200: 'The CSV: user_id;segment;operation;at, one row per change', 404: 'No such report, or its link has expired (problem+json)' },
    params: { file: reportName },
    mediaType: 'text/csv',
    answer: 'user_id;segment;operation;at\n1000;AVITO_DISCOUNT_30;added;2023-08-29T12:00:00.000Z\n1000;AVITO_DISCOUNT_30;removed;2023-08-31T12:00:00.000Z\n',
  },
};
