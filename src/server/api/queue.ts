/** The queue (why each attempt waits) and the connected agents. */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import { Agent, QueueEntry } from '../../api/schemas.ts';
import { AUTH_REFUSALS, type ApiContext } from './context.ts';

export const queueRoutes: FastifyPluginCallbackZod<ApiContext> = (app, { controller }, done) => {
  app.get(
    '/api/v1/queue',
    {
      schema: {
        summary: 'Queued attempts and why each waits.',
        tags: ['queue'],
        response: { 200: z.array(QueueEntry), ...AUTH_REFUSALS },
      },
    },
    () => controller.queue(),
  );
  app.get(
    '/api/v1/agents',
    {
      schema: {
        summary:
          'Connected agents: labels, executors, what they run (attempt, build, job run), last seen.',
        tags: ['agents'],
        response: { 200: z.array(Agent), ...AUTH_REFUSALS },
      },
    },
    () => controller.agentsDetail(),
  );
  done();
};
