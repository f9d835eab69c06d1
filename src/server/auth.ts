/**
 * Authentication, decided on the routed request, deny by default. An `onRoute` hook
 * marks every route as it is registered, by whoever registers it: open when it is on the
 * short list below, otherwise it needs the admin token. A first `onRequest` hook then
 * reads the mark of the route the router matched, so how the path was spelled
 * (`/%61pi/v1/...`, `/api/v%31/...`) does not matter: the router decoded it already. A
 * route without a mark needs the token too.
 *
 * Failed tokens are throttled per client address (auth-throttle.ts); tokens are compared
 * as SHA-256 digests with `timingSafeEqual`, so neither their bytes nor their length leak.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { resolve } from 'node:path';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { AuthThrottle } from './auth-throttle.ts';
import { ControllerError } from './api-error.ts';

export interface AuthOptions {
  adminToken: string;
  /** Serve `/metrics` without the token (`metrics.public` in the configuration). */
  metricsPublic: boolean;
  /** The web UI's directory: its static file routes are open. */
  uiDir?: string;
  throttle: AuthThrottle;
}

/** The route config key that holds the decision. */
const ACCESS = 'slipwayAccess';

/**
 * The routes anyone may call, as `METHOD url` in the router's own spelling. HEAD follows
 * GET. Webhooks check their own signature; the UI's static files are added by directory.
 */
export function openRoutes(metricsPublic: boolean): ReadonlySet<string> {
  return new Set([
    'GET /healthz',
    'GET /readyz',
    'POST /hooks/:provider/:job',
    ...(metricsPublic ? ['GET /metrics'] : []),
  ]);
}

function methods(route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map((m) =>
    m === 'HEAD' ? 'GET' : m,
  );
}

/** True when the route is on the open list (every one of its methods). */
function isOpen(
  route: RouteOptions,
  open: ReadonlySet<string>,
  uiDir: string | undefined,
): boolean {
  const all = methods(route);
  // @fastify/static marks each file route it makes with the directory it serves from.
  const config = route.config as { rootPath?: unknown } | undefined;
  const root = config?.rootPath;
  if (
    uiDir !== undefined &&
    typeof root === 'string' &&
    resolve(root) === resolve(uiDir) &&
    all.every((m) => m === 'GET')
  )
    return true;
  return all.every((m) => open.has(`${m} ${route.url}`));
}

/** Whether the given bearer token is the admin token, without leaking its bytes or length. */
export function tokenMatches(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), expectedDigest);
}

/** The token of an `Authorization: Bearer <token>` header; '' when there is none. */
function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  return /^Bearer +(\S+) *$/i.exec(header)?.[1] ?? '';
}

/**
 * Installs the two hooks. Call it right after creating the app, before any route or
 * plugin is registered, so that every route of every plugin passes the `onRoute` hook
 * and this `onRequest` hook runs before any other.
 */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const open = openRoutes(options.metricsPublic);
  const expected = createHash('sha256').update(options.adminToken).digest();
  app.addHook('onRoute', (route) => {
    route.config = {
      ...route.config,
      [ACCESS]: isOpen(route, open, options.uiDir),
    } as RouteOptions['config'];
  });
  app.addHook('onRequest', (request, reply, done) => {
    // No route matched: the not-found handler only serves the UI's index.html or a 404.
    if (request.is404) return done();
    if ((request.routeOptions.config as unknown as Record<string, unknown>)[ACCESS] === true)
      return done();
    const address = request.ip;
    const wait = options.throttle.retryAfter(address);
    if (wait > 0) {
      void reply.header('retry-after', String(wait));
      return done(
        new ControllerError(
          'too_many_requests',
          `too many wrong tokens from this address; try again in ${wait}s`,
        ),
      );
    }
    const token = bearer(request);
    if (token === undefined)
      return done(
        new ControllerError(
          'unauthorized',
          'this API needs the admin token: send "Authorization: Bearer <token>"',
        ),
      );
    if (!tokenMatches(token, expected)) {
      options.throttle.fail(address);
      return done(new ControllerError('unauthorized', 'the token is not valid'));
    }
    done();
  });
}
