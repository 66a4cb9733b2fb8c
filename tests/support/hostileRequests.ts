// fast-check arbitraries of hostile requests to the service: every route, with wrong types, huge
// numbers, control characters, NUL and lone surrogates in every string field, path tricks, broken
// JSON, wrong content types and malformed Authorization headers. A request that could change state
// (`write`) always carries at least one fault the service must refuse, so a write answered 2xx is a
// defect, and so is any change to the database after a batch of them.
import fc from 'fast-check';

export interface HostileRequest {
  /** What makes it hostile, for the run's statistics and for failure messages. */
  label: string;
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body?: Buffer;
  /** Content-Length is given (or left out) by `headers` on purpose. */
  contentLength?: boolean;
  /** The client ends its side after sending (a body shorter than announced). */
  halfClose?: boolean;
  /** Only a socket carries it (repeated headers, lying lengths, bytes outside JSON). */
  socketOnly?: boolean;
  /** Would change state if accepted: it carries a fault and must be refused. */
  write: boolean;
}

export interface FuzzTarget {
  /** Live segments. */
  slugs: readonly string[];
  /** Users with memberships. */
  users: readonly number[];
  tokens: { read: string; write: string; admin: string };
}

const SLUG = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const isSlug = (value: string) => value.length >= 1 && value.length <= 128 && SLUG.test(value);

/** A JSON literal written as is: numbers JSON.stringify cannot produce (1e400, 30 digits). */
class Raw {
  constructor(readonly text: string) {}
}
/** An object that may repeat a key. */
class Pairs {
  constructor(readonly entries: Array<[string, unknown]>) {}
}

function toJson(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Pairs) return `{${value.entries.map(([key, item]) => `${JSON.stringify(key)}:${toJson(item)}`).join(',')}}`;
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') return toJson(new Pairs(Object.entries(value)));
  return JSON.stringify(value) ?? 'null';
}

/** Percent-encodes the UTF-8 bytes of `text` (a lone surrogate becomes U+FFFD, as any client sends it). */
const percentEncoded = (text: string) => [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('');

// ---------------------------------------------------------------------------------------------
// Values

const NASTY = [
  '\u0000', 'a\u0000b', '\ud800', 'x\ud800y', '\udc00', 'x\udfff', '\ud83d', '\u202e', '\ufeff', '\u2028', '\u0085', '\r\n', '\n', '\t',
  '\u001b[31m', '\u0007', '\u007f', "'; DROP TABLE events; --", '${jndi:ldap://x/a}', '../../etc/passwd', '%00', '%2F', '%', '\\', '"', '{{7*7}}',
  '<script>', 'Ａ', 'ı', 'ß', 'Ǆ', '🎉', '\u0301', '٣', '１', 'NaN', 'null', 'undefined', '__proto__', 'constructor', ' ', '',
];

/** Any string with something nasty in it: control characters, NUL, lone surrogates, injections. */
export const nastyText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...NASTY),
  fc
    .tuple(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom(...NASTY), fc.string({ unit: 'binary', maxLength: 12 }))
    .map(([a, b, c]) => a + b + c),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.constantFrom('x'.repeat(129), 'A'.repeat(5_000), '\u0000'.repeat(1_000), '\ud800'.repeat(300)),
);

/** A string that is no slug. */
const badSlug = fc.oneof(nastyText, fc.constantFrom('', '-x', '.x', '_x', '..', '.', 'A'.repeat(129), 'AVITO VOICE', 'AVITO/VOICE')).filter((value) => !isSlug(value));

/** JSON values of the wrong type for a field that wants a string or a number. */
const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 1, maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { minKeys: 1, maxKeys: 3 }),
);

