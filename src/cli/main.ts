// The `segments` command line: audit replay of raw events, history reports to a local file, and
// the projections' status, rebuild and verify.
//   segments replay (--user ID | --segment SLUG | --from TIME --to TIME) [--json]
//   segments report --period YYYY-MM [--user ID] [--out FILE]
//   segments projections [status | rebuild | verify] [NAME]
// Database: DATABASE_URL, else the embedded PostgreSQL in DATA_DIR (see src/cli/database.ts); the
// event store as the service's configuration names it (EVENT_STORE, EVENTSTORE_CONNECTION_STRING).
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config';
import { createReadPool } from '../platform/database';
import { createEventStore, eventStoreSelection, type EventStoreSelection } from '../eventstore/createEventStore';
import type { EventStore } from '../eventstore/eventStore';
import { reportFormatter, writeHistoryRows } from '../reports/historyReport';
import { membershipChangeSource } from '../reports/membershipChangeLog';
import { parsePeriod, periodOf } from '../reports/period';
import { openCliDatabase, type CliDatabase } from './database';
import { createProgress } from './progress';
import { DIFFERENCES_FOUND, runProjections } from './projections';
import { formatJson, formatReadable, replay, type ReplayFilter } from './replay';
import { UsageError } from './usageError';
import { userIdParam } from '../api/schemas';

const USAGE = `Usage:
  segments replay --user ID [--from TIME] [--to TIME] [--json]
  segments replay --segment SLUG [--from TIME] [--to TIME] [--json]
  segments replay --from TIME --to TIME [--json]
  segments report --period YYYY-MM [--user ID] [--out FILE]
  segments projections [status] [NAME]
  segments projections rebuild [NAME]
  segments projections verify [NAME]

replay   prints the raw events of one user's stream, of one segment (its own stream and every
         membership event naming it), or appended in a time range (from inclusive, to exclusive),
         in the store's order: one readable line each, or JSON lines with --json.
report   writes the month's CSV history report (user_id;segment;operation;at) to FILE, or to
         stdout; progress goes to stderr (a bar on a terminal, plain lines otherwise).
projections
         status (the default) prints each projection's position, lag and latest rebuild as JSON.
         rebuild replays every event into new tables beside the live ones and swaps them in; the
         service keeps answering reads and writes, its projector pauses only for the swap.
         verify replays every event into scratch tables up to the live read model's position and
         compares the two: each difference goes to stdout, and the exit code is ${DIFFERENCES_FOUND} when there
         is one. NAME is read_model, the only projection (the default).

Database: DATABASE_URL, else the embedded PostgreSQL in DATA_DIR (default ./.data): the running
service's when it is up, otherwise started for the command.`;

function userIdOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  // The same rule as a user id in a route's path.
  const parsed = userIdParam.safeParse(value);
  if (!parsed.success) throw new UsageError(`--user: expected a positive integer, got "${value}"`);
  return parsed.data;
}

function timeOption(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new UsageError(`--${name}: expected a time like 2023-08-01T00:00:00Z, got "${value}"`);
  return time;
}

interface Stores {
  open(): Promise<CliDatabase>;
  selection: EventStoreSelection;
}

const storeOf = (stores: Stores, db: CliDatabase): EventStore =>
  createEventStore(stores.selection, { pool: db.pool, databaseUrl: db.url });

async function runReplay(args: string[], stores: Stores): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { user: { type: 'string' }, segment: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
  });
  const filter: ReplayFilter = {
    userId: userIdOption(values.user),
    slug: values.segment,
    from: timeOption('from', values.from),
    to: timeOption('to', values.to),
  };
  if (filter.userId === undefined && filter.slug === undefined && (!filter.from || !filter.to)) {
    throw new UsageError('replay needs --user, --segment, or both --from and --to');
  }
  // A user's stream holds only that user's events: the two filters together could match nothing
  // but the user's events about that segment, which is not what either option promises alone.
  if (filter.userId !== undefined && filter.slug !== undefined) throw new UsageError('replay takes --user or --segment, not both');
  const db = await stores.open();
  const store = storeOf(stores, db);
  try {
    const format = values.json ? formatJson : formatReadable;
    let count = 0;
    for await (const event of replay(store, filter)) {
      count += 1;
      if (!process.stdout.write(`${format(event)}\n`)) await new Promise((resolve) => process.stdout.once('drain', resolve));
    }
    if (!values.json) process.stderr.write(`${count} events from ${db.origin}\n`);
  } finally {
    await store.close();
    await db.close();
  }
}

async function runReport(args: string[], stores: Stores): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { period: { type: 'string' }, user: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  if (values.period === undefined) throw new UsageError('report needs --period YYYY-MM');
  const period = parsePeriod(values.period);
  if (!period) throw new UsageError(`--period: expected a month as YYYY-MM, got "${values.period}"`);
  if (period.name > periodOf(new Date())) throw new UsageError(`--period: ${period.name} is after the current month`);
  const userId = userIdOption(values.user);

  const db = await stores.open();
  const store = storeOf(stores, db);
  const label = `report ${period.name}${userId === undefined ? '' : ` user ${userId}`}`;
  const progress = createProgress(process.stderr, label);
  const formatter = reportFormatter();
  const partial = values.out === undefined ? undefined : `${values.out}.partial`;
  try {
    const destination = partial === undefined ? process.stdout : createWriteStream(partial, { flags: 'w' });
    // stdout is not ended: the process may still write to it (it is closed on exit).
    const writing = pipeline(formatter, destination, { end: partial !== undefined });
    const [rows] = await Promise.all([
      writeHistoryRows(membershipChangeSource(store, db.pool), { period, userId }, formatter, { onTotal: (total) => progress.total(total), onRows: (done) => progress.update(done) }),
      writing,
    ]);
    if (partial !== undefined) await fs.rename(partial, values.out!);
    progress.finish(`${label}: ${rows} rows written to ${values.out ?? 'stdout'}`);
  } catch (error) {
    if (partial !== undefined) await fs.rm(partial, { force: true });
    throw error;
  } finally {
    await store.close();
    await db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config;
  try {
    const { DATABASE_URL, DATA_DIR, EVENT_STORE, EVENTSTORE_CONNECTION_STRING, EVENTSTORE_STREAM_PREFIX } = process.env;
    config = loadConfig({ DATABASE_URL, DATA_DIR, EVENT_STORE, EVENTSTORE_CONNECTION_STRING, EVENTSTORE_STREAM_PREFIX });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const stores: Stores = {
    open: () => openCliDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }),
    selection: eventStoreSelection(config),
  };
  try {
    if (command === 'projections') {
      return await runProjections(args, async () => {
        const db = await stores.open();
        const store = storeOf(stores, db);
        const copyPool = createReadPool(db.url, { maximumPoolSize: 1 });
        const close = async () => {
          await copyPool.end();
          await store.close();
          await db.close();
        };
        return { pool: db.pool, store, copyPool, close };
      });
    }
    if (command === 'replay') await runReplay(args, stores);
    else if (command === 'report') await runReport(args, stores);
    else throw new UsageError(`unknown command "${command}"`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`segments ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exitCode = 1;
  },
);
