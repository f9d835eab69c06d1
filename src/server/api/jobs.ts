/** Jobs: list, read, create or change, delete; a job's branches and manual inputs. */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import { InputsQuery, JobBody, JobNameParams, JobParams } from '../../api/requests.ts';
import { Branches, Job, JobWithLastBuild, ManualInputs } from '../../api/schemas.ts';
import { pipelinePathProblem } from '../../config/pipeline-path.ts';
import { AUTH_REFUSALS, fail, refusals, type ApiContext } from './context.ts';
import { buildView, jobView } from './views.ts';

export const jobRoutes: FastifyPluginCallbackZod<ApiContext> = (app, ctx, done) => {
  const { controller } = ctx;
  const store = controller.store;
  const tags = ['jobs'];
  app.get(
    '/api/v1/jobs',
    {
      schema: {
        summary: 'Every job with its last build.',
        tags,
        response: { 200: z.array(JobWithLastBuild), ...AUTH_REFUSALS },
      },
    },
    async () => {
      const jobs = await store.jobs.list();
      const last = await Promise.all(jobs.map((j) => store.builds.list({ job: j.name, limit: 1 })));
      return jobs.map((job, i) => ({
        ...jobView(job),
        lastBuild: last[i]![0] ? buildView(last[i]![0]) : null,
      }));
    },
  );
  app.get(
    '/api/v1/jobs/:name',
    {
      schema: {
        summary: 'One job.',
        tags,
        params: JobParams,
        response: { 200: Job, ...refusals(404), ...AUTH_REFUSALS },
      },
    },
    async (request) => {
      const job = await store.jobs.get(request.params.name);
      if (!job) fail('job_not_found', `there is no job "${request.params.name}"`);
      return jobView(job);
    },
  );
  app.put(
    '/api/v1/jobs/:name',
    {
      schema: {
        summary: 'Create or change a job (not one from the configuration file).',
        tags,
        params: JobNameParams,
        body: JobBody,
        response: { 200: Job, 201: Job, ...refusals(400, 409), ...AUTH_REFUSALS },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const body = request.body;
      checkJobSettings(body, ctx.resolveRef);
      const existing = await store.jobs.get(name);
      if (existing?.source === 'config')
        fail(
          'job_read_only',
          `job "${name}" is defined in the configuration file; change it there`,
        );
      const job = await store.jobs.put(
        {
          name,
          repo: body.repo,
          branches: body.branches ?? [],
          defaultBranch: body.branch ?? 'main',
          pipelinePath: body.pipeline ?? '.slipway.yml',
          concurrency: body.concurrency ?? null,
          cancelOlder: body.cancel_older ?? false,
          schedules: [],
          webhookSecret: body.webhook_secret ?? null,
          source: 'api',
        },
        Date.now(),
      );
      return reply.status(existing ? 200 : 201).send(jobView(job));
    },
  );
  app.delete(
    '/api/v1/jobs/:name',
    {
      schema: {
        summary: 'Delete a job (not one from the configuration file).',
        tags,
        params: JobParams,
        response: {
          204: z.undefined().describe('Deleted.'),
          ...refusals(404, 409),
          ...AUTH_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const job = await store.jobs.get(request.params.name);
      if (!job) fail('job_not_found', `there is no job "${request.params.name}"`);
      if (job.source === 'config')
        fail(
          'job_read_only',
          `job "${job.name}" is defined in the configuration file; remove it there`,
        );
      await store.jobs.remove(job.name);
      return reply.status(204).send();
    },
  );
  app.get(
    '/api/v1/jobs/:name/inputs',
    {
      schema: {
        summary:
          "The manual inputs the job's pipeline declares at the head of a branch (?branch, default the job's), for trigger forms.",
        tags,
        params: JobParams,
        querystring: InputsQuery,
        response: { 200: ManualInputs, ...refusals(404, 502), ...AUTH_REFUSALS },
      },
    },
    (request) => controller.manualInputs(request.params.name, request.query.branch),
  );
  app.get(
    '/api/v1/jobs/:name/branches',
    {
      schema: {
        summary: "The branches of the job's repository, and its default branch.",
        tags,
        params: JobParams,
        response: { 200: Branches, ...refusals(404, 502), ...AUTH_REFUSALS },
      },
    },
    (request) => controller.branches(request.params.name),
  );
  done();
};

/**
 * Settings given through the API are checked like the configuration file's: the pipeline
 * path (the same check) and that the webhook secret reference resolves now, not at the
 * first delivery.
 */
function checkJobSettings(
  body: { pipeline?: string | undefined; webhook_secret?: string | null | undefined },
  resolveRef: ApiContext['resolveRef'],
): void {
  const problem = body.pipeline === undefined ? undefined : pipelinePathProblem(body.pipeline);
  if (problem) fail('invalid_pipeline_path', `pipeline: ${problem}`);
  if (body.webhook_secret) {
    try {
      resolveRef(body.webhook_secret, 'webhook_secret');
    } catch (error) {
      fail('invalid_webhook_secret', (error as Error).message);
    }
  }
}