/** Numbers no user id, TTL or count is: signs, fractions, beyond 2^53, beyond a double. */
const badCount = fc.oneof(
  fc.constantFrom(0, -1, -0.5, 1.5, 2 ** 53, 2 ** 63, 1e21, 1e308, -1e308, Number.MIN_VALUE),
  fc.constantFrom('1e400', '-1e400', '123456789012345678901234567890', '1E-400', '-0', '9007199254740993', '1.5e-7', '-9007199254740993').map((text) => new Raw(text)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((value) => !Number.isInteger(value) || value <= 0 || value > 2 ** 53 - 1),
  fc.integer({ max: 0 }),
);

const badUserId = fc.oneof(badCount, wrongType, fc.constantFrom('1000', '1e3', '0x3E8'));
const badTtl = fc.oneof(badCount, wrongType, fc.constantFrom(315_360_001, 1e12, '60'));
const badPercent = fc.oneof(
  fc.constantFrom(0, -1, 100.001, 101, 33.333, 0.001, 1e308, -0),
  fc.constantFrom('1e400', '-1e400', '1E-400').map((text) => new Raw(text)),
  wrongType.filter((value) => value !== null),
  fc.constantFrom('50', '10%'),
);
const badDescription = fc.oneof(
  nastyText.filter((text) => /\u0000|[\ud800-\udfff]/.test(text) && !/[\ud800-\udbff][\udc00-\udfff]/.test(text)),
  fc.constant('d'.repeat(1_001)),
  wrongType.filter((value) => value !== null),
  fc.integer(),
);
const badMoment = fc.oneof(
  nastyText,
  fc.constantFrom('2000-01-01T00:00:00.000Z', '2999-01-01T00:00:00.000Z', '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', 'now', '0000-01-01T00:00:00Z'),
  fc.constantFrom('-271821-04-20T00:00:00Z', '+275760-09-13T00:00:00.000Z', '2026-12-02T10:00:00', '2026-12-02 10:00:00Z'),
  fc.integer(),
);
const badPeriod = fc.oneof(
  nastyText,
  fc.constantFrom('2026-13', '2026-00', '1969-12', '9999-12', '2026-1', ' 2026-01', '2026-01\u0000', '2026-01\ud800', '+2026-01', '２０２６-01'),
  fc.integer(),
  wrongType,
).filter((value) => typeof value !== 'string' || !/^(19[7-9]\d|20[0-2]\d)-(0[1-9]|1[0-2])$/.test(value));

// ---------------------------------------------------------------------------------------------
// Paths and queries

const badUserIdInPath = fc.oneof(
  fc.constantFrom('-1', '0', '1.5', '1e3', '9007199254740992', '99999999999999999999999', '01000', '+1000', '0x3E8', '1000%00', '1000%2F', '1000%2f..'),
  fc.constantFrom('..', '.', '%2e%2e', '%2E', 'x'.repeat(200), '1000;x', '1000%ZZ', '%ED%A0%80', '%C0%AE%C0%AE', '１０００', '1000\u0000', '٣'),
  nastyText.map(percentEncoded).filter((text) => text !== '' && !/^[1-9]\d*$/.test(decodeURIComponent(text))),
);
const badSlugInPath = fc.oneof(
  fc.constantFrom('%2F', '..', '.', '%2e%2e%2f', 'AVITO_VOICE_MESSAGES%00', 'AVITO_VOICE_MESSAGES%2F..', 'A'.repeat(129), 'B'.repeat(5_000), 'NO_SUCH_SEGMENT'),
  fc.constantFrom('%ZZ', '%', '%ED%A0%80', '%C0%AF', 'AVITO%20VOICE', 'AVITO\u0000', 'AVITO\ud800', 'Ä', '%E2%80%AE'),
  badSlug.map(percentEncoded).filter((text) => text !== ''),
);
/** Whole-path tricks for any route: none of them names a route as it is written. */
const pathTrick = fc.constantFrom(
  '//segments', '/segments/', '/./segments', '/segments/..', '/segments%2FAVITO_VOICE_MESSAGES', '/SEGMENTS', '/segments/%2e%2e/users/1000/segments',
  '/users/1000/segments/', '/users//1000/segments', '/users/1000%2Fsegments', '/../../etc/passwd', '/%00', '/reports/..%2F..%2Fetc%2Fpasswd.csv',
  '/reports/%2e%2e%2fpackage.json', '/docs/%2e%2e/json', '/health/live/..%2F..%2Fprojections',
);
const queryValue = fc.oneof(
  nastyText.map(percentEncoded),
  fc.constantFrom('%ZZ', '%', '%00', '%ED%A0%80', '%C0%AF', '1e400', '-1', '0', '1.5', '1001', '99999999999999999999', '', '+', '%2B1', 'NaN'),
);
const queryOf = (names: readonly string[]) =>
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...names), fc.constantFrom('__proto__', 'constructor', 'x', '%00', 'limit[]', 'a%ZZ')), queryValue), { minLength: 1, maxLength: 3 })
    .map((pairs) => `?${pairs.map(([name, value]) => `${name}=${value}`).join('&')}`);

