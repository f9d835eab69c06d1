/**
 * The HTTP face of the controller: the versioned JSON API under /api/v1 (admin token),
 * live logs over Server-Sent Events, webhooks, health, readiness and metrics.
 * One error shape everywhere: {statusCode, code, error, message}.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import * as z from 'zod';
import { pipelinePathProblem } from '../config/pipeline-path.ts';
import { matchPatterns } from '../pipeline/glob.ts';
import type { BuildRow } from '../store/builds.ts';
import { FINISHED } from '../store/builds.ts';
import { isStoreFailure } from '../store/health.ts';
import type { Job } from '../store/jobs.ts';
import type { CredentialVault } from '../credentials/vault.ts';
import { credentialRoutes } from './api/credentials.ts';
import { installAuth } from './auth.ts';
import { createAuthThrottle } from './auth-throttle.ts';
import { ControllerError } from './api-error.ts';
import { planOf, type BuildDetail, type Controller } from './controller.ts';
import {
  clientErrorHandler,
  createErrorHandler,
  errorBody,
  frameworkError,
  requestId,
} from './http-errors.ts';
import { logDownload } from './log-download.ts';
import { createMetrics } from './metrics.ts';
import { lazySchemaCompilers } from './schema-compilers.ts';
import { OPENAPI_ROUTES, openApiDocument } from './openapi.ts';
import type { ScheduleEntry } from './schedules.ts';
import { parseDelivery, PROVIDERS, verify, type Provider } from './webhooks.ts';

export interface HttpOptions {
  controller: Controller;
  adminToken: string;
  webhookBodyBytes: number;
  /** Resolves a secret reference (`env:X`, `file:P`) for webhook checks. */
  resolveRef: (ref: string, key: string) => string;
  /** Re-reads the configuration; throws with a message when it is invalid. */
  reload: () => Promise<{ added: string[]; changed: string[]; removed: string[] }>;
  /** The schedules in force, for GET /api/v1/triggers. */
  schedules?: () => ScheduleEntry[];
  version: string;
  /** The built web UI (dist-ui/); served at / when present. */
  uiDir?: string;
  /** Serve /metrics without the admin token (default false). */
  metricsPublic?: boolean;
  /** Wrong tokens per client address and window before 429 (default 10 per minute). */
  authThrottle?: { failures: number; windowMs: number };
  /** Longest time to receive a whole request, headers and body (default 30 s). */
  requestTimeoutMs?: number;
  /** Where errors a client is not told about are logged (default stderr). */
  log?: (line: string) => void;
  /** The credentials store; its routes are served when it is given. */
  credentials?: CredentialVault;
  /** Sees every route as it is registered (tests enumerate the routes with it). */
  onRoute?: (route: { method: string[]; url: string }) => void;
}

const JobBody = z
  .object({
    repo: z.string().min(1),
    branch: z.string().min(1).optional(),
    branches: z.array(z.string()).optional(),
    pipeline: z.string().min(1).optional(),
    concurrency: z.number().int().positive().nullable().optional(),
    cancel_older: z.boolean().optional(),
    webhook_secret: z
      .string()
      .regex(/^(env|file):.+$/)
      .nullable()
      .optional(),
  })
  .strict();

const TriggerBody = z
  .object({
    branch: z.string().min(1).optional(),
    tag: z.string().min(1).optional(),
    sha: z
      .string()
      .regex(/^[0-9a-f]{7,40}$/)
      .optional(),
    inputs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  })
  .strict();

const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function fail(statusCode: number, code: string, message: string): never {
  throw new ControllerError(statusCode, code, message);
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success)
    fail(
      400,
      'invalid_body',
      parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
    );
  return parsed.data;
}

function idParam(value: string, what: string): number {
  const id = Number(value);
  if (!Number.isInteger(id) || id <= 0)
    fail(400, 'invalid_id', `${what} "${value}" is not a number`);
  return id;
}

