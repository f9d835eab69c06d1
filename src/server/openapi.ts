/**
 * The OpenAPI document of /api/v1, served at /api/v1/openapi.json. The route table here
 * is checked against the server's real routes by a test, so the document cannot drift.
 */
import { CREDENTIAL_ROUTE_DOCS } from './api/credentials.ts';

export interface RouteDoc {
  method: 'get' | 'put' | 'post' | 'delete';
  path: string;
  summary: string;
  tag: string;
  auth: boolean;
  responses: Record<string, string>;
}

const common = {
  '401': 'No or wrong admin token.',
  '429': 'Too many wrong tokens from this address; see Retry-After.',
};

export const OPENAPI_ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'The process is alive.',
    tag: 'health',
    auth: false,
    responses: { '200': 'Alive.' },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'The store answers and the controller is not draining.',
    tag: 'health',
    auth: false,
    responses: { '200': 'Ready.', '503': 'Not ready, with the reason.' },
  },
  {
    method: 'get',
    path: '/metrics',
    summary:
      'Prometheus metrics: queue depth, running attempts, build durations by outcome, agents, log bytes. Needs the token unless `metrics.public` is set.',
    tag: 'health',
    auth: true,
    responses: { '200': 'Prometheus text format.', ...common },
  },
  {
    method: 'get',
    path: '/api/v1/jobs',
    summary: 'Every job with its last build.',
    tag: 'jobs',
    auth: true,
    responses: { '200': 'Jobs.', ...common },
  },
  {
    method: 'get',
    path: '/api/v1/jobs/{name}',
    summary: 'One job.',
    tag: 'jobs',
    auth: true,
    responses: { '200': 'The job.', '404': 'No such job.', ...common },
  },
  {
    method: 'put',
    path: '/api/v1/jobs/{name}',
    summary: 'Create or change a job (not one from the configuration file).',
    tag: 'jobs',
    auth: true,
    responses: {
      '200': 'Changed.',
      '201': 'Created.',
      '400': 'Invalid body.',
      '409': 'Defined in the configuration file.',
      ...common,
    },
  },
  {
    method: 'delete',
    path: '/api/v1/jobs/{name}',
    summary: 'Delete a job (not one from the configuration file).',
    tag: 'jobs',
    auth: true,
    responses: {
      '204': 'Deleted.',
      '404': 'No such job.',
      '409': 'Defined in the configuration file.',
      ...common,
    },
  },
  {
    method: 'post',
    path: '/api/v1/jobs/{name}/builds',
    summary:
      'Trigger a build: {branch?, tag?, sha?, inputs?}. Inputs are checked against on.manual.inputs.',
    tag: 'builds',
    auth: true,
    responses: {
      '201': 'The build, durable.',
      '404': 'No such job.',
      '422': 'Invalid inputs, with diagnostics.',
      ...common,
    },
  },
  {
    method: 'get',
    path: '/api/v1/jobs/{job}/builds/{number}',
    summary: 'A build by job and number, with job runs, attempts and steps.',
    tag: 'builds',
    auth: true,
    responses: { '200': 'The build.', '404': 'No such build.', ...common },
  },
  {
    method: 'get',
    path: '/api/v1/builds',
    summary: 'Builds, newest first (?job, ?status, ?before, ?limit).',
    tag: 'builds',
    auth: true,
    responses: { '200': 'Builds.', ...common },
  },
  {
    method: 'get',
    path: '/api/v1/builds/{id}',
    summary: 'A build with job runs, attempts, steps and compile diagnostics.',
    tag: 'builds',
    auth: true,
    responses: { '200': 'The build.', '404': 'No such build.', ...common },
  },
  {
    method: 'post',
    path: '/api/v1/builds/{id}/cancel',
    summary: 'Cancel a build: queued attempts end, running ones get SIGTERM then SIGKILL.',
    tag: 'builds',
    auth: true,
    responses: { '200': 'The build.', '404': 'No such build.', ...common },
  },
  {
    method: 'post',
    path: '/api/v1/builds/{id}/rerun',
    summary:
      'New attempts for every job run, or with {failedOnly: true} only those that did not succeed.',
    tag: 'builds',
    auth: true,
    responses: { '200': 'The build.', '409': 'Still running.', ...common },
  },
  {
    method: 'get',
    path: '/api/v1/builds/{id}/logs',
    summary:
      'Output (?attempt, ?step, ?after). Raw bytes; with ?follow=1 Server-Sent Events (log, build, end), resumable with Last-Event-ID.',
    tag: 'logs',
    auth: true,
    responses: { '200': 'text/plain or text/event-stream.', '404': 'No such build.', ...common },
  },
  {
    method: 'get',
    path: '/api/v1/builds/{id}/logs/search',
    summary:
      "Finds text in one step's whole log (?attempt, ?step, ?q, ?limit up to 1000, default 100), case-insensitive for ASCII, read chunk by chunk on the server: {matches: [{offset, line, lineStart}], truncated, scanned, newlines}.",
    tag: 'logs',
    auth: true,
    responses: {
      '200': 'The matches in log order.',
      '400': 'A missing or invalid attempt, step, q or limit.',
      '404': 'No such build, or no such attempt in it.',
      ...common,
    },
  },
  {
    method: 'get',
    path: '/api/v1/queue',
    summary: 'Queued attempts and why each waits.',
    tag: 'queue',
    auth: true,
    responses: { '200': 'The queue.', ...common },
  },
  {
    method: 'get',
    path: '/api/v1/agents',
    summary:
      'Connected agents: labels, executors, what they run (attempt, build, job run), last seen.',
    tag: 'agents',
    auth: true,
    responses: { '200': 'Agents.', ...common },
  },
  {
    method: 'post',
    path: '/api/v1/config/reload',
    summary: 'Re-read the configuration file; an invalid file is refused and the running one kept.',
    tag: 'config',
    auth: true,
    responses: {
      '200': 'The jobs added, changed and removed, and the secrets (names only) likewise.',
      '400': 'Invalid file, with diagnostics.',
      ...common,
    },
  },
  {
    method: 'post',
    path: '/hooks/{provider}/{job}',
    summary:
      'Webhook delivery from github, gitlab or gitea (JSON, or a form with a payload field); signed or token-checked over the raw body as sent.',
    tag: 'triggers',
    auth: false,
    responses: {
      '200': 'Delivery seen before: nothing queued.',
      '201': 'Build queued.',
      '202': 'Valid but builds nothing, with the reason.',
      '401': 'Missing or wrong signature.',
      '403': 'The job has no webhook secret: webhooks are off for it.',
      '404': 'No such provider or job.',
      '413': 'Body too large.',
    },
  },
  ...CREDENTIAL_ROUTE_DOCS,
];

const errorSchema = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
};

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of OPENAPI_ROUTES) {
    const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    (paths[route.path] ??= {})[route.method] = {
      summary: route.summary,
      tags: [route.tag],
      ...(params.length ? { parameters: params } : {}),
      ...(route.auth ? { security: [{ adminToken: [] }] } : { security: [] }),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([code, description]) => [
          code,
          Number(code) >= 400
            ? {
                description,
                content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
              }
            : { description },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Slipway controller API', version },
    paths,
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorSchema },
    },
  };
}
