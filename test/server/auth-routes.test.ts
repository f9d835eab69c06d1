/**
 * Authentication is decided on the routed request, deny by default. Every route the app
 * registers (collected as it is registered, so a route anyone adds later is covered) is
 * either on the short open list or refuses a request without a valid token, however its
 * path is spelled. Requests go over real sockets with raw paths: fetch and inject would
 * normalise the very spellings that used to get through (`/%61pi/v1/...`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, apiApp, type ApiApp } from '../support/api-app.ts';
import { rawRequest, type RawResponse } from '../support/raw-http.ts';

/** What may be called without the token; everything else must refuse. */
const OPEN = new Set([
  'GET /healthz',
  'HEAD /healthz',
  'GET /readyz',
  'HEAD /readyz',
  'POST /hooks/:provider/:job',
  // the UI's static files (this test's uiDir)
  'GET /',
  'HEAD /',
  'GET /index.html',
  'HEAD /index.html',
  'GET /assets/app.js',
  'HEAD /assets/app.js',
]);

/** Plausible values for route parameters; anything unknown gets "1". */
const PARAMS: Record<string, string> = {
  name: 'app',
  job: 'app',
  id: '1',
  number: '1',
  provider: 'github',
};

const BAD_CREDENTIALS: Record<string, Record<string, string>> = {
  'no token': {},
  'a wrong token': { authorization: 'Bearer wrong-token' },
  'the token with one more character': { authorization: `Bearer ${API_TOKEN}x` },
  'the token without its last character': { authorization: `Bearer ${API_TOKEN.slice(0, -1)}` },
  'the token as Basic credentials': {
    authorization: `Basic ${Buffer.from(`admin:${API_TOKEN}`).toString('base64')}`,
  },
};

function fill(url: string): string {
  return url.replace(/:(\w+)/g, (_m, name: string) => PARAMS[name] ?? '1').replace(/\*/g, 'x');
}

/** Every letter and digit of the path percent-encoded. */
function encodeAll(path: string, upper: boolean): string {
  return path.replace(/[A-Za-z0-9]/g, (c) => {
    const hex = c.charCodeAt(0).toString(16);
    return `%${upper ? hex.toUpperCase() : hex.toLowerCase()}`;
  });
}

interface Variant {
  name: string;
  path: string;
  /** The router still finds the route: the answer must be 401. */
  routes: boolean;
}