export function jobView(job: Job): Record<string, unknown> {
  return {
    name: job.name,
    repo: job.repo,
    branch: job.defaultBranch,
    branches: job.branches,
    pipeline: job.pipelinePath,
    concurrency: job.concurrency,
    cancelOlder: job.cancelOlder,
    schedules: job.schedules,
    webhookSecret: job.webhookSecret,
    source: job.source,
    readOnly: job.source === 'config',
  };
}

/** A stored time (bigint column) as epoch milliseconds, or null. */
function epochMs(value: number | bigint | null): number | null {
  return value === null ? null : Number(value);
}

export function buildView(build: BuildRow): Record<string, unknown> {
  return {
    id: build.id,
    job: build.job,
    number: build.number,
    status: build.status,
    reason: build.reason,
    cause: build.cause,
    causeDetail: build.cause_detail,
    event: build.event,
    branch: build.branch,
    tag: build.tag,
    pr: build.pr,
    prTargetBranch: build.pr_target_branch,
    prHeadBranch: build.pr_head_branch,
    prHeadRepo: build.pr_head_repo,
    ref: build.ref,
    trust: build.trust,
    trustReason: build.trust_reason,
    sha: build.sha,
    commitMessage: build.commit_message,
    commitAuthor: build.commit_author,
    inputs: JSON.parse(build.inputs) as unknown,
    createdAt: Number(build.created_at),
    startedAt: epochMs(build.started_at),
    finishedAt: epochMs(build.finished_at),
  };
}

function detailView(detail: BuildDetail): Record<string, unknown> {
  return {
    ...buildView(detail.build),
    diagnostics: JSON.parse(detail.build.diagnostics) as unknown,
    pipelineText: detail.build.pipeline_text,
    jobRuns: detail.runs.map((run) => {
      const plan = planOf(run);
      return {
        id: run.id,
        name: run.name,
        job: plan.job,
        matrix: plan.matrix,
        stage: run.stage,
        needs: plan.needs,
        status: run.status,
        outcome: run.outcome,
        reason: run.reason,
        labels: run.labels,
        startedAt: epochMs(run.started_at),
        finishedAt: epochMs(run.finished_at),
        attempts: detail.attempts
          .filter((a) => a.job_run_id === run.id)
          .map((a) => ({
            id: a.id,
            number: a.number,
            status: a.status,
            outcome: a.outcome,
            reason: a.reason,
            agent: a.agent,
            queuedAt: Number(a.queued_at),
            startedAt: epochMs(a.started_at),
            finishedAt: epochMs(a.finished_at),
            deadline: epochMs(a.deadline),
            steps: detail.steps
              .filter((s) => s.attempt_id === a.id)
              .map((s) => ({
                index: s.idx,
                name: s.name,
                status: s.status,
                outcome: s.outcome,
                reason: s.reason,
                exitCode: s.exit_code,
                logBytes: Number(s.log_bytes),
                truncated: s.truncated === 1,
                startedAt: epochMs(s.started_at),
                finishedAt: epochMs(s.finished_at),
              })),
          })),
      };
    }),
  };
}

