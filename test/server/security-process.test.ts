/**
 * The controller's security edges on a real `slipway server` process: authentication of
 * raw, percent-encoded paths over real sockets (curl-like: the path is sent as written),
 * the modes of the files it creates, stalled requests dropped after
 * `limits.request_timeout`, and raw log downloads streamed instead of held in memory.
 * The embedded agent is off: builds stay queued, which is all these tests need.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.ts';
import { startSlipway, type RunningCli } from '../support/cli.ts';
import { gitRepo } from '../support/git.ts';
import { project } from '../support/project.ts';
import { rawRequest } from '../support/raw-http.ts';

let server: RunningCli;
let base: string;
let token: string;
let dataDir: string;

beforeAll(async () => {
  const repo = gitRepo({
    '.slipway.yml': 'jobs:\n  build:\n    image: slipway/busybox:1\n    steps: [echo hi]\n',
  });
  const dir = project({
    'slipway.server.yml': [
      'agent:',
      '  enabled: false',
      'limits:',
      '  request_timeout: 5s',
      'jobs:',
      '  app:',
      `    repo: ${repo.dir}`,
      '    webhook_secret: env:SLIPWAY_TEST_HOOK_SECRET',
      '',
    ].join('\n'),
  });
  // A data directory Slipway has to create (two levels), and no token given: it makes one.
  dataDir = join(dir, 'data', 'controller');
  server = startSlipway(
    [
      'server',
      '--config',
      join(dir, 'slipway.server.yml'),
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
    ],
    { env: { SLIPWAY_ADMIN_TOKEN: '', SLIPWAY_TEST_HOOK_SECRET: 'hook-secret' } },
  );
  await server.waitFor(/listening on (http:\/\/\S+)/, 60_000);
  base = /listening on (http:\/\/\S+)/.exec(server.output())![1]!;
  token = /shown only this once:\s+(\S+)/.exec(server.output())![1]!;
});

afterAll(async () => {
  if (server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGINT');
    await server.done;
  }
});

const auth = (): Record<string, string> => ({ authorization: `Bearer ${token}` });

describe('a real slipway server', () => {
  it('refuses percent-encoded API paths without a token, as sent by curl', async () => {
    const attempts: [string, string, string?][] = [
      ['POST', '/%61pi/v1/jobs/app/builds', '{}'],
      ['PUT', '/%61pi/v1/jobs/evil', JSON.stringify({ repo: '/tmp' })],
      ['PUT', '/a%70i/v1/jobs/evil', JSON.stringify({ repo: '/tmp' })],
      ['POST', '/api/v%31/jobs/app/builds', '{}'],
      ['POST', '/%61pi/v1/config/reload', '{}'],
      ['GET', '/%61pi/v1/builds/1/logs'],
      ['GET', '/%61pi/v1/events'],
      ['GET', '/%61pi/v1/openapi.json'],
      ['GET', '/metrics'],
    ];
    for (const [method, path, body] of attempts) {
      const response = await rawRequest(base, { method, path, ...(body ? { body } : {}) });
      expect({ method, path, status: response.status, code: response.json?.code }).toEqual({
        method,
        path,
        status: 401,
        code: 'unauthorized',
      });
    }
    expect((await rawRequest(base, { method: 'GET', path: '/healthz' })).status).toBe(200);
    const jobs = await rawRequest(base, { method: 'GET', path: '/api/v1/jobs', headers: auth() });
    expect(jobs.status).toBe(200);
    expect(jobs.body).not.toContain('evil');
    const builds = await rawRequest(base, {
      method: 'GET',
      path: '/api/v1/builds',
      headers: auth(),
    });
    expect(builds.body).toBe('[]');
  });

  it('creates its data directory 0700, and the store, its WAL files and the admin token 0600', () => {
    const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);
    expect(mode(dataDir)).toBe('700');
    expect(mode(join(dataDir, '..'))).toBe('700');
    for (const file of [
      'slipway.db',
      'slipway.db-wal',
      'slipway.db-shm',
      'admin-token',
      'credentials.key',
    ])
      expect({ file, mode: mode(join(dataDir, file)) }).toEqual({ file, mode: '600' });
    expect(readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()).toBe(token);
  });

  it('drops requests whose headers or body stall after limits.request_timeout, and stays responsive', async () => {
    const url = new URL(base);
    // A live event stream outlasts the timeout: only receiving a request is limited.
    let live = '';
    let liveClosed = false;
    const events = request({
      host: url.hostname,
      port: url.port,
      path: '/api/v1/events',
      headers: auth(),
      agent: false,
    });
    events.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (text: string) => (live += text));
      res.on('close', () => (liveClosed = true));
    });
    events.on('error', () => (liveClosed = true));
    events.end();
    const stalled: { socket: Socket; received: string; closedAt?: number }[] = [];
    const started = Date.now();
    for (let i = 0; i < 30; i++) {
      const socket = connect(Number(url.port), url.hostname);
      const entry: (typeof stalled)[number] = { socket, received: '' };
      socket.setEncoding('utf8');
      socket.on('data', (text: string) => (entry.received += text));
      socket.on('close', () => (entry.closedAt = Date.now()));
      socket.on('error', () => undefined);
      if (i % 3 === 0)
        // Headers that never end.
        socket.write('POST /hooks/github/app HTTP/1.1\r\nHost: x\r\nX-Github-Event: pu');
      else if (i % 3 === 1)
        // A webhook body that stops after ten bytes of a thousand.
        socket.write(
          'POST /hooks/github/app HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
            'X-GitHub-Event: push\r\nContent-Length: 1000\r\n\r\n{"ref": "r',
        );
      // An authenticated API call whose body stalls.
      else
        socket.write(
          `POST /api/v1/jobs/app/builds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"bra',
        );
      stalled.push(entry);
    }
    // While they hang, the server answers others at once.
    const healthStart = Date.now();
    expect((await rawRequest(base, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect(Date.now() - healthStart).toBeLessThan(1500);
    // 5 s timeout, checked every second: every socket is closed a few seconds later. (Not
    // shorter: on a loaded machine a new connection may wait that long for its first read.)
    const deadline = started + 20_000;
    while (stalled.some((s) => s.closedAt === undefined) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    for (const s of stalled) s.socket.destroy();
    const open = stalled.filter((s) => s.closedAt === undefined).length;
    expect(open).toBe(0);
    const latest = Math.max(...stalled.map((s) => s.closedAt! - started));
    expect(latest).toBeGreaterThanOrEqual(4500);
    expect(latest).toBeLessThan(20_000);
    for (const s of stalled)
      expect(s.received).toMatch(/^HTTP\/1\.1 408 .*"code":"request_timeout"/s);
    expect((await rawRequest(base, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect(live).toMatch(/^retry: /);
    expect(liveClosed).toBe(false);
    events.destroy();
  }, 60_000);

  it('streams a 40 MiB raw log to 10 clients at once without holding it in memory', async () => {
    // A queued build (no agent runs it) gets a 40 MiB log written straight into the store.
    const created = await rawRequest(base, {
      method: 'POST',
      path: '/api/v1/jobs/app/builds',
      headers: auth(),
      body: '{}',
    });
    expect(created.status).toBe(201);
    const buildId = created.json!.id as number;
    const detail = await rawRequest(base, {
      method: 'GET',
      path: `/api/v1/builds/${buildId}`,
      headers: auth(),
    });
    const attemptId = (detail.json as { jobRuns: { attempts: { id: number }[] }[] }).jobRuns[0]!
      .attempts[0]!.id;
    const chunkBytes = 256 * 1024;
    const chunks = 160;
    const logBytes = chunkBytes * chunks;
    const hash = createHash('sha256');
    const store = await openStore(join(dataDir, 'slipway.db'));
    try {
      for (let seq = 0; seq < chunks; seq++) {
        const line = `line of chunk ${seq} `.padEnd(63, '.') + '\n';
        const data = Buffer.from(line.repeat(chunkBytes / 64));
        hash.update(data);
        await store.logs.append({
          buildId,
          attemptId,
          step: 0,
          seq,
          offset: seq * chunkBytes,
          stream: 'stdout',
          data,
        });
      }
    } finally {
      await store.close();
    }
    const expected = hash.digest('hex');

    const pid = server.child.pid!;
    const rss = (): number =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);
    const url = new URL(base);
    const download = (): Promise<{ bytes: number; sha: string }> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: `/api/v1/builds/${buildId}/logs`,
            headers: auth(),
            agent: false,
          },
          (res) => {
            const digest = createHash('sha256');
            let bytes = 0;
            res.on('data', (data: Buffer) => {
              bytes += data.length;
              digest.update(data);
            });
            res.on('end', () => resolve({ bytes, sha: digest.digest('hex') }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      });
    const results = await Promise.all(Array.from({ length: 10 }, download));
    clearInterval(sampler);
    for (const result of results) expect(result).toEqual({ bytes: logBytes, sha: expected });
    const growth = peak - before;
    // Holding the log per request would add at least 10 × 40 MiB; a stream holds about a
    // page per client. The bound is generous (the machine is shared) yet far below that.
    expect(growth).toBeLessThan(logBytes * 2);
    console.log(
      `raw log download: ${logBytes / 1048576} MiB × 10 clients, server RSS ${(before / 1048576).toFixed(0)} → peak ${(peak / 1048576).toFixed(0)} MiB (+${(growth / 1048576).toFixed(0)} MiB)`,
    );
  }, 120_000);
});
