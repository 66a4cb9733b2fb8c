import { v5 as uuidV5 } from 'uuid';
import { eventIdFor } from '../../src/commands/eventIds';

describe('event ids derived from the request', () => {
  it('computes RFC 9562 version 5 UUIDs (the DNS namespace example)', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  const input = {
    requestId: 'req-1',
    stream: 'user-1000',
    expected: 2 as const,
    index: 0,
    type: 'MembershipAdded',
    data: { segmentId: 's-1', slug: 'AVITO_DISCOUNT_30', addedAt: '2026-11-23T10:00:00.000Z' },
  };

  it('gives a retry of the same request at the same revision the same id, whatever time it decided', () => {
    expect(eventIdFor(input)).toBe(eventIdFor({ ...input, data: { ...input.data, addedAt: '2026-11-23T10:00:01.000Z' } }));
  });

  it.each([
    ['another request', { requestId: 'req-2' }],
    ['another stream', { stream: 'user-1002' }],
    ['another revision', { expected: 3 as const }],
    ['another place in the append', { index: 1 }],
    ['another event type', { type: 'MembershipRemoved' }],
    ['another segment', { data: { ...input.data, segmentId: 's-2' } }],
  ])('gives %s a different id', (_, change) => {
    expect(eventIdFor({ ...input, ...change })).not.toBe(eventIdFor(input));
  });

  it('falls back to random ids without a request id', () => {
    expect(eventIdFor({ ...input, requestId: undefined })).not.toBe(eventIdFor({ ...input, requestId: undefined }));
  });
});