// ---------------------------------------------------------------------------------------------
// Headers

type Headers = Array<[string, string]>;

const json = (): Headers => [['Content-Type', 'application/json']];

const badAuthorization = (t: FuzzTarget) =>
  fc.oneof(
    fc.constant<Headers>([]),
    fc.constantFrom('Bearer', 'Bearer ', 'Bearer  ', 'Basic dXNlcjpwYXNz', 'Token abc', 'bearer', `Bearer ${t.tokens.admin}x`, `Bearer ${t.tokens.admin.slice(0, -1)}`)
      .map((value): Headers => [['Authorization', value]]),
    fc.constantFrom(`Bearer ${'a'.repeat(8_000)}`, `Bearer ${'a'.repeat(20_000)}`, `Bearer ${t.tokens.admin}\u0000`, `Bearer \ud800${t.tokens.admin}`, `Bearer ${t.tokens.read}`)
      .map((value): Headers => [['Authorization', value]]),
    nastyText.map((value): Headers => [['Authorization', `Bearer ${value}`]]),
    fc.constant<Headers>([['Authorization', `Bearer ${t.tokens.admin}`], ['Authorization', `Bearer ${t.tokens.admin}`]]),
  );

const goodAuthorization = (t: FuzzTarget, scope: 'read' | 'write' | 'admin') =>
  fc.constantFrom<Headers>(
    [['Authorization', `Bearer ${t.tokens[scope === 'read' ? 'read' : 'admin']}`]],
    [['Authorization', `bearer ${t.tokens.admin}`]],
    [['Authorization', `BEARER   ${t.tokens.admin}  `]],
    ...(scope === 'admin' ? [] : [[['Authorization', `Bearer ${t.tokens.write}`]] as Headers]),
  );

/** Headers that refuse nothing by themselves: the request must be handled the same way with them. */
const noiseHeaders: fc.Arbitrary<Headers> = fc
  .array(
    fc.oneof(
      nastyText.map((value): [string, string] => ['X-Request-Id', value]),
      fc.constantFrom('a'.repeat(129), '../x', 'id with spaces', 'ok-id.1:2', '\u0000').map((value): [string, string] => ['X-Request-Id', value]),
      fc.constantFrom<[string, string]>(
        ['Accept', '*/*;q=nonsense'], ['Accept', 'application/xml'], ['Accept-Encoding', 'gzip;q=2, br, zstd, \u0000'], ['Cookie', '__proto__=1; a'],
        ['X-Forwarded-For', '1.2.3.4, \u0000, ::1'], ['Forwarded', 'for=evil'], ['Content-Encoding', 'gzip'], ['Expect', 'nonsense'], ['Range', 'bytes=-1'],
        ['If-None-Match', '*'], ['X-Position', '1/1'], ['Origin', 'null'],
      ),
    ),
    { maxLength: 3 },
  );

/** X-Min-Position values that are no position (a real one far ahead would be a 504 after 5 s, by contract). */
const badMinPosition = fc.oneof(nastyText, fc.constantFrom('1', '1/', '/1', '-1/1', '1/1/1', '1.5/1', '١/١', '999999999999999999999/1', '1/ 1', '0x1/1')).filter(
  (value) => !/^\d{1,20}\/\d{1,20}$/.test(value),
);

// ---------------------------------------------------------------------------------------------
// Bodies

type BodyFault = { label: string; body: Buffer; headers?: Headers; contentLength?: boolean; halfClose?: boolean; socketOnly?: boolean };

const text = (value: unknown) => Buffer.from(toJson(value), 'utf8');

