-- Final schema of every table the service uses: the PostgreSQL event store, the read model
-- (segments, active memberships, the audit of every membership change) and projection bookkeeping.
-- Applied as a whole on start-up; every statement is idempotent.

-- ---------------------------------------------------------------- event store
CREATE TABLE IF NOT EXISTS events (
  -- Order of insertion; unique, but NOT the order of commit (see transaction_id).
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Readers of the global order read (transaction_id, global_position) and only rows whose
  -- transaction is older than every transaction still running, so a late commit is never skipped.
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  stream_id       text        NOT NULL,
  stream_position bigint      NOT NULL CHECK (stream_position >= 0),
  event_id        uuid        NOT NULL,
  type            text        NOT NULL,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- A second writer at the same revision of a stream fails here: optimistic concurrency.
  CONSTRAINT events_stream_revision_unique UNIQUE (stream_id, stream_position),
  CONSTRAINT events_event_id_unique UNIQUE (event_id)
);

CREATE INDEX IF NOT EXISTS events_global_order ON events (transaction_id, global_position);

-- The horizon of the global order: the oldest transaction still running that may append to this
-- database's `events` (else the next transaction id to be assigned). Readers of the global order
-- take only events of older transactions. Transaction ids are server-wide, but a transaction that
-- pg_stat_activity shows in another database cannot write here, so one held open there (another
-- service's, a test's) does not hold this database's readers back. Anything not shown so (a
-- prepared transaction, a session this role may not see, one ending right now) still counts.
-- While no committed event waits behind the server-wide horizon, that one answers the same and
-- costs less than reading pg_stat_activity (about 0.2 ms with 100 connection slots); subscribers
-- call this only once the server-wide horizon has held events back for a while
-- (src/eventstore/postgres/globalOrderRead.ts).
CREATE OR REPLACE FUNCTION events_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN coalesce((SELECT max(transaction_id) FROM events) < pg_snapshot_xmin(pg_current_snapshot()), true)
      THEN pg_snapshot_xmin(pg_current_snapshot())
    ELSE coalesce(
      (SELECT min(running) FROM pg_snapshot_xip(pg_current_snapshot()) running
       WHERE running::xid NOT IN (
         SELECT backend_xid FROM pg_stat_get_activity(NULL)
         WHERE backend_xid IS NOT NULL
           AND datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
      pg_snapshot_xmax(pg_current_snapshot()))
  END
$$;

-- A hint for subscribers that something was appended; polling stays the source of truth.
CREATE OR REPLACE FUNCTION events_notify_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('events_appended', '');
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS events_appended ON events;
CREATE TRIGGER events_appended AFTER INSERT ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_notify_appended();

-- ---------------------------------------------------------------- projections
-- One row per projection; written in the same transaction as the read-model rows it covers.
-- Positions are (commit, prepare): (transaction_id, global_position) for the PostgreSQL store,
-- the commit/prepare positions of EventStoreDB otherwise.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  projection        text PRIMARY KEY,
  commit_position   numeric(20, 0) NOT NULL,
  prepare_position  numeric(20, 0) NOT NULL,
  events_applied    bigint         NOT NULL DEFAULT 0,
  updated_at        timestamptz    NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- read model
-- Every segment ever created; a deleted one keeps its row (deleted_at set) for history.
CREATE TABLE IF NOT EXISTS segments (
  segment_id          uuid PRIMARY KEY,
  slug                text        NOT NULL,
  description         text,
  auto_assign_percent numeric(5, 2) CHECK (auto_assign_percent > 0 AND auto_assign_percent <= 100),
  rollout_seed        text        NOT NULL,
  created_at          timestamptz NOT NULL,
  deleted_at          timestamptz
);

-- At most one live segment per slug.
CREATE UNIQUE INDEX IF NOT EXISTS segments_live_slug ON segments (slug) WHERE deleted_at IS NULL;

-- Explicit memberships that are active, or expired but not yet swept (reads filter expires_at).
CREATE TABLE IF NOT EXISTS memberships (
  user_id    bigint      NOT NULL,
  segment_id uuid        NOT NULL REFERENCES segments (segment_id),
  slug       text        NOT NULL,
  added_at   timestamptz NOT NULL,
  expires_at timestamptz,
  PRIMARY KEY (user_id, segment_id)
);

-- Member lists and counts of a segment, ordered by user.
CREATE INDEX IF NOT EXISTS memberships_by_segment ON memberships (segment_id, user_id);

-- The expiry timer walks due memberships in expiry order; permanent ones are not in the index.
CREATE INDEX IF NOT EXISTS memberships_by_expiry ON memberships (expires_at, user_id, segment_id) WHERE expires_at IS NOT NULL;

-- One row per membership change, in the order the changes took effect.
CREATE TABLE IF NOT EXISTS membership_audit (
  global_position bigint      NOT NULL PRIMARY KEY,  -- the event that made the change
  user_id         bigint      NOT NULL,
  segment_id      uuid        NOT NULL,
  slug            text        NOT NULL,
  operation       text        NOT NULL CHECK (operation IN ('added', 'removed')),
  reason          text        NOT NULL CHECK (reason IN ('manual', 'bulk', 'expired', 'segment_deleted', 'auto')),
  at              timestamptz NOT NULL,
  expires_at      timestamptz
);

CREATE INDEX IF NOT EXISTS membership_audit_by_user ON membership_audit (user_id, at, global_position);
CREATE INDEX IF NOT EXISTS membership_audit_by_time ON membership_audit (at, global_position);

-- Members of a deleted segment still to be removed in their own streams (a transactional outbox:
-- rows are written with the projection checkpoint and deleted once the removal is appended).
CREATE TABLE IF NOT EXISTS segment_deletion_removals (
  user_id    bigint      NOT NULL,
  segment_id uuid        NOT NULL,
  slug       text        NOT NULL,
  deleted_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, segment_id)
);

-- ---------------------------------------------------------------- history
-- A user's history and their segments at a past moment read membership_audit_by_user above.

-- Every change of an active membership's expiry (a renewal, or made permanent), with its moment:
-- a point-in-time read takes the expiry in force then, not the one the membership was added with.
-- Not in membership_audit, because the membership goes on and history shows no entry for it.
CREATE TABLE IF NOT EXISTS membership_expiry_changes (
  global_position bigint      NOT NULL PRIMARY KEY,  -- the MembershipExpiryChanged event
  user_id         bigint      NOT NULL,
  segment_id      uuid        NOT NULL,
  changed_at      timestamptz NOT NULL,
  expires_at      timestamptz                          -- null: made permanent
);

CREATE INDEX IF NOT EXISTS membership_expiry_changes_by_user
  ON membership_expiry_changes (user_id, segment_id, changed_at, global_position);

-- History reports read the events appended since the start of their month (src/reports).
CREATE INDEX IF NOT EXISTS events_created_at ON events (created_at);
-- ---------------------------------------------------------------- command-side snapshots
-- A user's state (explicit memberships and opt-outs) as folded from their stream up to `revision`,
-- so that a command reads only the events after it, however long the stream has grown. A cache of
-- the event store, not part of the read model: losing it costs one full read of the stream.
CREATE TABLE IF NOT EXISTS user_state_snapshots (
  user_id          bigint         NOT NULL PRIMARY KEY,
  revision         bigint         NOT NULL,  -- the stream's last event folded in (0-based)
  commit_position  numeric(20, 0) NOT NULL,  -- that event's position
  prepare_position numeric(20, 0) NOT NULL,
  state            jsonb          NOT NULL,
  updated_at       timestamptz    NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- percentage segments
-- Every change of a segment's percentage, in event order: its creation with a percentage, each
-- PATCH that changed the percentage (NULL: turned off), and the deletion of a segment that ever
-- had one. Reads cache the live percentage segments from here; max(global_position) is the
-- version a read compares with its cache. History derives automatic membership from it.
CREATE TABLE IF NOT EXISTS percentage_changes (
  global_position bigint        NOT NULL PRIMARY KEY,  -- the segment event that made the change
  segment_id      uuid          NOT NULL,
  percent         numeric(5, 2) CHECK (percent > 0 AND percent <= 100),
  deleted         boolean       NOT NULL DEFAULT false,
  at              timestamptz   NOT NULL
);

CREATE INDEX IF NOT EXISTS percentage_changes_by_segment ON percentage_changes (segment_id, global_position);

-- Users explicitly removed from a percentage segment: the percentage never includes them in that
-- segment again (AutoMembershipOptedOut in the user's stream).
CREATE TABLE IF NOT EXISTS auto_membership_opt_outs (
  user_id      bigint      NOT NULL,
  segment_id   uuid        NOT NULL,
  slug         text        NOT NULL,
  reason       text        NOT NULL CHECK (reason IN ('manual', 'bulk')),
  opted_out_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, segment_id)
);

-- GET /users/{id}/segments reads memberships, auto_membership_opt_outs and percentage_changes in
-- one named prepared statement (src/queries/userSegments.ts); the function that used to hold it
-- is gone.
DROP FUNCTION IF EXISTS user_segment_rows(bigint, timestamptz);