export async function createHttpServer(options: HttpOptions): Promise<FastifyInstance> {
  const { controller } = options;
  const store = controller.store;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Stalled requests (headers or body trickling in) are dropped after the timeout; node
  // checks for them every second, not every 30 s, so the limit is what users see.
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    genReqId: requestId,
    requestTimeout,
    http: {
      requestTimeout,
      headersTimeout: requestTimeout,
      connectionsCheckingInterval: Math.min(1000, requestTimeout),
    },
    clientErrorHandler: clientErrorHandler(requestTimeout),
    frameworkErrors: frameworkError,
    schemaController: lazySchemaCompilers,
  });
  // Live streams never end by themselves, and close() waits for open connections: at
  // close each one sends what it has (a log stream its last chunks, and `end` when its
  // build is over) and ends, so a stop (a SIGTERM hand-over above all) exits at once;
  // clients resume elsewhere with Last-Event-ID. (A browser tab keeps one open for as
  // long as it shows a page.)
  const streams = new Set<SseStream>();
  app.addHook('preClose', async () => {
    await Promise.all([...streams].map((stream) => stream.finish()));
  });
  const hasUi = options.uiDir !== undefined && existsSync(join(options.uiDir, 'index.html'));
  if (options.onRoute) {
    const observe = options.onRoute;
    app.addHook('onRoute', (route) => {
      observe({ method: [route.method].flat(), url: route.url });
    });
  }
  // First of all: every route registered from here on, by anyone, needs the token unless
  // it is on the open list.
  installAuth(app, {
    adminToken: options.adminToken,
    metricsPublic: options.metricsPublic ?? false,
    ...(hasUi ? { uiDir: options.uiDir } : {}),
    throttle: createAuthThrottle(options.authThrottle ?? { failures: 10, windowMs: 60_000 }),
  });
  const metrics = createMetrics(controller);

  const answerError = createErrorHandler(log);
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isStoreFailure(error)) {
      // The store failed (a full disk, a damaged file): say so, and that it is temporary.
      const condition = store.health.condition();
      return reply
        .status(503)
        .send(
          errorBody(
            503,
            'store_unavailable',
            `the store cannot do this now: ${condition.state === 'ok' ? error.message : condition.reason}`,
          ),
        );
    }
    answerError(error, request, reply);
  });
  app.setNotFoundHandler((request, reply) => {
    // Client-side routes fall back to the app (a public file); API, hooks and health keep
    // their 404s, however the path is spelled.
    if (hasUi && request.method === 'GET' && !reservedPath(request.url))
      return reply.type('text/html; charset=utf-8').sendFile('index.html', options.uiDir);
    return reply
      .status(404)
      .send(
        errorBody(
          404,
          'not_found',
          `no route ${request.method} ${request.url}; see /api/v1/openapi.json`,
        ),
      );
  });

  app.addHook('onSend', (_request, reply, payload, done) => {
    void reply.header('content-security-policy', CSP);
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'no-referrer');
    done(null, payload);
  });
  if (hasUi) {
    await app.register(fastifyStatic, {
      root: options.uiDir!,
      prefix: '/',
      index: ['index.html'],
      wildcard: false,
    });
  }
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    // A trivial query, a fresh look at the file's pages (throttled) and the free space.
    const ping = await store.ping().then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    await store.health.check(true);
    const condition = store.health.condition();
    if (ping && (condition.state === 'ok' || condition.state === 'low_disk'))
      return reply.status(503).send({ status: 'not ready', reason: `store: ${ping.message}` });
    if (condition.state === 'unwritable' || condition.state === 'corrupt')
      return reply.status(503).send({ status: 'not ready', reason: `store: ${condition.reason}` });
    if (controller.isDraining)
      return reply.status(503).send({ status: 'not ready', reason: 'draining' });
    // Low on space: it serves, but starts nothing new (the queue says why).
    if (condition.state === 'low_disk')
      return { status: 'ready', dispatch: `paused: ${condition.reason}` };
    return { status: 'ready' };
  });
  app.get('/metrics', async (_request, reply) => {
    const { contentType, text } = await metrics.scrape();
    return reply.type(contentType).send(text);
  });
  app.get('/api/v1/openapi.json', () => openApiDocument(options.version));

  app.get('/api/v1/jobs', async () => {
    const jobs = await store.jobs.list();
    const last = await Promise.all(jobs.map((j) => store.builds.list({ job: j.name, limit: 1 })));
    return jobs.map((job, i) => ({
      ...jobView(job),
      lastBuild: last[i]![0] ? buildView(last[i]![0]) : null,
    }));
  });
  app.get<{ Params: { name: string } }>('/api/v1/jobs/:name', async (request) => {
    const job = await store.jobs.get(request.params.name);
    if (!job) fail(404, 'job_not_found', `there is no job "${request.params.name}"`);
    return jobView(job);
  });
  app.put<{ Params: { name: string } }>('/api/v1/jobs/:name', async (request, reply) => {
    const { name } = request.params;
    if (!JOB_NAME.test(name))
      fail(
        400,
        'invalid_name',
        `job name "${name}" may use letters, digits, ".", "_" and "-" (up to 63)`,
      );
    const body = parseBody(JobBody, request.body);
    checkJobSettings(body, options.resolveRef);
    const existing = await store.jobs.get(name);
    if (existing?.source === 'config')
      fail(
        409,
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
  });
  app.delete<{ Params: { name: string } }>('/api/v1/jobs/:name', async (request, reply) => {
    const job = await store.jobs.get(request.params.name);
    if (!job) fail(404, 'job_not_found', `there is no job "${request.params.name}"`);
    if (job.source === 'config')
      fail(
        409,
        'job_read_only',
        `job "${job.name}" is defined in the configuration file; remove it there`,
      );
    await store.jobs.remove(job.name);
    return reply.status(204).send();
  });

  app.post<{ Params: { name: string } }>('/api/v1/jobs/:name/builds', async (request, reply) => {
    const body = parseBody(TriggerBody, request.body);
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
    if (result.kind !== 'created') fail(409, 'not_triggered', 'the build was not created');
    return reply.status(201).send(buildView(result.build));
  });

  app.get<{ Querystring: { job?: string; status?: string; before?: string; limit?: string } }>(
    '/api/v1/builds',
    async (request) => {
      const limit = Math.min(200, Math.max(1, Number(request.query.limit ?? 50) || 50));
      const before = request.query.before ? idParam(request.query.before, 'before') : undefined;
      const builds = await store.builds.list({
        limit,
        ...(request.query.job ? { job: request.query.job } : {}),
        ...(request.query.status ? { status: request.query.status } : {}),
        ...(before ? { before } : {}),
      });
      return builds.map(buildView);
    },
  );
  app.get<{ Params: { id: string } }>('/api/v1/builds/:id', async (request) => {
    const detail = await controller.buildDetail(idParam(request.params.id, 'build'));
    if (!detail) fail(404, 'build_not_found', `there is no build ${request.params.id}`);
    return detailView(detail);
  });
  app.get<{ Params: { job: string; number: string } }>(
    '/api/v1/jobs/:job/builds/:number',
    async (request) => {
      const build = await store.builds.buildByNumber(
        request.params.job,
        idParam(request.params.number, 'build number'),
      );
      if (!build)
        fail(
          404,
          'build_not_found',
          `job ${request.params.job} has no build #${request.params.number}`,
        );
      return detailView((await controller.buildDetail(build.id))!);
    },
  );
  app.post<{ Params: { id: string } }>('/api/v1/builds/:id/cancel', async (request) =>
    buildView(await controller.cancel(idParam(request.params.id, 'build'))),
  );
  app.post<{ Params: { id: string }; Body: { failedOnly?: boolean } | undefined }>(
    '/api/v1/builds/:id/rerun',
    async (request) => {
      const failedOnly = request.body?.failedOnly === true;
      return buildView(await controller.rerun(idParam(request.params.id, 'build'), failedOnly));
    },
  );

  app.get<{
    Params: { id: string };
    Querystring: {
      attempt?: string;
      step?: string;
      after?: string;
      follow?: string;
      tail?: string;
      from?: string;
      to?: string;
    };
  }>('/api/v1/builds/:id/logs', async (request, reply) => {
    const buildId = idParam(request.params.id, 'build');
    const build = await store.builds.build(buildId);
    if (!build) fail(404, 'build_not_found', `there is no build ${buildId}`);
    const attemptId = request.query.attempt ? idParam(request.query.attempt, 'attempt') : undefined;
    const step = request.query.step !== undefined ? Number(request.query.step) : undefined;
    if (step !== undefined && !Number.isInteger(step))
      fail(400, 'invalid_step', 'step must be a number');
    const filter = {
      buildId,
      ...(attemptId ? { attemptId } : {}),
      ...(step !== undefined ? { step } : {}),
    };
    if (
      attemptId !== undefined &&
      step !== undefined &&
      (request.query.tail ?? request.query.from) !== undefined
    ) {
      // A window of one step's log: the tail, or [from, to). Huge logs open on their end.
      const size = await store.logs.size(attemptId, step);
      const tail = request.query.tail !== undefined ? Number(request.query.tail) : undefined;
      const from = tail !== undefined ? Math.max(0, size - tail) : Number(request.query.from);
      const to =
        request.query.to !== undefined ? Number(request.query.to) : Number.MAX_SAFE_INTEGER;
      if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0)
        fail(400, 'invalid_range', 'tail, from and to are byte counts or offsets');
      const chunks = await store.logs.range(attemptId, step, from, Math.max(from, to));
      return {
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
      };
    }
    const follow = request.query.follow === '1' || request.query.follow === 'true';
    const lastEventId = request.headers['last-event-id'];
    const after =
      Number(
        (Array.isArray(lastEventId) ? lastEventId[0] : lastEventId) ?? request.query.after ?? 0,
      ) || 0;
    if (!follow)
      return reply.type('text/plain; charset=utf-8').send(logDownload(store.logs, filter, after));
    return streamLogs(controller, request, reply, filter, after, streams);
  });

  app.get<{
    Params: { id: string };
    Querystring: { attempt?: string; step?: string; q?: string; limit?: string };
  }>('/api/v1/builds/:id/logs/search', async (request) => {
    const buildId = idParam(request.params.id, 'build');
    if (!(await store.builds.build(buildId)))
      fail(404, 'build_not_found', `there is no build ${buildId}`);
    const { q, attempt, step, limit } = request.query;
    if (attempt === undefined || step === undefined)
      fail(400, 'invalid_query', 'a log search needs ?attempt=ID&step=N&q=TEXT');
    const attemptId = idParam(attempt, 'attempt');
    const stepIndex = Number(step);
    if (!Number.isInteger(stepIndex)) fail(400, 'invalid_step', 'step must be a number');
    if (!q || q.length > 1000 || /[\r\n]/.test(q))
      fail(400, 'invalid_query', 'q is the text to find: one line of 1 to 1000 characters');
    const max = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(max) || max < 1 || max > 1000)
      fail(400, 'invalid_query', `limit "${limit}" must be a whole number from 1 to 1000`);
    const row = await store.builds.attempt(attemptId);
    if (row?.build_id !== buildId)
      fail(404, 'attempt_not_found', `build ${buildId} has no attempt ${attemptId}`);
    const found = await store.logs.search(attemptId, stepIndex, q, max);
    return {
      matches: found.matches,
      truncated: found.truncated,
      scanned: found.scanned,
      newlines: found.newlines,
    };
  });

  app.get<{ Params: { name: string }; Querystring: { branch?: string } }>(
    '/api/v1/jobs/:name/inputs',
    (request) => controller.manualInputs(request.params.name, request.query.branch),
  );
  if (options.credentials) await app.register(credentialRoutes(options.credentials));
  app.get('/api/v1/events', (request, reply) => streamEvents(controller, request, reply, streams));
  app.get('/api/v1/queue', () => controller.queue());
  app.get('/api/v1/agents', () => controller.agentsDetail());
  app.get<{ Params: { name: string } }>('/api/v1/jobs/:name/branches', (request) =>
    controller.branches(request.params.name),
  );
  app.get('/api/v1/triggers', () => ({
    schedules: options.schedules?.() ?? [],
    webhooks: PROVIDERS.map((provider) => `/hooks/${provider}/{job}`),
  }));
  app.post('/api/v1/config/reload', async () => {
    try {
      return await options.reload();
    } catch (error) {
      fail(400, 'invalid_config', (error as Error).message);
    }
  });

  // Webhooks: the raw body is kept for the signature check.
  await app.register((hooks, _opts, registered) => {
    hooks.removeAllContentTypeParsers();
    hooks.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: options.webhookBodyBytes },
      (_req, body, done) => {
        done(null, body);
      },
    );
    hooks.post<{ Params: { provider: string; job: string } }>(
      '/hooks/:provider/:job',
      async (request, reply) => {
        const provider = request.params.provider as Provider;
        if (!PROVIDERS.includes(provider))
          fail(
            404,
            'unknown_provider',
            `no webhook provider "${request.params.provider}" (use github, gitlab or gitea)`,
          );
        const job = await store.jobs.get(request.params.job);
        if (!job) fail(404, 'job_not_found', `there is no job "${request.params.job}"`);
        if (!job.webhookSecret)
          fail(
            403,
            'webhooks_disabled',
            `job "${job.name}" takes no webhooks: set its webhook_secret (jobs.${job.name}.webhook_secret in the configuration, or webhook_secret through the API) and sign deliveries with it`,
          );
        // A reference that cannot be resolved is the operator's problem: it is logged
        // under the request id, and the sender learns nothing about it (a plain Error
        // becomes the generic 500).
        const secret = resolveWebhookSecret(options.resolveRef, job.name, job.webhookSecret);
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        if (!verify(provider, request.headers, body, secret))
          fail(401, 'bad_signature', 'the signature or token is missing or wrong for this job');
        const parsed = parseDelivery(provider, request.headers, body, job.name);
        if (parsed.kind === 'invalid') fail(400, 'invalid_delivery', parsed.reason);
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
    registered();
  });

  return app;
}