/** Whole-body faults that every JSON route must refuse, whatever fields it wants. */
const brokenBody = (valid: unknown): fc.Arbitrary<BodyFault> => {
  const validText = toJson(valid);
  return fc.oneof(
    fc.constantFrom('', '{', '{"slug":', '{"slug": "A",}', "{'slug':'A'}", '{"slug": NaN}', '{"a":1} x', '[]', 'null', '"str"', '42', 'true', '\ufeff{', '{"a":1}{"b":2}')
      .map((body) => ({ label: 'body:malformed json', body: Buffer.from(body, 'utf8'), headers: json() })),
    fc.integer({ min: 1_000, max: 200_000 }).map((depth) => ({ label: 'body:deep arrays', body: Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`), headers: json() })),
    fc.integer({ min: 1_000, max: 100_000 }).map((depth) => ({ label: 'body:deep objects', body: Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`), headers: json() })),
    fc.integer({ min: 100, max: 5_000 }).map((depth) => ({
      label: 'body:deep with __proto__',
      body: Buffer.from(`${'{"__proto__":'.repeat(depth)}{}${'}'.repeat(depth)}`),
      headers: json(),
    })),
    fc.constantFrom('{"__proto__":{"isAdmin":true}}', '{"constructor":{"prototype":{"x":1}}}', '{"slug":"A","__proto__":null}')
      .map((body) => ({ label: 'body:prototype poisoning', body: Buffer.from(body), headers: json() })),
    fc.constantFrom([0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]).map((bytes) => ({
      label: 'body:invalid utf-8',
      body: Buffer.concat([Buffer.from(validText.slice(0, -1)), Buffer.from(','), Buffer.from('"'), Buffer.from(bytes), Buffer.from('":1}')]),
      headers: json(),
    })),
    fc.constantFrom<Headers>(
      [],
      [['Content-Type', 'text/plain']],
      [['Content-Type', 'application/x-www-form-urlencoded']],
      [['Content-Type', 'multipart/form-data; boundary=x']],
      [['Content-Type', 'application/xml']],
      [['Content-Type', 'image/png']],
      [['Content-Type', 'application']],
      [['Content-Type', '']],
      [['Content-Type', 'text/plain'], ['Content-Type', 'application/json']],
    ).map((headers) => ({ label: 'content-type', body: Buffer.from(validText), headers, socketOnly: headers.length > 1 })),
    fc.integer({ min: 1, max: Math.max(1, validText.length - 1) }).map((cut) => ({
      label: 'body:shorter than its content-length',
      body: Buffer.from(validText.slice(0, cut)),
      headers: [...json(), ['Content-Length', String(validText.length + 10)]] as Headers,
      halfClose: true,
      socketOnly: true,
    })),
    fc.constantFrom('zz\r\n{}\r\n0\r\n\r\n', '5\r\n{}\r\n0\r\n\r\n', `-1\r\n${validText}\r\n0\r\n\r\n`, `${validText.length.toString(16)}\r\n${validText}`).map((body) => ({
      label: 'body:broken chunked encoding',
      body: Buffer.from(body),
      headers: [...json(), ['Transfer-Encoding', 'chunked']] as Headers,
      halfClose: true,
      socketOnly: true,
    })),
    fc.constant({
      label: 'body:content-length and chunked',
      body: Buffer.from(`${validText.length.toString(16)}\r\n${validText}\r\n0\r\n\r\n`),
      headers: [...json(), ['Transfer-Encoding', 'chunked'], ['Content-Length', String(validText.length)]] as Headers,
      socketOnly: true,
    }),
    fc.constant(OVER_THE_LIMIT),
  );
};

/** The valid body with one field replaced by a value it must not hold, or a key repeated with that value last. */
const fieldFault = (valid: Record<string, unknown>, field: string, bad: fc.Arbitrary<unknown>): fc.Arbitrary<BodyFault> =>
  fc.tuple(bad, fc.boolean()).map(([value, repeat]) => {
    const entries = Object.entries(valid).filter(([key]) => key !== field);
    const body = repeat ? new Pairs([...Object.entries(valid), [field, value]]) : new Pairs([...entries, [field, value]]);
    return { label: `field:${field}${repeat ? ' (repeated key)' : ''}`, body: text(body), headers: json() };
  });

const bodyOf = (label: string, value: unknown): BodyFault => ({ label, body: text(value), headers: json() });

// Built once: arbitraries hand out the same value every time.
const OVER_THE_LIMIT: BodyFault = { label: 'body:over the limit', body: Buffer.alloc(4 * 1024 * 1024 + 10, ' '), headers: json() };
const TOO_MANY_IDS = bodyOf('body:too many ids', { add: Array.from({ length: 100_001 }, (_, i) => i + 1) });
const TOO_MANY_SLUGS = Array.from({ length: 1_001 }, (_, i) => `S${i}`);

