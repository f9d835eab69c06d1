/**
 * Webhook deliveries from the forges. The raw body is kept as sent for the signature
 * check (this plugin's own content parser), then decoded by webhooks.ts. Open to anyone:
 * the signature or token is the check.
 */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { HookParams } from '../../api/requests.ts';
import { WebhookAnswer } from '../../api/schemas.ts';
import { matchPatterns } from '../../pipeline/glob.ts';
import { parseDelivery, PROVIDERS, verify, type Provider } from '../webhooks.ts';
import { fail, OPEN, refusals, type ApiContext } from './context.ts';
import { buildView } from './views.ts';

export const webhookRoutes: FastifyPluginCallbackZod<ApiContext> = (hooks, ctx, done) => {
  const { controller } = ctx;
  const store = controller.store;
  hooks.removeAllContentTypeParsers();
  hooks.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: ctx.webhookBodyBytes },
    (_req, body, done) => {
      done(null, body);
    },
  );
  hooks.post(
    '/hooks/:provider/:job',
    {
      schema: {
        summary:
          'Webhook delivery from github, gitlab or gitea (JSON, or a form with a payload field); signed or token-checked over the raw body as sent.',
        tags: ['triggers'],
        ...OPEN,
        params: HookParams,
        response: {
          200: WebhookAnswer.describe('Delivery seen before: nothing queued.'),
          201: WebhookAnswer.describe('Build queued.'),
          202: WebhookAnswer.describe('Valid but builds nothing, with the reason.'),
          ...refusals(400, 401, 403, 404, 413),
        },
      },
    },
    async (request, reply) => {
      const provider = request.params.provider as Provider;
      if (!PROVIDERS.includes(provider))
        fail(
          'unknown_provider',
          `no webhook provider "${request.params.provider}" (use github, gitlab or gitea)`,
        );
      const job = await store.jobs.get(request.params.job);
      if (!job) fail('job_not_found', `there is no job "${request.params.job}"`);
      if (!job.webhookSecret)
        fail(
          'webhooks_disabled',
          `job "${job.name}" takes no webhooks: set its webhook_secret (jobs.${job.name}.webhook_secret in the configuration, or webhook_secret through the API) and sign deliveries with it`,
        );
      // A reference that cannot be resolved is the operator's problem: it is logged under
      // the request id, and the sender learns nothing about it (a plain Error becomes the
      // generic 500).
      const secret = resolveWebhookSecret(ctx.resolveRef, job.name, job.webhookSecret);
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (!verify(provider, request.headers, body, secret))
        fail('bad_signature', 'the signature or token is missing or wrong for this job');
      const parsed = parseDelivery(provider, request.headers, body, job.name);
      if (parsed.kind === 'invalid') fail('invalid_delivery', parsed.reason);
      if (parsed.kind === 'ignore')
        return reply.status(202).send({ queued: false, reason: parsed.reason });
      const { trigger } = parsed;
      // A pull request is filtered by the branch it merges into, never by its head.
      const branchForFilter = trigger.pullRequest?.targetBranch ?? trigger.branch;
      if (
        trigger.event !== 'tag' &&
        branchForFilter &&
        job.branches.length > 0 &&
        !matchPatterns(job.branches, branchForFilter)
      )
        return reply.status(202).send({
          queued: false,
          reason: trigger.pullRequest
            ? `the target branch ${branchForFilter} of pull request #${trigger.pullRequest.number} is not in the job's branches`
            : `branch ${branchForFilter} is not in the job's branches`,
        });
      const result = await controller.trigger({
        job: job.name,
        cause: 'webhook',
        causeDetail: `${provider} delivery ${parsed.deliveryId}`,
        ...trigger,
        delivery: { provider, id: parsed.deliveryId },
      });
      switch (result.kind) {
        case 'created':
          return reply.status(201).send({ queued: true, build: buildView(result.build) });
        case 'duplicate':
          return reply.status(200).send({
            queued: false,
            reason: 'this delivery was received before',
            buildId: result.buildId,
          });
        case 'not-triggered':
          return reply.status(202).send({ queued: false, reason: result.reason });
        case 'invalid-inputs':
          return reply.status(202).send({ queued: false, reason: 'invalid inputs' });
      }
    },
  );
  done();
};

function resolveWebhookSecret(
  resolveRef: ApiContext['resolveRef'],
  job: string,
  ref: string,
): string {
  try {
    return resolveRef(ref, `jobs.${job}.webhook_secret`);
  } catch (error) {
    throw new Error(`webhook for job ${job}: ${(error as Error).message}`, { cause: error });
  }
}