/** No inline scripts or styles, nothing from elsewhere, no framing. */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface SseStream {
  res: FastifyReply['raw'];
  isClosed(): boolean;
  /** Ends the stream; runs the owner's clean-up once, whichever side ended it. */
  close(): void;
  /** Sends what is pending, then ends the stream (the server is closing). */
  finish(): Promise<void>;
  /** Resolves when the connection is gone. */
  done: Promise<void>;
}

/** Opens a Server-Sent Events stream on a hijacked reply, with a heartbeat. */
function openSse(
  streams: Set<SseStream>,
  request: FastifyRequest,
  reply: FastifyReply,
  onClose: () => void,
): SseStream {
  reply.hijack();
  const res = reply.raw;
  // A hijacked reply skips the onSend hook: its security headers are set here.
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
  });
  res.write('retry: 1000\n\n');
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    streams.delete(stream);
    clearInterval(heartbeat);
    onClose();
    res.end();
  };
  const stream: SseStream = {
    res,
    isClosed: () => closed,
    close,
    finish: () => Promise.resolve(close()),
    done: new Promise<void>((resolve) => res.on('close', resolve)),
  };
  streams.add(stream);
  request.raw.on('close', close);
  return stream;
}

/**
 * Everything that changes, for live pages: `build` events (the build's summary) and `queue`
 * events. The first change after a quiet spell goes out at once (a build that ended is
 * told without delay); what follows within 100 ms is coalesced into one write. Clients
 * refetch what they show; nothing polls.
 */
