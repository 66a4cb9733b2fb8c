// The store's reads of the global order and of streams: named statements, so that each
// connection plans them once.
import { RECORDED_PG_COLUMNS } from './eventRows';

// The subscribers' read of the global order (projector, read views): named, so planned once per connection, like the commands' statements.
// ORDER BY names the table's columns: the output's global_position is a float8 copy.
export const READ_ALL = {
  name: 'events_read_all_v5',
  // The LEFT JOIN keeps one row when no event is visible yet, to carry `held_back`: whether
  // committed events wait behind a transaction still running (see subscribeToAll), and the same
  // for the server-wide horizon, with that horizon (see globalOrderRead.ts). $4: whether to look
  // past the running transactions of other databases (events_horizon(), infra/sql/schema.sql).
  text: `
    WITH horizon AS MATERIALIZED (
      SELECT pg_snapshot_xmin(pg_current_snapshot()) AS server,
             CASE WHEN $4::boolean THEN events_horizon() ELSE pg_snapshot_xmin(pg_current_snapshot()) END AS xmin),
    -- The newest visible event (one step of a backward index scan) tells whether any committed
    -- event waits at or past a horizon; an EXISTS over a range was planned as a scan of the table.
    newest AS MATERIALIZED (SELECT max(transaction_id) AS transaction_id FROM events)
    SELECT e.*,
           coalesce((SELECT transaction_id FROM newest) >= (SELECT xmin FROM horizon), false) AS held_back,
           coalesce((SELECT transaction_id FROM newest) >= (SELECT server FROM horizon), false) AS server_held_back,
           (SELECT server FROM horizon)::text AS server_horizon
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
      SELECT ${RECORDED_PG_COLUMNS}, events.transaction_id AS order_transaction, events.global_position AS order_position
      FROM events
      WHERE (transaction_id, global_position) > ($1::xid8, $2::int8)
        AND transaction_id < (SELECT xmin FROM horizon)
      ORDER BY events.transaction_id, events.global_position
      LIMIT $3
    ) e ON true
    ORDER BY e.order_transaction, e.order_position`,
};

// One index range scan per stream. A plain `stream_id = ANY(…)` is planned from the table's
// statistics, which at millions of streams misjudge a few short streams as tens of thousands of
// rows and choose a parallel bitmap scan (hundreds of ms); the lateral join cannot.
export const READ_STREAMS = {
  name: 'events_read_streams_v1',
  text: `
    SELECT e.* FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS s(stream_id, from_position, ordinal)
    CROSS JOIN LATERAL (
      SELECT ${RECORDED_PG_COLUMNS} FROM events
      WHERE events.stream_id = s.stream_id AND events.stream_position >= s.from_position
      ORDER BY events.stream_position
    ) e
    ORDER BY s.ordinal, e.stream_position`,
};
