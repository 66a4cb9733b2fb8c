// Monthly CSV reports of membership changes, and their download when stored on local disk.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ReportNotFoundError } from '../../domain/errors';
import { parsePeriod, PERIOD_PATTERN, periodOf } from '../../reports/period';
import type { AppDeps } from '../deps';
import { problemSchema, timeSchema, userIdSchema } from '../schemas';

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 503: problemSchema };

export const reportRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, deps) => {
  // The clock decides what "the current month" is, so the schema is built per app.
  const periodSchema = z
    .string()
    .regex(PERIOD_PATTERN, 'a month as YYYY-MM, month 01 to 12, from 1970-01')
    .refine((period) => !PERIOD_PATTERN.test(period) || period <= periodOf(deps.clock.now()), 'must not be after the current month')
    .describe('Calendar month (UTC), YYYY-MM');

  app.post(
    '/reports/history',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['reports'],
        summary: "CSV of every membership change in a month (UTC), optionally of one user, as a download link",
        body: z.object({ period: periodSchema, userId: userIdSchema.optional() }).strict(),
        response: {
          201: z.object({
            url: z.string().describe('Downloads the CSV without further credentials'),
            period: z.string(),
            userId: userIdSchema.nullable(),
            rows: z.number().int().describe('Membership changes in the report, the header not counted'),
            expiresAt: timeSchema.describe('The link works until then'),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const report = await deps.historyReports.create({ period: parsePeriod(request.body.period)!, userId: request.body.userId });
      return reply.status(201).send(report);
    },
  );

  // Registered in every configuration, so the API document does not depend on it; with S3 the
  // links point at the object store and nothing is found here.
  const local = deps.localReports;
  app.get(
    '/reports/:file',
    {
      // No scope: the unguessable name is the credential, so a link handed out works without a token.
      schema: {
        tags: ['reports'],
        summary: 'Download a report stored on the service’s disk (the link from POST /reports/history)',
        params: z.object({ file: z.string().describe('{name}.csv') }),
        response: { 200: z.string().describe('text/csv: user_id;segment;operation;at'), 404: problemSchema },
      },
    },
    async (request, reply) => {
      const name = request.params.file.endsWith('.csv') ? request.params.file.slice(0, -4) : '';
      const report = await local?.open(name);
      if (!report) throw new ReportNotFoundError();
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-length', report.size)
        .header('content-disposition', `attachment; filename="history-${name}.csv"`)
        // A stream goes out as it is; the 200 schema documents the CSV, it serialises nothing.
        .send(report.body as unknown as string);
    },
  );
};