function streamEvents(
  controller: Controller,
  request: FastifyRequest,
  reply: FastifyReply,
  streams: Set<SseStream>,
): void {
  const builds = new Set<number>();
  let queue = false;
  let timer: NodeJS.Timeout | undefined;
  let flushed = 0;
  const onBuild = (id: number): void => {
    builds.add(id);
    schedule();
  };
  const onQueue = (): void => {
    queue = true;
    schedule();
  };
  const sse = openSse(streams, request, reply, () => {
    if (timer) clearTimeout(timer);
    controller.events.off('build', onBuild);
    controller.events.off('queue', onQueue);
  });
  const flush = async (): Promise<void> => {
    timer = undefined;
    flushed = Date.now();
    const ids = [...builds];
    builds.clear();
    let text = '';
    for (const id of ids) {
      const build = await controller.store.builds.build(id);
      if (build) text += `event: build\ndata: ${JSON.stringify(buildView(build))}\n\n`;
    }
    if (queue) text += 'event: queue\ndata: {}\n\n';
    queue = false;
    if (text && !sse.isClosed()) sse.res.write(text);
  };
  function schedule(): void {
    // A timer even when due now: the changes of one synchronous burst go out together.
    timer ??= setTimeout(
      () => void flush().catch(() => undefined),
      Math.max(0, flushed + 100 - Date.now()),
    );
  }
  controller.events.on('build', onBuild);
  controller.events.on('queue', onQueue);
}

