/**
 * A build's output: the raw download, a window of one step's log, the live stream (SSE,
 * resumable with Last-Event-ID), and the search in one step's whole log.
 */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import { BuildParams, LogSearchQuery, LogsQuery } from '../../api/requests.ts';
import { LogSearchResult, LogWindow } from '../../api/schemas.ts';
import { logDownload } from '../log-download.ts';
import { AUTH_REFUSALS, fail, refusals, type ApiContext } from './context.ts';
import { streamLogs } from './sse.ts';

export const logRoutes: FastifyPluginCallbackZod<ApiContext> = (app, ctx, done) => {
  const { controller, streams } = ctx;
  const store = controller.store;
  const tags = ['logs'];
  app.get(
    '/api/v1/builds/:id/logs',
    {
      schema: {
        summary:
          "Output (?attempt, ?step, ?after). Raw bytes; with ?attempt, ?step and ?tail or ?from (and ?to) a window of one step's log as JSON; with ?follow=1 Server-Sent Events (log, build, end), resumable with Last-Event-ID.",
        tags,
        params: BuildParams,
        querystring: LogsQuery,
        response: {
          200: {
            description: 'text/plain, a JSON window, or text/event-stream.',
            content: {
              'application/json': { schema: LogWindow },
              'text/plain': { schema: z.string() },
              'text/event-stream': { schema: z.string() },
            },
          },
          ...refusals(400, 404),
          ...AUTH_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const buildId = request.params.id;
      const build = await store.builds.build(buildId);
      if (!build) fail('build_not_found', `there is no build ${buildId}`);
      const { attempt: attemptId, step, tail, from: fromQuery, to: toQuery } = request.query;
      const filter = {
        buildId,
        ...(attemptId ? { attemptId } : {}),
        ...(step !== undefined ? { step } : {}),
      };
      if (attemptId !== undefined && step !== undefined && (tail ?? fromQuery) !== undefined) {
        // A window of one step's log: the tail, or [from, to). Huge logs open on their end.
        const size = await store.logs.size(attemptId, step);
        const from = tail !== undefined ? Math.max(0, size - tail) : fromQuery!;
        const to = toQuery ?? Number.MAX_SAFE_INTEGER;
        if (from < 0) fail('invalid_range', 'tail, from and to are byte counts or offsets');
        const chunks = await store.logs.range(attemptId, step, from, Math.max(from, to));
        return reply.type('application/json; charset=utf-8').send({
          from,
          size: Math.max(
            size,
            chunks.reduce((end, c) => Math.max(end, c.offset + c.data.length), 0),
          ),
          lastId: chunks.reduce((last, c) => Math.max(last, c.id), 0),
          chunks: chunks.map((c) => ({
            id: c.id,
            offset: c.offset,
            stream: c.stream,
            time: c.time,
            b64: c.data.toString('base64'),
          })),
        });
      }
      const follow = request.query.follow === '1' || request.query.follow === 'true';
      const lastEventId = request.headers['last-event-id'];
      const after =
        Number(
          (Array.isArray(lastEventId) ? lastEventId[0] : lastEventId) ?? request.query.after ?? 0,
        ) || 0;
      // The download is a stream (read a page at a time); the schema documents its text.
      if (!follow)
        return reply
          .type('text/plain; charset=utf-8')
          .send(logDownload(store.logs, filter, after) as unknown as string);
      return streamLogs(controller, request, reply, filter, after, streams);
    },
  );
  app.get(
    '/api/v1/builds/:id/logs/search',
    {
      schema: {
        summary:
          "Finds text in one step's whole log (?attempt, ?step, ?q, ?limit up to 1000, default 100), case-insensitive for ASCII, read chunk by chunk on the server.",
        tags,
        params: BuildParams,
        querystring: LogSearchQuery,
        response: {
          200: LogSearchResult.describe('The matches in log order.'),
          ...refusals(400, 404),
          ...AUTH_REFUSALS,
        },
      },
    },
    async (request) => {
      const buildId = request.params.id;
      if (!(await store.builds.build(buildId)))
        fail('build_not_found', `there is no build ${buildId}`);
      const { attempt: attemptId, step, q, limit } = request.query;
      const row = await store.builds.attempt(attemptId);
      if (row?.build_id !== buildId)
        fail('attempt_not_found', `build ${buildId} has no attempt ${attemptId}`);
      const found = await store.logs.search(attemptId, step, q, limit);
      return {
        matches: found.matches,
        truncated: found.truncated,
        scanned: found.scanned,
        newlines: found.newlines,
      };
    },
  );
  done();
};
