// Turns each route's zod schemas into OpenAPI (fastify-type-provider-zod), then adds what zod
// cannot say: the name of every answer and the examples of src/api/openapiExamples.ts.
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { OPERATION_DOCS, PROBLEM_DESCRIPTIONS, type OperationDocs } from './openapiExamples';

const PUBLIC = 'Needs no token, also when API_TOKENS is configured.';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];
type JsonSchema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };

/** "POST /users/{userId}/segments" for fastify's POST /users/:userId/segments. */
export const operationKey = (method: string, url: string): string => `${method} ${url.replace(/:(\w+)/g, '{$1}')}`;

function exampleParameters(schema: JsonSchema | undefined, examples: Record<string, string> | undefined): void {
  for (const [name, value] of Object.entries(examples ?? {})) {
    const property = schema?.properties?.[name];
    if (!property) throw new Error(`an example for the parameter ${name}, which the route does not have`);
    property.examples = [value];
  }
}

/** A response in a media type of its own: CSV or Prometheus text rather than JSON. */
function inMediaType(response: JsonSchema, mediaType: string): JsonSchema {
  const { 'x-response-description': name, examples, ...schema } = response;
  return {
    'x-response-description': name,
    content: { [mediaType]: { schema, ...(Array.isArray(examples) ? { example: examples[0] } : {}) } },
  };
}

function document(schema: Record<string, unknown>, docs: OperationDocs): void {
  const responses = (schema.response ?? {}) as Record<string, JsonSchema>;
  for (const [status, response] of Object.entries(responses)) {
    const name = docs.responses?.[Number(status)] ?? (Number(status) >= 400 ? PROBLEM_DESCRIPTIONS[Number(status)] : undefined);
    if (name) response['x-response-description'] = name;
    if (Number(status) < 300 && docs.answer !== undefined) response.examples = [docs.answer];
    if (Number(status) < 300 && docs.answers) response['x-examples'] = docs.answers;
    if (Number(status) < 300 && docs.mediaType) responses[status] = inMediaType(response, docs.mediaType);
    if (Number(status) >= 400) responses[status] = inMediaType(responses[status]!, 'application/problem+json');
    // A 204 has no body, so no media type either.
    if (status === '204') responses[status] = { type: 'null', 'x-response-description': response['x-response-description'] };
  }
  exampleParameters(schema.params as JsonSchema | undefined, docs.params);
  if (docs.body) (schema.body as JsonSchema)['x-examples'] = docs.body;
}

/** The `transform` of @fastify/swagger. */
export function documentedTransform(input: TransformInput): ReturnType<typeof jsonSchemaTransform> {
  const transformed = jsonSchemaTransform(input);
  const route = (input as { route?: { method?: string | string[]; config?: { scope?: string } } }).route;
  const methods = [route?.method ?? []].flat();
  const docs = methods.map((method) => OPERATION_DOCS[operationKey(method, input.url)]).find(Boolean);
  const schema = transformed.schema as Record<string, unknown> | undefined;
  if (!schema || schema.hide) return transformed;
  document(schema, docs ?? {});
  // Routes with a scope say so (app.ts), also to machines; the others say that they need none.
  if (route?.config?.scope) schema['x-required-scope'] = route.config.scope;
  if (!schema.security) schema.description = [schema.description, PUBLIC].filter(Boolean).join('\n\n');
  return transformed;
}
