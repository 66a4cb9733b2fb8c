// The read views' part of the run's Markdown (bench/readViews.ts): the read route of an API-only
// process in memory and in database mode, their start and memory, the visibility probe, and
// issue 12's targets against these figures.
import { megabytes, number, pct, statuses, times } from './format';
import type { PhaseResult } from './load';
import type { ApiProcessFigures, ReadViewResults } from './readViews';
import type { ResidentMemory } from './residentMemory';

const seconds = (ms: number) => `${number(ms / 1000, 2)} s`;

function phaseRow(phase: PhaseResult, toPing: number | null, toBaselineRead: number | null): string {
  const { cpu } = phase;
  const cpuCell = `${pct(cpu.apiProcessesPct)} / ${pct(cpu.servicePct)} / ${pct(cpu.postgresPct)} / ${pct(cpu.harnessPct)} / ${pct(cpu.othersPct)}`;
  return (
    `| ${phase.label} | ${number(phase.requestsPerSecond)} | ${number(phase.latencyMs.p50)} | ${number(phase.latencyMs.p99)} | ` +
    `${toPing === null ? '–' : times(toPing)} | ${toBaselineRead === null ? '–' : times(toBaselineRead)} | ` +
    `${number(phase.non2xx)} | ${number(phase.errors + phase.timeouts)} | ${cpuCell} |`
  );
}

function processRow(figures: ApiProcessFigures, loadedBy: string): string {
  const logged = figures.loggedStartupMs === null ? '' : ` (its log: startupMs ${number(figures.loggedStartupMs)})`;
  return (
    `| ${figures.name}, \`READ_VIEW=${figures.readView}\` | ${seconds(figures.startToReadyMs)}${logged} | ${megabytes(figures.idle?.rssBytes)} | ` +
    `${megabytes(figures.afterCollection?.rssBytes)} | ` +
    `${megabytes(figures.afterLoad?.rssBytes)} after ${loadedBy} | ${megabytes(figures.afterLoad?.peakRssBytes ?? figures.idle?.peakRssBytes)} |`
  );
}

export function renderReadViews(views: ReadViewResults): string[] {
  const [readMemory, readDatabase, visibilityWrites] = views.phases;
  const [memory, database, second] = views.processes;
  const { ratios, visibility: v } = views;
  const difference = (inMemory: ResidentMemory | null | undefined, inDatabase: ResidentMemory | null | undefined, bytes: number | null) =>
    inMemory && inDatabase
      ? `(${megabytes(inMemory.rssBytes)} − ${megabytes(inDatabase.rssBytes)}) ÷ ${number(views.memberships)} = ${number(bytes, 1)} bytes`
      : 'n/a';
  const verdict = (met: boolean | null) => (met === null ? 'not measured' : met ? 'met' : '**not met**');

  return [
    'Read views: API-only processes of the service (`ROLES=api`, otherwise started as the service above) on the same ' +
      'database, started after phase f; each read phase loads one of them, alone. Ratios to a and b above. CPU: % of one core, ' +
      'for the API-only processes / service / PostgreSQL / harness / anything else.',
    '',
    '| phase | req/s | p50 ms | p99 ms | ÷ a, req/s | ÷ b, req/s | non-2xx | errors | CPU % |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...(readMemory ? [phaseRow(readMemory, ratios.memoryReadToPing, ratios.memoryReadToBaselineRead)] : []),
    ...(readDatabase ? [phaseRow(readDatabase, ratios.databaseReadToPing, ratios.databaseReadToBaselineRead)] : []),
    ...(visibilityWrites ? [phaseRow(visibilityWrites, null, null)] : []),
    '',
    `| API-only process | spawned to ready | resident, idle ${views.rssSettleSeconds} s after ready | then after a full collection | resident after load | peak resident |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...(memory ? [processRow(memory, 'g and i')] : []),
    ...(database ? [processRow(database, 'h')] : []),
    ...(second ? [processRow(second, 'i')] : []),
    '',
    '| comparison | value |',
    '| --- | --- |',
    `| memberships in the read model (\`SELECT count(*) FROM memberships\`) | ${number(views.memberships)} |`,
    `| g / h: memory-mode read ÷ database-mode read, req/s (p99) | ${times(ratios.memoryReadToDatabaseRead)} (${times(ratios.memoryReadP99ToDatabaseReadP99)}) |`,
    `| resident memory per membership, idle: (memory mode − database mode) ÷ memberships | ${difference(memory?.idle, database?.idle, views.bytesPerMembership)} |`,
    `| the same after a full collection in both | ${difference(memory?.afterCollection, database?.afterCollection, views.bytesPerMembershipAfterCollection)} |`,
    `| a write through one memory-mode API process, then a read through the other with its X-Position, under load i: ` +
      `from the write's answer to the read's, p50 / p99 / max | ${number(v.samples.p50, 1)} / ${number(v.samples.p99, 1)} / ${number(v.samples.max, 1)} ms ` +
      `(${number(v.samples.count)} samples, ${v.concurrentPairs} pairs at a time, **${v.mismatches} mismatches**, reads not answered 200: ` +
      `${v.failedReads}${v.failedReads > 0 ? ` (${statuses(v.failedReadStatuses)})` : ''}, failed writes: ${v.failedWrites}) |`,
    '',
    '| issue 12 target | measured | |',
    '| --- | --- | --- |',
    ...views.targets.map((check) => `| ${check.target} | ${check.measured} | ${verdict(check.met)} |`),
    ...(v.examples.length > 0 ? ['', 'Visibility mismatches (first few):', '', ...v.examples.map((example) => `- ${example}`)] : []),
  ];
}
