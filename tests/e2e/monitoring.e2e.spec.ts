// infra/grafana/segments-dashboard.json and infra/prometheus/alerts.yml name only metrics the
// service exports: a renamed metric would otherwise leave an empty panel and an alert that never fires.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { startTestService, type TestService } from '../support/testService';

const INFRA = path.resolve(__dirname, '../../infra');
const DASHBOARD = 'grafana/segments-dashboard.json';
const ALERTS = 'prometheus/alerts.yml';

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression (or a Grafana `label_values(…)` query) selects. */
function metricNamesIn(expression: string): string[] {
  const selectors = expression
    .replace(/label_values\(([^,]*),[^)]*\)/g, '$1') // label_values(metric{…}, label): only the first argument is a selector
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values and other strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{?\w+\}?/g, ' '); // Grafana variables
  const names = [...selectors.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)].map((match) => match[1]!);
  return [...new Set(names.filter((name) => !PROMQL_WORDS.has(name.toLowerCase())))];
}

/** Series names in Prometheus text: a histogram `x` is scraped as x_bucket, x_sum and x_count. */
function exportedNames(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const suffixes = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of suffixes) names.add(name! + suffix);
  }
  return names;
}

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

function dashboardExpressions(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(fs.readFileSync(path.join(INFRA, DASHBOARD), 'utf8'));
  const panels = dashboard.panels as Panel[];
  const variables = dashboard.templating.list as { name: string; query?: string | { query: string } }[];
  return [
    ...panels.flatMap((panel) => (panel.targets ?? []).map(({ expr }) => ({ where: `panel "${panel.title}"`, expr }))),
    ...variables
      .filter((variable) => typeof variable.query === 'object')
      .map((variable) => ({ where: `variable $${variable.name}`, expr: (variable.query as { query: string }).query })),
  ];
}

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description?: string };
}

function alertRules(): AlertRule[] {
  const file = parse(fs.readFileSync(path.join(INFRA, ALERTS), 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] };
  return file.groups.flatMap((group) => group.rules);
}

describe('metric names in PromQL', () => {
  it('are the selected series, not functions, labels, durations or variables', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{job="$job", route!~"/health/.*"}[$__rate_interval]))) > 0.5 and on (route) segments_made_up_total offset 5m',
      ).sort(),
    ).toEqual(['http_request_duration_seconds_bucket', 'segments_made_up_total']);
    expect(metricNamesIn('max(min_over_time(segments_memberships_expiry_overdue[15m])) > 1e3')).toEqual(['segments_memberships_expiry_overdue']);
    expect(metricNamesIn('label_values(process_start_time_seconds{job="$job"}, instance)')).toEqual(['process_start_time_seconds']);
  });
});

describe('the dashboard and the alert rules', () => {
  let t: TestService;
  let exported: Set<string>;

  beforeAll(async () => {
    t = await startTestService();
    // One request first, so that the request metrics have a series as well as their TYPE line.
    await t.request({ method: 'GET', url: '/segments' });
    const response = await t.request({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    exported = exportedNames(response.body);
  });
  afterAll(() => t.close());

  it('reads the service\'s metrics (the check below is not against nothing)', () => {
    expect(exported).toContain('http_request_duration_seconds_bucket');
    expect(exported).toContain('segments_projection_lag_events');
    expect(exported).not.toContain('segments_made_up_total');
  });

  it(`${DASHBOARD} queries only exported metrics`, () => {
    const expressions = dashboardExpressions();
    const unknown = expressions.flatMap(({ where, expr }) => metricNamesIn(expr).filter((name) => !exported.has(name)).map((name) => `${where}: ${name}`));
    expect(unknown).toEqual([]);
    const used = new Set(expressions.flatMap(({ expr }) => metricNamesIn(expr)));
    expect([...used]).toEqual(
      expect.arrayContaining([
        'http_requests_total',
        'http_request_duration_seconds_bucket',
        'segments_projection_lag_events',
        'segments_memberships_expiry_overdue',
        'process_resident_memory_bytes',
        'process_cpu_seconds_total',
        'nodejs_eventloop_lag_p99_seconds',
        'segments_expiry_timer_failures_total',
        'segments_events_appended_total',
        'segments_report_generation_duration_seconds_bucket',
        'segments_database_pool_waiting_clients',
        'segments_projection_rebuild_events_done',
      ]),
    );
  });

  it(`${ALERTS} alerts only on exported metrics, each rule with a severity and a summary`, () => {
    const rules = alertRules();
    const unknown = rules.flatMap(({ alert, expr }) => metricNamesIn(expr).filter((name) => !exported.has(name)).map((name) => `${alert}: ${name}`));
    expect(unknown).toEqual([]);
    for (const rule of rules) {
      expect({ alert: rule.alert, severity: rule.labels.severity, summary: typeof rule.annotations.summary }).toEqual({
        alert: rule.alert,
        severity: expect.stringMatching(/^(warning|critical)$/),
        summary: 'string',
      });
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smh]$/);
    }
    expect(new Set(rules.map(({ alert }) => alert)).size).toBe(rules.length);
    const used = new Set(rules.flatMap(({ expr }) => metricNamesIn(expr)));
    expect([...used]).toEqual(
      expect.arrayContaining([
        'segments_projection_lag_events',
        'http_requests_total',
        'http_request_duration_seconds_bucket',
        'segments_memberships_expiry_overdue',
        'segments_expiry_timer_failures_total',
      ]),
    );
  });
});
