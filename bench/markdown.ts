// The Markdown of a run: printed on stdout, and with --write-docs put into docs/benchmarks.md.
import { cpuCell, number, statuses, times } from './format';
import type { PhaseResult } from './load';
import { renderReadViews } from './readViewsMarkdown';
import type { BenchResults } from './results';

function phaseRow(phase: PhaseResult): string {
  return (
    `| ${phase.label} | ${number(phase.users)} | ${number(phase.requestsPerSecond)} | ${number(phase.latencyMs.p50)} | ${number(phase.latencyMs.p99)} | ` +
    `${number(phase.non2xx)} | ${number(phase.errors + phase.timeouts)} | ${cpuCell(phase.cpu)} |`
  );
}

export function renderMarkdown(results: BenchResults): string {
  const { machine, settings, data, ratios, projectionLag: lag, readAfterWrite: raw, streamLength, bulk } = results;
  const byId = new Map(results.phases.map((phase) => [phase.id, phase]));
  const phase = (id: string) => byId.get(id);
  const code = `${results.code.commit ?? 'unknown'}${results.code.uncommittedChanges ? ' with uncommitted changes in src/ or infra/' : ''}`;
  const seedingRows = results.seeding.map(
    (step) =>
      `| users ${number(step.users.from)}–${number(step.users.to)} | ${number(step.events)} | ${number(step.appendSeconds, 1)} s ` +
      `(${number(step.appendEventsPerSecond)} events/s) | ${number(step.projectionSeconds, 1)} s (${number(step.projectionEventsPerSecond)} events/s), ` +
      `${number(step.catchUpAfterAppendSeconds, 1)} s after the last append | ${cpuCell(step.cpu)} |`,
  );
  const smallUsers = number(phase('serviceReadSmall')?.users);
  const fullUsers = number(phase('serviceReadFull')?.users);
  const bulkAnswer = bulk.status === 200 ? JSON.stringify(bulk.answer) : `${JSON.stringify(bulk.answer)}`.slice(0, 300);

  return [
    `Run of ${results.date.slice(0, 16).replace('T', ' ')} UTC, \`${results.command}\`, code ${code}.`,
    '',
    '| | |',
    '| --- | --- |',
    `| machine | ${machine.cpuModel}, nproc ${machine.nproc}, ${number(machine.memoryGiB, 1)} GiB, ${machine.platform}; load average at start ${machine.loadAverageAtStart.join(' / ')} |`,
    `| Node.js | ${machine.node} |`,
    `| PostgreSQL | ${results.postgres.version}, ${results.postgres.kind} |`,
    `| data | ${number(data.users)} users, ${data.manualSegments} manual segments, ${data.percentageSegments.length} percentage segments ` +
      `(${data.percentageSegments.map((segment) => `${segment.percent} %`).join(', ')}), ${number(data.memberships)} memberships ` +
      `(${number(data.membershipsWithExpiry)} with an expiry 30 days ahead) |`,
    `| load | ${settings.loadGenerator}; ${settings.connections} connections, ${settings.durationSeconds} s measured after ${settings.warmupSeconds} s of warm-up per phase ` +
      `(the growth phases ${Math.max(1, Math.round(settings.durationSeconds / 2))} s) |`,
    `| service | \`node --import tsx src/server.ts\` (as \`npm start\`), its own process, API tokens on, LOG_LEVEL=warn${Object.keys(settings.serviceEnv).length ? `, ${Object.entries(settings.serviceEnv).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''} |`,
    '',
    'CPU: % of one core, for service / baselines / PostgreSQL / harness (seeding, load generator, probes) / anything else.',
    '',
    '| seeding (through the event store) | events | appending | read model built | CPU % |',
    '| --- | ---: | --- | --- | --- |',
    ...seedingRows,
    '',
    '| phase | users | req/s | p50 ms | p99 ms | non-2xx | errors | CPU % |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.phases.map(phaseRow),
    '',
    '| comparison | value |',
    '| --- | --- |',
    `| c / b: service read ÷ bare pg read route, req/s | ${times(ratios.readToBaselineRead)} |`,
    `| c p99 / b p99 | ${times(ratios.readP99ToBaselineReadP99)} |`,
    `| e / d: service write ÷ bare write route, req/s | ${times(ratios.writeToBaselineWrite)} |`,
    `| e p99 / d p99 | ${times(ratios.writeP99ToBaselineWriteP99)} |`,
    `| c / a: service read ÷ bare fastify, req/s | ${times(ratios.readToPing)} |`,
    `| projection lag after a write under load e, p50 / p99 | ${number(lag.samples.p50, 1)} / ${number(lag.samples.p99, 1)} ms ` +
      `(${number(lag.samples.count)} samples; writes that changed nothing: ${lag.unchanged}, failed: ${lag.failedWrites}, not applied within 30 s: ${lag.neverApplied}) |`,
    `| read-after-write pair under load f, p50 / p99 | ${number(raw.pairs.p50, 1)} / ${number(raw.pairs.p99, 1)} ms (${number(raw.pairs.count)} pairs, ` +
      `**${raw.mismatches} mismatches**, ${raw.failedRequests} failed requests) |`,
    `| read at ${fullUsers} ÷ at ${smallUsers} users, req/s (p99) | ${times(ratios.readGrowth)} (${times(ratios.readP99Growth)}) |`,
    `| write at ${fullUsers} ÷ at ${smallUsers} users, req/s (p99) | ${times(ratios.writeGrowth)} (${times(ratios.writeP99Growth)}) |`,
    `| write to a user with ${number(streamLength.longStreamEvents)} events ÷ to a fresh user, median (p99) | ` +
      `${times(streamLength.medianRatio)} (${times(streamLength.p99Ratio)}): ${number(streamLength.long.p50, 1)} / ${number(streamLength.long.p99, 1)} ms ` +
      `against ${number(streamLength.fresh.p50, 1)} / ${number(streamLength.fresh.p99, 1)} ms, ${streamLength.long.count} sequential writes each` +
      `${streamLength.unexpectedAnswers ? `, ${streamLength.unexpectedAnswers} unexpected answers` : ''} |`,
    `| bulk add of ${number(bulk.users)} users to ${bulk.slug} | **${bulk.status || 'no answer'}** after ${number(bulk.seconds, 1)} s: ${bulkAnswer} |`,
    `| single writes to those users meanwhile (${bulk.singleWrites.connections} connections) | ${statuses(bulk.singleWrites.statusCodes)}; ` +
      `p50 / p99 / max ${number(bulk.singleWrites.latency.p50, 1)} / ${number(bulk.singleWrites.latency.p99, 1)} / ` +
      `${number(bulk.singleWrites.latency.max, 1)} ms; ${bulk.singleWrites.errors} connection errors |`,
    ...(raw.examples.length > 0 ? ['', 'Read-after-write mismatches (first few):', '', ...raw.examples.map((example) => `- ${example}`)] : []),
    '',
    ...renderReadViews(results.readViews),
    '',
  ].join('\n');
}
