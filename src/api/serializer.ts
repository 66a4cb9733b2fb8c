// Responses are written by fast-json-stringify, compiled from the JSON schema of each route's zod
// response schema: the same schema that documents the route, without parsing every response
// through zod again (a datetime regex per time field) on the hottest routes.
import fastJson from 'fast-json-stringify';
import type { FastifySerializerCompiler } from 'fastify/types/schema';
import type { ZodTypeAny } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';

export const fastSerializerCompiler: FastifySerializerCompiler<ZodTypeAny> = ({ schema }) => {
  const jsonSchema = zodToJsonSchema(schema, { target: 'openApi3', $refStrategy: 'none' });
  return fastJson(jsonSchema as Parameters<typeof fastJson>[0]);
};