// ---------------------------------------------------------------------------------------------
// Requests

interface Parts {
  method: string;
  target: string;
  auth: Headers;
  fault: BodyFault | undefined;
  label: string;
  write: boolean;
}

function assemble(parts: Parts, noise: Headers, minPosition: Headers): HostileRequest {
  const fault = parts.fault;
  return {
    label: fault && (parts.label === 'fault' || parts.label === 'body') ? fault.label : parts.label,
    method: parts.method,
    target: parts.target,
    headers: [...parts.auth, ...(fault?.headers ?? []), ...noise, ...minPosition],
    body: fault?.body,
    halfClose: fault?.halfClose,
    socketOnly: fault?.socketOnly || parts.auth.length > 1,
    write: parts.write,
  };
}

/** A write route: a valid request but for one fault in its body, its path or its credentials. */
function writeRequest(
  t: FuzzTarget,
  method: string,
  target: fc.Arbitrary<string>,
  badTarget: fc.Arbitrary<string>,
  body: Record<string, unknown> | undefined,
  faults: (valid: Record<string, unknown>) => fc.Arbitrary<BodyFault>,
  scope: 'write' | 'admin' = 'write',
): fc.Arbitrary<Parts> {
  const validBody = () => (body === undefined ? undefined : bodyOf('valid body', body));
  return fc.oneof(
      // Without a body (DELETE, a rebuild), the fault is in the path or the credentials.
      ...(body === undefined ? [] : [{ weight: 5, arbitrary: fc.tuple(target, goodAuthorization(t, scope), faults(body)).map(([path, auth, fault]) => ({ method, target: path, auth, fault, label: 'fault', write: true })) }]),
      { weight: 2, arbitrary: fc.tuple(badTarget, goodAuthorization(t, scope)).map(([path, auth]) => ({ method, target: path, auth, fault: validBody(), label: 'path', write: true })) },
      { weight: 2, arbitrary: fc.tuple(target, badAuthorization(t)).map(([path, auth]) => ({ method, target: path, auth, fault: validBody(), label: 'authorization', write: true })) },
      ...(body === undefined ? [] : [{ weight: 2, arbitrary: fc.tuple(target, goodAuthorization(t, scope), brokenBody(body)).map(([path, auth, fault]) => ({ method, target: path, auth, fault, label: 'body', write: true })) }]),
  );
}

