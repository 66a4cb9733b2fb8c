// No Docker engine runs here, so the development environment is checked by reading its files:
// the services, their health checks and start order, and that every variable the compose file
// hands the service is one the configuration knows and accepts.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config';

const INFRA = path.resolve(__dirname, '../../infra');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  entrypoint?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** `KEY=value` lines of an env file. */
function readEnvFile(file: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) values[match[1]!] = match[2]!;
  }
  return values;
}

/** Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME:?error}; $$ is a literal $. */
function interpolate(text: string, env: Record<string, string>, missing: Set<string>): string {
  return text.replace(/\$\$|\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (whole, name: string | undefined, kind: string | undefined, rest: string) => {
    if (whole === '$$') return '$';
    const value = env[name!];
    if (value !== undefined && value !== '') return value;
    if (kind === '-') return rest;
    missing.add(name!);
    return '';
  });
}

// Variables of the configuration table in the API contract that the reports and TTL features
// read; until config.ts knows them they are checked by name only.
const CONTRACT_VARIABLES = ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_BUCKET', 'S3_REGION', 'TTL_SWEEP_SCHEDULE'];

describe('infra/docker-compose.yml', () => {
  const raw = fs.readFileSync(path.join(INFRA, 'docker-compose.yml'), 'utf8');
  const example = readEnvFile(path.join(INFRA, '.env.example'));
  const missing = new Set<string>();
  const compose = parse(interpolate(raw, example, missing)) as ComposeFile;
  const services = compose.services;
  const service = services.segments!;
  const environment = Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, String(value)]));

  it('takes every credential and setting it interpolates from infra/.env.example', () => {
    expect([...missing]).toEqual([]);
  });

  it('runs the service, PostgreSQL 17, EventStoreDB, MinIO and the bucket set-up', () => {
    expect(Object.keys(services).sort()).toEqual(['eventstoredb', 'minio', 'minio-init', 'postgres', 'segments']);
    expect(services.postgres!.image).toMatch(/^postgres:17(\.|$|-)/);
    expect(services.eventstoredb!.image).toMatch(/^eventstore\/eventstore:\d+\.\d+/);
    expect(services.eventstoredb!.environment).toMatchObject({ EVENTSTORE_INSECURE: 'true', EVENTSTORE_CLUSTER_SIZE: 1 });
    expect(services.minio!.image).toMatch(/^minio\/minio/);
    expect(service.build).toEqual({ context: '..', dockerfile: 'infra/Dockerfile' });
    expect(fs.existsSync(path.resolve(INFRA, service.build!.context, service.build!.dockerfile))).toBe(true);
  });

  it('gives every long-running container a health check and starts the service after its dependencies', () => {
    for (const name of ['segments', 'postgres', 'eventstoredb', 'minio']) {
      expect({ name, healthcheck: Boolean(services[name]!.healthcheck) }).toEqual({ name, healthcheck: true });
    }
    expect(service.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      eventstoredb: { condition: 'service_healthy' },
      'minio-init': { condition: 'service_completed_successfully' },
    });
    expect(services['minio-init']!.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
  });

  it('hands the service only variables its configuration knows (or the API contract names)', () => {
    const unknown = Object.keys(environment).filter((key) => !CONFIG_VARIABLES.includes(key) && !CONTRACT_VARIABLES.includes(key));
    expect(unknown).toEqual([]);
  });

  it('hands the service values its configuration accepts, pointing at the other containers', () => {
    const known = Object.fromEntries(Object.entries(environment).filter(([key]) => CONFIG_VARIABLES.includes(key)));
    const config = loadConfig(known);
    expect(config.eventStore).toBe('eventstoredb');
    expect(config.apiTokens.length).toBeGreaterThan(0);

    const database = new URL(config.databaseUrl!);
    const postgres = services.postgres!.environment!;
    expect([database.hostname, database.port, database.username, database.password, database.pathname]).toEqual([
      'postgres',
      '5432',
      postgres.POSTGRES_USER,
      postgres.POSTGRES_PASSWORD,
      `/${postgres.POSTGRES_DB}`,
    ]);
    expect(config.eventStoreConnectionString).toBe('esdb://eventstoredb:2113?tls=false');
    expect(services.eventstoredb!.ports).toContain('127.0.0.1:2113:2113');

    const s3 = new URL(environment.S3_ENDPOINT!);
    expect([s3.hostname, s3.port]).toEqual(['minio', '9000']);
    expect([environment.S3_ACCESS_KEY, environment.S3_SECRET_KEY]).toEqual([
      services.minio!.environment!.MINIO_ROOT_USER,
      services.minio!.environment!.MINIO_ROOT_PASSWORD,
    ]);
    expect(services['minio-init']!.environment!.S3_BUCKET).toBe(environment.S3_BUCKET);
    expect(services['minio-init']!.entrypoint!.join(' ')).toMatch(/mc mb --ignore-existing "local\/\$S3_BUCKET"/);
  });

  it('publishes the port the service listens on, on loopback only', () => {
    const config = loadConfig(Object.fromEntries(Object.entries(environment).filter(([key]) => CONFIG_VARIABLES.includes(key))));
    expect(service.ports).toEqual([`127.0.0.1:${example.SERVICE_PORT}:${config.port}`]);
    for (const container of Object.values(services)) {
      for (const port of container.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
    }
  });
});

describe('infra/Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(INFRA, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds in stages and ships production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const runtime = stages.at(-1)!;
    expect(runtime).not.toMatch(/npm ci(?! --omit=dev)/);
    expect(runtime).toMatch(/COPY --from=deps .*node_modules/);
    expect(runtime).toMatch(/infra\/sql/);
  });

  it('runs as a non-root user', () => {
    const user = /^USER (\S+)$/m.exec(stages.at(-1)!)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });
});