/** Live logs over SSE: every stored chunk after `after`, then new ones as they arrive. */
async function streamLogs(
  controller: Controller,
  request: FastifyRequest,
  reply: FastifyReply,
  filter: { buildId: number; attemptId?: number; step?: number },
  after: number,
  streams: Set<SseStream>,
): Promise<void> {
  const store = controller.store;
  let last = after;
  let pending = false;
  let running: Promise<void> | undefined;
  const wake = (buildId: number): void => {
    if (buildId !== filter.buildId || sse.isClosed()) return;
    if (running) {
      pending = true;
      return;
    }
    running = pump()
      .catch(() => sse.close())
      .finally(() => {
        running = undefined;
        if (pending && !sse.isClosed()) wake(filter.buildId);
      });
  };
  const sse = openSse(streams, request, reply, () => {
    controller.events.off('log', wake);
    controller.events.off('build', wake);
  });
  sse.finish = async () => {
    // The server closes: the last chunks (and `end` when the build is over), then the end
    // of the stream; a client too slow to take them gets 2 s.
    wake(filter.buildId);
    const flushed = (async () => {
      while (running) await running;
    })();
    await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    sse.close();
  };
  const res = sse.res;
  const pump = async (): Promise<void> => {
    do {
      pending = false;
      for (;;) {
        const chunks = await store.logs.read({ ...filter, afterId: last, limit: 500 });
        if (chunks.length === 0 || sse.isClosed()) break;
        let text = '';
        for (const chunk of chunks) {
          text += `id: ${chunk.id}\nevent: log\ndata: ${JSON.stringify({
            attempt: chunk.attemptId,
            step: chunk.step,
            stream: chunk.stream,
            offset: chunk.offset,
            time: chunk.time,
            b64: chunk.data.toString('base64'),
          })}\n\n`;
          last = chunk.id;
        }
        if (!res.write(text)) await new Promise((resolve) => res.once('drain', resolve));
      }
      const build = await store.builds.build(filter.buildId);
      if (build && !sse.isClosed()) {
        res.write(`event: build\ndata: ${JSON.stringify(buildView(build))}\n\n`);
        if (FINISHED.has(build.status) && !pending) {
          // One more read: output stored just before the build finished.
          const rest = await store.logs.read({ ...filter, afterId: last, limit: 1 });
          if (rest.length === 0) {
            res.write('event: end\ndata: {}\n\n');
            sse.close();
            return;
          }
          pending = true;
        }
      }
    } while (pending && !sse.isClosed());
  };
  controller.events.on('log', wake);
  controller.events.on('build', wake);
  wake(filter.buildId);
  await sse.done;
}