export function hostileRequest(t: FuzzTarget): fc.Arbitrary<HostileRequest> {
  const slug = fc.constantFrom(...t.slugs);
  const user = fc.constantFrom(...t.users);
  const segmentPath = (suffix = '') => slug.map((value) => `/segments/${value}${suffix}`);
  const badSegmentPath = (suffix = '') => badSlugInPath.map((value) => `/segments/${value}${suffix}`);

  const createSegment = writeRequest(
    t,
    'POST',
    fc.constant('/segments'),
    pathTrick,
    // Valid but for the fault, and never stored, so one slug serves every attempt.
    { slug: 'FUZZ_NEW_SEGMENT', description: 'Скидка 30 % 🎉', autoAssignPercent: 33.33 },
    (valid) =>
      fc.oneof(
        fieldFault(valid, 'slug', fc.oneof(badSlug, wrongType, fc.integer())),
        fieldFault(valid, 'slug', fc.constantFrom(...t.slugs)).map((fault) => ({ ...fault, label: 'field:slug exists' })),
        fieldFault(valid, 'description', badDescription),
        fieldFault(valid, 'autoAssignPercent', badPercent),
        fieldFault(valid, 'unknownField', fc.jsonValue({ maxDepth: 1 })),
        fc.oneof(wrongType, fc.integer(), nastyText).map((value) => bodyOf('body:not an object', value)),
      ),
  );
  const patchSegment = writeRequest(t, 'PATCH', segmentPath(), badSegmentPath(), { description: 'changed' }, (valid) =>
    fc.oneof(
      fieldFault(valid, 'description', badDescription),
      fieldFault(valid, 'autoAssignPercent', badPercent),
      fieldFault(valid, 'slug', fc.constantFrom('RENAMED')),
      fc.constant(bodyOf('body:empty object', {})),
    ),
  );
  const deleteSegment = writeRequest(t, 'DELETE', segmentPath(), badSegmentPath(), undefined, () => fc.constant(bodyOf('unused', {})));

  const addEntry = fc.oneof(
    badSlug,
    wrongType,
    fc.integer(),
    badSlug.map((value) => ({ slug: value })),
    fc.constantFrom({ slug: t.slugs[0], ttlSeconds: 60, expiresAt: '2999-01-01T00:00:00Z' }, { slug: t.slugs[0], reason: 'manual' }, { slug: 'NO_SUCH_SEGMENT' }, 'NO_SUCH_SEGMENT'),
    badTtl.map((ttl) => ({ slug: t.slugs[0], ttlSeconds: ttl })),
    badMoment.map((moment) => ({ slug: t.slugs[0], expiresAt: moment })),
  );
  const updateUser = writeRequest(
    t,
    'POST',
    user.map((id) => `/users/${id}/segments`),
    badUserIdInPath.map((id) => `/users/${id}/segments`),
    { add: [t.slugs[0]], remove: [t.slugs[1]] },
    (valid) =>
      fc.oneof(
        fc.tuple(addEntry, fc.nat(3)).map(([entry, at]) => bodyOf('field:add entry', { ...valid, add: [...t.slugs.slice(0, at), entry] })),
        fc.oneof(badSlug, wrongType, fc.constant('NO_SUCH_SEGMENT')).map((entry) => bodyOf('field:remove entry', { ...valid, remove: [entry] })),
        fieldFault(valid, 'add', fc.oneof(wrongType.filter((value) => !Array.isArray(value)), nastyText, fc.constant(TOO_MANY_SLUGS))),
        fieldFault(valid, 'remove', fc.oneof(wrongType.filter((value) => !Array.isArray(value)), fc.constant([t.slugs[1], t.slugs[1]]))),
        fieldFault(valid, 'expectedVersion', fc.oneof(badCount.filter((value) => value !== 0 && !(value instanceof Raw && value.text === '-0')), wrongType, fc.constantFrom(1e300, 2 ** 63, 9_007_199_254_740_991))),
        fieldFault(valid, 'ttlSeconds', fc.constant(60)),
        fc.constantFrom(
          bodyOf('body:add and remove one slug', { add: [t.slugs[0]], remove: [t.slugs[0]] }),
          bodyOf('body:nothing to change', { add: [], remove: [] }),
          bodyOf('body:nothing to change', {}),
          bodyOf('body:slug twice', { add: [t.slugs[0], { slug: t.slugs[0], ttlSeconds: 60 }] }),
        ),
        fc.oneof(wrongType, nastyText).map((value) => bodyOf('body:not an object', value)),
      ),
  );
  const bulkMembers = writeRequest(t, 'POST', segmentPath('/members'), badSegmentPath('/members'), { add: [...t.users], ttlSeconds: 3_600 }, (valid) =>
    fc.oneof(
      fc.tuple(badUserId, fc.nat(2)).map(([id, at]) => bodyOf('field:add user id', { ...valid, add: [...t.users.slice(0, at), id] })),
      badUserId.map((id) => bodyOf('field:remove user id', { remove: [id] })),
      fieldFault(valid, 'ttlSeconds', badTtl),
      fieldFault(valid, 'expiresAt', badMoment),
      fc.constantFrom(
        bodyOf('body:ttl without add', { remove: [t.users[0]], ttlSeconds: 60 }),
        bodyOf('body:user in add and remove', { add: [t.users[0]], remove: [t.users[0]] }),
        bodyOf('body:user twice', { add: [t.users[0], t.users[0]] }),
        bodyOf('body:ttl and expiresAt', { add: [t.users[0]], ttlSeconds: 60, expiresAt: '2999-01-01T00:00:00Z' }),
        bodyOf('body:nothing to change', {}),
        TOO_MANY_IDS,
      ),
      fieldFault(valid, 'unknownField', fc.jsonValue({ maxDepth: 1 })),
    ),
  );
  const rebuild = writeRequest(
    t,
    'POST',
    fc.constant('/projections/NO_SUCH_PROJECTION/rebuild'),
    fc.oneof(nastyText.map(percentEncoded), fc.constantFrom('read_model%00', 'READ_MODEL', 'read_model%20', '..', 'x'.repeat(101), '%ZZ')).map((name) => `/projections/${name}/rebuild`),
    undefined,
    () => fc.constant(bodyOf('unused', {})),
    'admin',
  );

  const report = fc.tuple(
    goodAuthorization(t, 'read'),
    fc.oneof(
      fieldFault({ period: '2026-01' }, 'period', badPeriod),
      fieldFault({ period: '2026-01' }, 'userId', badUserId),
      brokenBody({ period: '2026-01' }),
    ),
  ).map(([auth, fault]): Parts => ({ method: 'POST', target: '/reports/history', auth, fault, label: 'report', write: false }));

  const read = (target: fc.Arbitrary<string>, scope: 'read' | 'admin' | undefined, method: fc.Arbitrary<string> = fc.constant('GET')) =>
    fc.tuple(method, target, scope ? fc.oneof({ weight: 3, arbitrary: goodAuthorization(t, scope) }, { weight: 1, arbitrary: badAuthorization(t) }) : fc.constant<Headers>([])).map(
      ([verb, path, auth]): Parts => ({ method: verb, target: path, auth, fault: undefined, label: `read ${path.split(/[?/]/)[1] ?? ''}`, write: false }),
    );
  const reads = fc.oneof(
    read(fc.oneof(fc.constant('/segments'), queryOf(['limit', 'cursor']).map((query) => `/segments${query}`)), 'read'),
    read(fc.oneof(segmentPath(), badSegmentPath()), 'read'),
    read(fc.tuple(fc.oneof(segmentPath('/members'), badSegmentPath('/members')), fc.option(queryOf(['limit', 'cursor']))).map(([path, query]) => path + (query ?? '')), 'read'),
    read(fc.tuple(fc.oneof(user.map(String), badUserIdInPath), fc.option(queryOf(['at']))).map(([id, query]) => `/users/${id}/segments${query ?? ''}`), 'read'),
    read(fc.tuple(fc.oneof(user.map(String), badUserIdInPath), fc.option(queryOf(['from', 'to']))).map(([id, query]) => `/users/${id}/history${query ?? ''}`), 'read'),
    read(fc.oneof(fc.constant('/projections'), badSlugInPath.map((name) => `/projections/${name}`)), 'admin'),
    read(fc.oneof(nastyText.map(percentEncoded), fc.constantFrom('..%2F..%2Fpackage.json', '%2e%2e', 'x.csv', '.csv', `${'0'.repeat(32)}.csv`, 'a'.repeat(300))).map((file) => `/reports/${file}`), undefined),
    read(fc.oneof(pathTrick, fc.constantFrom('/health/live', '/health/ready', '/metrics', '/docs/json', '/', '*', 'http://evil.example/segments')), undefined),
    read(fc.constantFrom('/segments', '/users/1000/segments', '/health/live'), 'read', fc.constantFrom('HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'PUT')),
  );

  const parts = fc.oneof(
    { weight: 3, arbitrary: createSegment },
    { weight: 2, arbitrary: patchSegment },
    { weight: 1, arbitrary: deleteSegment },
    { weight: 4, arbitrary: updateUser },
    { weight: 2, arbitrary: bulkMembers },
    { weight: 1, arbitrary: rebuild },
    { weight: 1, arbitrary: report },
    { weight: 5, arbitrary: reads },
  );
  const minPosition = fc.oneof(
    { weight: 4, arbitrary: fc.constant<Headers>([]) },
    { weight: 1, arbitrary: badMinPosition.map((value): Headers => [['X-Min-Position', value]]) },
  );
  return fc.tuple(parts, noiseHeaders, minPosition).map(([request, noise, position]) => assemble(request, noise, position));
}

/** A request as a line for failure messages: method, target, headers, the start of the body. */
export function describeRequest(request: HostileRequest): string {
  const body = request.body ? ` body(${request.body.length} B)=${JSON.stringify(request.body.subarray(0, 200).toString('utf8'))}` : '';
  const target = request.target.length > 200 ? `${request.target.slice(0, 200)}…(${request.target.length} characters)` : request.target;
  return `[${request.label}] ${request.method} ${JSON.stringify(target)} headers=${JSON.stringify(request.headers.map(([n, v]) => `${n}: ${v.slice(0, 80)}`))}${body}`;
}
