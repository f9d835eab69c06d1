/** Builds: trigger, list, read (by id, or by job and number), cancel, re-run. */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import {
  BuildNumberParams,
  BuildParams,
  BuildsQuery,
  JobParams,
  RerunBody,
  TriggerBody,
} from '../../api/requests.ts';
import { Build, BuildDetail, ErrorBody } from '../../api/schemas.ts';
import { AUTH_REFUSALS, fail, refusals, type ApiContext } from './context.ts';
import { buildView, detailView } from './views.ts';

export const buildRoutes: FastifyPluginCallbackZod<ApiContext> = (app, ctx, done) => {
  const { controller } = ctx;
  const store = controller.store;
  const tags = ['builds'];
  app.post(
    '/api/v1/jobs/:name/builds',
    {
      schema: {
        summary:
          'Trigger a build: {branch?, tag?, sha?, inputs?}. Inputs are checked against on.manual.inputs.',
        tags,
        params: JobParams,
        body: TriggerBody,
        response: {
          201: Build.describe('The build, durable.'),
          ...refusals(400, 404, 409),
          422: ErrorBody.describe('Invalid inputs, with `diagnostics`.'),
          ...AUTH_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const result = await controller.trigger({
        job: request.params.name,
        cause: 'api',
        causeDetail: 'admin',
        event: 'manual',
        branch: body.branch ?? null,
        tag: body.tag ?? null,
        sha: body.sha ?? null,
        inputs: body.inputs ?? {},
      });
      if (result.kind === 'invalid-inputs')
        return reply.status(422).send({
          statusCode: 422,
          code: 'invalid_inputs',
          error: 'Unprocessable Entity',
          message: result.diagnostics.map((d) => d.message).join('; '),
          diagnostics: result.diagnostics,
        });
      if (result.kind !== 'created') fail('not_triggered', 'the build was not created');
      return reply.status(201).send(buildView(result.build));
    },
  );
  app.get(
    '/api/v1/builds',
    {
      schema: {
        summary: 'Builds, newest first (?job, ?status, ?before, ?limit).',
        tags,
        querystring: BuildsQuery,
        response: { 200: z.array(Build), ...refusals(400), ...AUTH_REFUSALS },
      },
    },
    async (request) => {
      const { job, status, before, limit } = request.query;
      const builds = await store.builds.list({
        limit,
        ...(job ? { job } : {}),
        ...(status ? { status } : {}),
        ...(before ? { before } : {}),
      });
      return builds.map(buildView);
    },
  );
  app.get(
    '/api/v1/builds/:id',
    {
      schema: {
        summary: 'A build with job runs, attempts, steps and compile diagnostics.',
        tags,
        params: BuildParams,
        response: { 200: BuildDetail, ...refusals(400, 404), ...AUTH_REFUSALS },
      },
    },
    async (request) => {
      const detail = await controller.buildDetail(request.params.id);
      if (!detail) fail('build_not_found', `there is no build ${request.params.id}`);
      return detailView(detail);
    },
  );
  app.get(
    '/api/v1/jobs/:job/builds/:number',
    {
      schema: {
        summary: 'A build by job and number, with job runs, attempts and steps.',
        tags,
        params: BuildNumberParams,
        response: { 200: BuildDetail, ...refusals(400, 404), ...AUTH_REFUSALS },
      },
    },
    async (request) => {
      const { job, number } = request.params;
      const build = await store.builds.buildByNumber(job, number);
      if (!build) fail('build_not_found', `job ${job} has no build #${number}`);
      return detailView((await controller.buildDetail(build.id))!);
    },
  );
  app.post(
    '/api/v1/builds/:id/cancel',
    {
      schema: {
        summary: 'Cancel a build: queued attempts end, running ones get SIGTERM then SIGKILL.',
        tags,
        params: BuildParams,
        response: { 200: Build, ...refusals(400, 404), ...AUTH_REFUSALS },
      },
    },
    async (request) => buildView(await controller.cancel(request.params.id)),
  );
  app.post(
    '/api/v1/builds/:id/rerun',
    {
      schema: {
        summary:
          'New attempts for every job run, or with {failedOnly: true} only those that did not succeed.',
        tags,
        params: BuildParams,
        body: RerunBody,
        response: { 200: Build, ...refusals(400, 404, 409), ...AUTH_REFUSALS },
      },
    },
    async (request) => {
      const failedOnly = request.body?.failedOnly === true;
      return buildView(await controller.rerun(request.params.id, failedOnly));
    },
  );
  done();
};
