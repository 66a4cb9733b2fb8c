// The OpenAPI document as the app generates it from the route schemas, for docs/openapi.json.
import pino from 'pino';
import type { AppDeps } from './deps';
import { buildApp } from './app';

const unused = () => {
  throw new Error('the OpenAPI document is generated without running anything');
};

/** Builds the app with inert dependencies and returns its OpenAPI document as stable JSON text. */
export async function renderOpenApiDocument(): Promise<string> {
  const deps = {
    readModel: undefined,
    segmentCommands: undefined,
    userCommands: undefined,
    clock: { now: () => new Date(0) },
    waitForReadModel: unused,
    userSegmentsNow: { activeSegmentsOf: unused, waitFor: unused },
    readiness: unused,
    projections: unused,
  } as unknown as AppDeps;
  const app = await buildApp(deps, { logger: pino({ level: 'silent' }) });
  await app.ready();
  const document = app.swagger();
  await app.close();
  return `${JSON.stringify(document, null, 2)}\n`;
}

export const OPENAPI_FILE = 'docs/openapi.json';
