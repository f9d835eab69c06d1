/** The one live stream of live pages: `build` and `queue` events over SSE. */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import { AUTH_REFUSALS, type ApiContext } from './context.ts';
import { streamEvents } from './sse.ts';

export const eventRoutes: FastifyPluginCallbackZod<ApiContext> = (app, ctx, done) => {
  app.get(
    '/api/v1/events',
    {
      schema: {
        summary:
          'Server-Sent Events of everything that changes: `build` (the build, as in lists) and `queue` ({}); changes within 100 ms are coalesced. Pages refetch what they show.',
        tags: ['events'],
        response: {
          200: {
            description: 'text/event-stream',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          ...AUTH_REFUSALS,
        },
      },
    },
    (request, reply) => streamEvents(ctx.controller, request, reply, ctx.streams),
  );
  done();
};
