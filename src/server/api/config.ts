/** The configuration: what triggers builds (schedules, webhook paths), and reloading it. */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { ReloadResult, Triggers } from '../../api/schemas.ts';
import { PROVIDERS } from '../webhooks.ts';
import { AUTH_REFUSALS, fail, refusals, type ApiContext } from './context.ts';

export const configRoutes: FastifyPluginCallbackZod<ApiContext> = (app, ctx, done) => {
  app.get(
    '/api/v1/triggers',
    {
      schema: {
        summary: 'The schedules in force and the webhook paths.',
        tags: ['triggers'],
        response: { 200: Triggers, ...AUTH_REFUSALS },
      },
    },
    () => ({
      schedules: ctx.schedules?.() ?? [],
      webhooks: PROVIDERS.map((provider) => `/hooks/${provider}/{job}`),
    }),
  );
  app.post(
    '/api/v1/config/reload',
    {
      schema: {
        summary:
          'Re-read the configuration file; an invalid file is refused and the running one kept.',
        tags: ['config'],
        response: {
          200: ReloadResult.describe(
            'The jobs added, changed and removed, and the secrets (names only) likewise.',
          ),
          ...refusals(400),
          ...AUTH_REFUSALS,
        },
      },
    },
    async () => {
      try {
        return await ctx.reload();
      } catch (error) {
        fail('invalid_config', (error as Error).message);
      }
    },
  );
  done();
};