/**
 * Settings given through the API are checked like the configuration file's: the pipeline
 * path (the same check) and that the webhook secret reference resolves now, not at the
 * first delivery.
 */
function checkJobSettings(
  body: { pipeline?: string | undefined; webhook_secret?: string | null | undefined },
  resolveRef: HttpOptions['resolveRef'],
): void {
  const problem = body.pipeline === undefined ? undefined : pipelinePathProblem(body.pipeline);
  if (problem) fail(400, 'invalid_pipeline_path', `pipeline: ${problem}`);
  if (body.webhook_secret) {
    try {
      resolveRef(body.webhook_secret, 'webhook_secret');
    } catch (error) {
      fail(400, 'invalid_webhook_secret', (error as Error).message);
    }
  }
}

function resolveWebhookSecret(
  resolveRef: HttpOptions['resolveRef'],
  job: string,
  ref: string,
): string {
  try {
    return resolveRef(ref, `jobs.${job}.webhook_secret`);
  } catch (error) {
    throw new Error(`webhook for job ${job}: ${(error as Error).message}`, { cause: error });
  }
}

/** True for paths of the API, webhooks and health, however they are percent-encoded. */
function reservedPath(url: string): boolean {
  let path = url.split('?')[0] ?? '/';
  try {
    path = decodeURIComponent(path);
  } catch {
    return true;
  }
  return /^\/+(\.\/+)*(api|hooks|healthz|readyz|metrics)(\/|$)/i.test(path);
}

export { OPENAPI_ROUTES };