/** Spellings of one path: some reach the same route, others must find no route at all. */
function variants(path: string): Variant[] {
  const inner = (insert: string): string => path.replace(/^(\/[^/]+)\//, `$1${insert}`);
  const list: Variant[] = [
    { name: 'as is', path, routes: true },
    { name: 'upper-case hex', path: encodeAll(path, true), routes: true },
    { name: 'lower-case hex', path: encodeAll(path, false), routes: true },
  ];
  if (path.startsWith('/api/'))
    list.push(
      { name: '%61pi', path: path.replace('/api/', '/%61pi/'), routes: true },
      { name: 'a%70i', path: path.replace('/api/', '/a%70i/'), routes: true },
    );
  if (path.startsWith('/api/v1/'))
    list.push({ name: 'v%31', path: path.replace('/api/v1/', '/api/v%31/'), routes: true });
  list.push(
    { name: '%2F slashes', path: `/${path.slice(1).replaceAll('/', '%2F')}`, routes: false },
    { name: '%2f slash', path: inner('%2f'), routes: false },
    { name: 'double slash in front', path: `/${path}`, routes: false },
    { name: 'double slash inside', path: inner('//'), routes: false },
    { name: '/./ in front', path: `/.${path}`, routes: false },
    { name: '/./ inside', path: inner('/./'), routes: false },
    { name: '%2e segment', path: `/%2e${path}`, routes: false },
    { name: '.. segment', path: inner('/x/../'), routes: false },
    { name: 'trailing slash', path: `${path}/`, routes: false },
    { name: 'upper case', path: path.toUpperCase(), routes: false },
    { name: 'mixed case', path: path.replace(/[a-z]/, (c) => c.toUpperCase()), routes: false },
  );
  return list.filter((v, i) => v.path !== path || i === 0);
}

/** A refusal: our 401, or no route matched at all (so no handler ran). */
function refused(response: RawResponse, method: string, mustRoute: boolean): boolean {
  // HEAD answers have no body: the status is all there is.
  const code = method === 'HEAD' ? undefined : response.json?.code;
  if (response.status === 401) return method === 'HEAD' || code === 'unauthorized';
  if (mustRoute) return false;
  if (response.status === 404) return method === 'HEAD' || code === 'not_found';
  if (response.status === 400) return method === 'HEAD' || code === 'invalid_url';
  return false;
}

/** Runs the tasks with at most `width` at once (the machine is shared). */
async function pool<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

let api: ApiApp;
let base: string;
let uiDir: string;
const routes: { method: string; url: string }[] = [];

beforeAll(async () => {
  uiDir = mkdtempSync(join(tmpdir(), 'slipway-ui-'));
  writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>Slipway</title>');
  mkdirSync(join(uiDir, 'assets'));
  writeFileSync(join(uiDir, 'assets', 'app.js'), 'console.log(1);');
  api = await apiApp({
    uiDir,
    // This test sends thousands of wrong tokens on purpose; throttling has its own test.
    authThrottle: { failures: 1_000_000, windowMs: 60_000 },
    onRoute: (route) => {
      for (const method of route.method) routes.push({ method, url: route.url });
    },
  });
  base = await api.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api.close();
  rmSync(uiDir, { recursive: true, force: true });
});

describe('authentication on the routed request', () => {
  it('collects every route the app serves, the API, webhooks, health and UI files alike', () => {
    const keys = routes.map((r) => `${r.method} ${r.url}`);
    for (const expected of [
      'GET /api/v1/jobs',
      'PUT /api/v1/jobs/:name',
      'POST /api/v1/jobs/:name/builds',
      'GET /api/v1/builds/:id/logs',
      'GET /api/v1/events',
      'POST /api/v1/config/reload',
      'GET /api/v1/openapi.json',
      'GET /metrics',
      'POST /hooks/:provider/:job',
      'GET /assets/app.js',
    ])
      expect(keys).toContain(expected);
    // That every route is documented, and documented as open exactly when it is, is
    // test/server/openapi.test.ts.
  });

  it('refuses every route that is not on the open list without a valid token, however its path is spelled', async () => {
    const closed = routes.filter((r) => !OPEN.has(`${r.method} ${r.url}`));
    expect(closed.length).toBeGreaterThan(20);
    const tasks: (() => Promise<string | undefined>)[] = [];
    for (const route of closed)
      for (const variant of variants(fill(route.url)))
        for (const [credentials, headers] of Object.entries(BAD_CREDENTIALS))
          tasks.push(async () => {
            const what = `${route.method} ${variant.path} (${route.url}, ${variant.name}) with ${credentials}`;
            try {
              const response = await rawRequest(base, {
                method: route.method,
                path: variant.path,
                headers,
                timeoutMs: 5000,
                ...(route.method === 'POST' || route.method === 'PUT' ? { body: '{}' } : {}),
              });
              return refused(response, route.method, variant.routes)
                ? undefined
                : `${what}: ${response.status} ${response.body.slice(0, 120)}`;
            } catch (error) {
              // No answer: a handler is streaming to a client it should have refused.
              return `${what}: ${(error as Error).message}`;
            }
          });
    const failures = (await pool(tasks, 8)).filter((f) => f !== undefined);
    expect(failures).toEqual([]);
    expect(tasks.length).toBeGreaterThan(1000);
  }, 300_000);

  it('lets the right token through on every closed route (the refusals above are the token, not a missing route)', async () => {
    // HEAD twins of GET routes are left out: a HEAD of an event stream never sends its head.
    const closed = routes.filter((r) => !OPEN.has(`${r.method} ${r.url}`) && r.method !== 'HEAD');
    const answers = await pool(
      closed.map((route) => async () => {
        const response = await rawRequest(base, {
          method: route.method,
          path: fill(route.url).replace('/api/', '/%61pi/'),
          headers: { authorization: `Bearer ${API_TOKEN}` },
          // Streams (events, live logs) never end: the status line is the answer.
          headOnly: true,
          ...(route.method === 'POST' || route.method === 'PUT' ? { body: '{}' } : {}),
        });
        return `${route.method} ${route.url}: ${response.status}`;
      }),
      4,
    );
    expect(answers.filter((a) => / (401|429)$/.test(a))).toEqual([]);
  }, 120_000);

  it('serves the open routes without a token', async () => {
    for (const key of OPEN) {
      const [method, url] = key.split(' ') as [string, string];
      const response = await rawRequest(base, {
        method,
        path: fill(url),
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      // The webhook route checks its own signature (401 bad_signature), never the token.
      if (url.startsWith('/hooks/')) expect(response.json?.code).toBe('bad_signature');
      else expect({ key, status: response.status }).toEqual({ key, status: 200 });
    }
  });

  it('no longer queues a build or creates a job for a percent-encoded path without a token', async () => {
    const before = (await api.store.builds.list({ limit: 1000 })).length;
    const build = await rawRequest(base, {
      method: 'POST',
      path: '/%61pi/v1/jobs/app/builds',
      body: '{}',
    });
    expect(build.status).toBe(401);
    const job = await rawRequest(base, {
      method: 'PUT',
      path: '/%61pi/v1/jobs/evil',
      body: JSON.stringify({ repo: api.repo.dir }),
    });
    expect(job.status).toBe(401);
    expect(await api.store.jobs.get('evil')).toBeUndefined();
    expect((await api.store.builds.list({ limit: 1000 })).length).toBe(before);
  });

  it('answers unknown paths with 404 and falls back to the UI only outside the API, however it is spelled', async () => {
    const api404 = await rawRequest(base, { method: 'GET', path: '/%61pi/v1/nothing' });
    expect(api404.status).toBe(404);
    expect(api404.json).toMatchObject({ code: 'not_found' });
    for (const path of ['//api/v1/jobs', '/api%2Fv1/jobs', '/./api/v1/jobs', '/API/v1/jobs']) {
      const response = await rawRequest(base, { method: 'GET', path });
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
    }
    const client = await rawRequest(base, { method: 'GET', path: '/some/client/route' });
    expect(client.status).toBe(200);
    expect(client.body).toContain('<title>Slipway</title>');
  });
});

describe('throttling of wrong tokens', () => {
  it('answers 429 with Retry-After after N wrong tokens from an address, for that address only, until the window passes', async () => {
    const throttled = await apiApp({ authThrottle: { failures: 3, windowMs: 2000 } });
    try {
      const call = (remoteAddress: string, token?: string) =>
        throttled.app.inject({
          url: '/api/v1/jobs',
          remoteAddress,
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });
      // No token at all is not a guess: it is refused but not counted.
      for (let i = 0; i < 5; i++) expect((await call('192.0.2.1')).statusCode).toBe(401);
      expect((await call('192.0.2.1', API_TOKEN)).statusCode).toBe(200);
      for (let i = 0; i < 3; i++) expect((await call('192.0.2.1', 'guess')).statusCode).toBe(401);
      const locked = await call('192.0.2.1', API_TOKEN);
      expect(locked.statusCode).toBe(429);
      expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(2);
      const body = locked.json<{ message: string }>();
      expect(body).toMatchObject({
        statusCode: 429,
        code: 'too_many_requests',
        error: 'Too Many Requests',
      });
      expect(body.message).toMatch(/too many wrong tokens from this address; try again in \ds/);
      // Another address is not affected, and its success does not unlock the first.
      expect((await call('192.0.2.2', API_TOKEN)).statusCode).toBe(200);
      expect((await call('192.0.2.2', 'guess')).statusCode).toBe(401);
      expect((await call('192.0.2.1', API_TOKEN)).statusCode).toBe(429);
      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect((await call('192.0.2.1', API_TOKEN)).statusCode).toBe(200);
    } finally {
      await throttled.close();
    }
  });
});
