import path from 'node:path';
import { loadConfig } from '../../src/config';
import { problemsOf } from '../support/configProblems';


describe('configuration from the environment', () => {
  it('serves a newcomer with no variables at all: loopback 8080, embedded PostgreSQL, every role', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dataDir: path.resolve('.data'),
      eventStore: 'postgres',
      publicUrl: 'http://127.0.0.1:8080',
      apiTokens: [],
      logLevel: 'info',
      ttlSweepSchedule: '*/5 * * * * *',
      projectionStallSeconds: 60,
      projectorSessionTimeoutSeconds: 10,
    });
    expect([...config.roles].sort()).toEqual(['api', 'projector', 'timer']);
  });

  it('reads every variable it knows', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://app@db:5432/segments',
      READ_DATABASE_URL: 'postgres://app@db-replica:5432/segments',
      DATA_DIR: '/var/lib/segments',
      PUBLIC_URL: 'https://segments.example.com/',
      ROLES: 'api, projector',
      API_TOKENS: 'dashboard:read-token-0123456789:read,ops:admin-token-0123456789:admin',
      LOG_LEVEL: 'debug',
      TTL_SWEEP_SCHEDULE: '*/30 * * * * *',
      PROJECTION_STALL_SECONDS: '120',
      PROJECTOR_SESSION_TIMEOUT_SECONDS: '30',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      databaseUrl: 'postgres://app@db:5432/segments',
      readDatabaseUrl: 'postgres://app@db-replica:5432/segments',
      dataDir: '/var/lib/segments',
      publicUrl: 'https://segments.example.com',
      apiTokens: [
        { name: 'dashboard', token: 'read-token-0123456789', scope: 'read' },
        { name: 'ops', token: 'admin-token-0123456789', scope: 'admin' },
      ],
      logLevel: 'debug',
      ttlSweepSchedule: '*/30 * * * * *',
      projectionStallSeconds: 120,
      projectorSessionTimeoutSeconds: 30,
    });
    expect([...config.roles].sort()).toEqual(['api', 'projector']);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x@y/z' }, 'DATABASE_URL'],
    [{ READ_DATABASE_URL: 'replica:5432' }, 'READ_DATABASE_URL'],
    [{ ROLES: 'api,cooking' }, 'ROLES'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ API_TOKENS: 'dashboard:short:read' }, 'API_TOKENS'],
    [{ API_TOKENS: 'dashboard:read-token-0123456789:superuser' }, 'API_TOKENS'],
    [{ HOST: '0.0.0.0' }, 'API_TOKENS'],
    [{ EVENT_STORE: 'kafka' }, 'EVENT_STORE'],
    [{ TTL_SWEEP_SCHEDULE: 'every 5 seconds' }, 'TTL_SWEEP_SCHEDULE'],
    [{ TTL_SWEEP_SCHEDULE: '61 * * * * *' }, 'TTL_SWEEP_SCHEDULE'],
    [{ EVENT_STORE: 'eventstoredb' }, 'EVENTSTORE_CONNECTION_STRING'],
    [{ EVENT_STORE: 'eventstoredb', EVENTSTORE_CONNECTION_STRING: 'http://127.0.0.1:2113' }, 'EVENTSTORE_CONNECTION_STRING'],
    [{ EVENT_STORE: 'eventstoredb', EVENTSTORE_CONNECTION_STRING: 'esdb://' }, 'EVENTSTORE_CONNECTION_STRING'],
    [{ EVENTSTORE_STREAM_PREFIX: '$system' }, 'EVENTSTORE_STREAM_PREFIX'],
    [{ PROJECTOR_SESSION_TIMEOUT_SECONDS: '1' }, 'PROJECTOR_SESSION_TIMEOUT_SECONDS'],
    [{ PROJECTOR_SESSION_TIMEOUT_SECONDS: '3601' }, 'PROJECTOR_SESSION_TIMEOUT_SECONDS'],
    [{ PROJECTOR_SESSION_TIMEOUT_SECONDS: 'ten' }, 'PROJECTOR_SESSION_TIMEOUT_SECONDS'],
  ])('a bad value %p stops start-up naming %s', (env, variable) => {
    const problems = problemsOf(env);
    expect(problems.some((problem) => problem.startsWith(`${variable}:`))).toBe(true);
  });

  it('selects EventStoreDB with its connection string and an optional stream prefix', () => {
    const config = loadConfig({
      EVENT_STORE: 'eventstoredb',
      EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:2113?tls=false',
      EVENTSTORE_STREAM_PREFIX: 'staging.',
    });
    expect(config).toMatchObject({
      eventStore: 'eventstoredb',
      eventStoreConnectionString: 'esdb://127.0.0.1:2113?tls=false',
      eventStoreStreamPrefix: 'staging.',
    });
    expect(loadConfig({}).eventStoreStreamPrefix).toBe('');
    const cluster = 'esdb+discover://admin:changeit@node1:2113,node2:2113,node3:2113?tls=true&nodePreference=leader';
    expect(loadConfig({ EVENT_STORE: 'eventstoredb', EVENTSTORE_CONNECTION_STRING: cluster }).eventStoreConnectionString).toBe(cluster);
  });

  describe('report storage', () => {
    const s3 = { S3_ENDPOINT: 'http://127.0.0.1:9000', S3_ACCESS_KEY: 'minio', S3_SECRET_KEY: 'minio-secret', S3_BUCKET: 'segment-reports' };

    it('keeps reports on local disk with links valid for 24 h when no S3 variable is set', () => {
      expect(loadConfig({})).toMatchObject({ s3: undefined, reportUrlExpirySeconds: 86_400 });
    });

    it('uses S3 when the four S3 variables are set, path-style in us-east-1 unless told otherwise', () => {
      expect(loadConfig({ ...s3, REPORT_URL_EXPIRY_SECONDS: '3600' })).toMatchObject({
        s3: { endpoint: 'http://127.0.0.1:9000', accessKey: 'minio', secretKey: 'minio-secret', bucket: 'segment-reports', region: 'us-east-1', pathStyle: true },
        reportUrlExpirySeconds: 3600,
      });
      expect(loadConfig({ ...s3, S3_REGION: 'eu-central-1', S3_PATH_STYLE: 'false' }).s3).toMatchObject({ region: 'eu-central-1', pathStyle: false });
    });

    it('names every missing S3 variable when only some are set', () => {
      const problems = problemsOf({ S3_ENDPOINT: 'http://127.0.0.1:9000', S3_BUCKET: 'segment-reports' });
      expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual(['S3_ACCESS_KEY', 'S3_SECRET_KEY']);
    });

    it.each([
      [{ ...s3, S3_ENDPOINT: 'ftp://files.example.com' }, 'S3_ENDPOINT'],
      [{ ...s3, S3_ENDPOINT: '127.0.0.1:9000' }, 'S3_ENDPOINT'],
      [{ ...s3, S3_BUCKET: 'Segment_Reports' }, 'S3_BUCKET'],
      [{ ...s3, S3_PATH_STYLE: 'yes' }, 'S3_PATH_STYLE'],
      [{ REPORT_URL_EXPIRY_SECONDS: '604801' }, 'REPORT_URL_EXPIRY_SECONDS'],
      [{ REPORT_URL_EXPIRY_SECONDS: '10' }, 'REPORT_URL_EXPIRY_SECONDS'],
    ])('a bad value %p stops start-up naming %s', (env, variable) => {
      expect(problemsOf(env).some((problem) => problem.startsWith(`${variable}:`))).toBe(true);
    });
  });
});
