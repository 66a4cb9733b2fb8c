// Rows of the `events` table as the PostgreSQL adapter reads and writes them.
import { z } from 'zod';
import type { AppendResult, ExpectedRevision, RecordedEvent, StreamWrite } from '../eventStore';

export const appendedRow = z.object({
  stream_id: z.string(),
  stream_position: z.number(),
  global_position: z.number(),
  transaction_id: z.string(),
});

export type AppendedRow = z.infer<typeof appendedRow>;

/** A recorded event as the statement pool (node-postgres, default parsers) returns it. */
export interface RecordedPgRow {
  event_id: string;
  stream_id: string;
  stream_position: number;
  global_position: number;
  transaction_text: string;
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
  created_at: Date;
}

/** The columns of a recorded event, for node-postgres: positions as float8 (exact below 2^53), so numbers. */
export const RECORDED_PG_COLUMNS = `
  event_id::text, stream_id, stream_position::float8 AS stream_position, global_position::float8 AS global_position,
  transaction_id::text AS transaction_text, type, data, metadata, created_at`;

export function toRecorded(row: RecordedPgRow): RecordedEvent {
  return {
    id: row.event_id,
    stream: row.stream_id,
    revision: row.stream_position,
    position: { commit: BigInt(row.transaction_text), prepare: BigInt(row.global_position) },
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.created_at,
  };
}

export function expectedAsRevision(expected: ExpectedRevision): number | null {
  if (expected === 'any') return null;
  if (expected === 'no_stream') return -1;
  return expected;
}

export const storedIdRow = appendedRow.extend({ event_id: z.string() });

export function resultsOf(writes: readonly StreamWrite[], rows: readonly z.infer<typeof appendedRow>[]): AppendResult[] {
  const lastByStream = new Map<string, z.infer<typeof appendedRow>>();
  for (const row of rows) lastByStream.set(row.stream_id, row);
  return writes.map((write) => {
    const last = lastByStream.get(write.stream)!;
    return {
      stream: write.stream,
      revision: last.stream_position,
      position: { commit: BigInt(last.transaction_id), prepare: BigInt(last.global_position) },
    };
  });
}

