/**
 * The HTTP face of the controller: creates the app, its hooks (authentication first,
 * security headers), the one error shape {statusCode, code, error, message}, the web UI's
 * files, the OpenAPI document, and registers the route plugins of src/server/api/ (one
 * per resource, typed by the contract in src/api/schemas.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { ReloadResult } from '../api/schemas.ts';
import type { CredentialVault } from '../credentials/vault.ts';
import { isStoreFailure } from '../store/health.ts';
import { buildRoutes } from './api/builds.ts';
import { configRoutes } from './api/config.ts';
import { credentialRoutes } from './api/credentials.ts';
import type { ApiContext } from './api/context.ts';
import { eventRoutes } from './api/events.ts';
import { CSP } from './api/headers.ts';
import { jobRoutes } from './api/jobs.ts';
import { logRoutes } from './api/logs.ts';
import { metaRoutes } from './api/meta.ts';
import { queueRoutes } from './api/queue.ts';
import type { SseStream } from './api/sse.ts';
import { webhookRoutes } from './api/webhooks.ts';
import { installAuth } from './auth.ts';
import { createAuthThrottle } from './auth-throttle.ts';
import type { Controller } from './controller.ts';
import {
  clientErrorHandler,
  createErrorHandler,
  errorBody,
  frameworkError,
  requestId,
} from './http-errors.ts';
import { lazySchemaCompilers } from './schema-compilers.ts';
import type { ScheduleEntry } from './schedules.ts';

export interface HttpOptions {
  controller: Controller;
  adminToken: string;
  webhookBodyBytes: number;
  /** Resolves a secret reference (`env:X`, `file:P`) for webhook checks. */
  resolveRef: (ref: string, key: string) => string;
  /** Re-reads the configuration; throws with a message when it is invalid. */
  reload: () => Promise<ReloadResult>;
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
  /** The credentials store; without it its routes answer `credentials_unavailable`. */
  credentials?: CredentialVault;
  /** Sees every route as it is registered (tests enumerate the routes with it). */
  onRoute?: (route: { method: string[]; url: string }) => void;
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
  // Routes are validated and their answers checked by their zod schemas (src/api/), so
  // fastify's own compilers (ajv, fast-json-stringify) are never loaded.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
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
  const ctx: ApiContext = {
    controller,
    streams,
    resolveRef: options.resolveRef,
    reload: options.reload,
    ...(options.schedules ? { schedules: options.schedules } : {}),
    webhookBodyBytes: options.webhookBodyBytes,
    metricsPublic: options.metricsPublic ?? false,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
  // The OpenAPI document is made from the routes registered after this (their schemas).
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Slipway controller API', version: options.version },
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } } },
      security: [{ adminToken: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  for (const routes of [
    metaRoutes,
    jobRoutes,
    buildRoutes,
    logRoutes,
    queueRoutes,
    eventRoutes,
    configRoutes,
    credentialRoutes,
    webhookRoutes,
  ])
    await app.register(routes, ctx);

  return app;
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
