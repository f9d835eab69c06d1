/**
 * The command-line client against a real `slipway server` process and the real Docker
 * engine: following a build (`logs -f`, `trigger --follow`) keeps lines and UTF-8 whole,
 * resumes across a SIGKILL and restart of the controller, shows why a pipeline was refused;
 * output cannot drive the terminal; a reader that goes away ends the client quietly.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { slipway, startSlipway, type RunningCli } from '../support/cli.ts';
import { gitRepo } from '../support/git.ts';
import { project } from '../support/project.ts';

const TOKEN = 'cli-follow-test-token';
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'slipway.js');
const run = promisify(execFile);
/** Job names of their own: pods are named after the job, and other test runs share the engine. */
const ID = process.pid.toString(36);
/** Servers started by the running test (or by beforeAll), stopped after it. */
let servers: RunningCli[] = [];
const shared: RunningCli[] = [];

async function stopAll(list: RunningCli[]): Promise<void> {
  for (const server of list.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGINT');
      server.child.kill('SIGINT');
      await server.done;
    }
  }
}

afterEach(() => stopAll(servers));
afterAll(() => stopAll(shared));

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function startServer(config: string, dataDir: string, port: number): Promise<RunningCli> {
  const server = startSlipway(
    ['server', '--config', config, '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`],
    { env: { SLIPWAY_ADMIN_TOKEN: TOKEN } },
  );
  servers.push(server);
  await server.waitFor(/listening on http/, 60_000);
  return server;
}

const env = (url: string): NodeJS.ProcessEnv => ({ SLIPWAY_SERVER: url, SLIPWAY_TOKEN: TOKEN });

async function get<T>(url: string, path: string): Promise<T> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await response.json()) as T;
}

async function buildStatus(url: string, id: number): Promise<string> {
  return (await get<{ status: string }>(url, `/api/v1/builds/${id}`)).status;
}

const UTF8_LINES = 2000;
/** A line of the UTF-8 job; two-, three- and four-byte characters around its number. */
const utf8Line = (i: number): string => `line ${i}: ünïcødé ✓ 日本語 🚀 end ${i}`;

const job = (steps: string[]): string =>
  `jobs:\n  work:\n    image: slipway/busybox:1\n    network: offline\n    checkout: false\n    steps:\n${steps
    .map((s) => `      - |\n        ${s}\n`)
    .join('')}`;

describe('following a build from the command line (real controller, real Docker)', () => {
  let url = '';

  beforeAll(async () => {
    const repos = {
      utf8: gitRepo({
        '.slipway.yml': job([
          `i=0; while [ $i -lt ${UTF8_LINES} ]; do echo "line $i: ünïcødé ✓ 日本語 🚀 end $i"; i=$((i+1)); done; printf 'no line end ✓'`,
          'echo second step',
        ]),
      }),
      bad: gitRepo({
        '.slipway.yml':
          'jobs:\n  build:\n    image: slipway/busybox:1\n    stpes:\n      - echo hi\n',
      }),
      hostile: gitRepo({
        '.slipway.yml': job([
          String.raw`printf 'a\033[2J\033[H\033]52;c;cHduZWQ=\007\033]8;;http://evil.example/\033\\link\033]8;;\033\\ \033[31mred\033[0m \033[?1049h\033[5Aend\n'`,
        ]),
      }),
      big: gitRepo({
        '.slipway.yml': job([
          'i=0; while [ $i -lt 40000 ]; do echo "line $i of a log longer than any pipe buffer"; i=$((i+1)); done',
        ]),
      }),
    };
    const dir = project({
      'slipway.server.yml': `agent:\n  pull: false\n  executors: 2\njobs:\n${Object.entries(repos)
        .map(([name, repo]) => `  ${name}${ID}:\n    repo: ${repo.dir}\n`)
        .join('')}`,
    });
    const port = await freePort();
    servers = shared;
    await startServer(join(dir, 'slipway.server.yml'), join(dir, 'data'), port);
    servers = [];
    url = `http://127.0.0.1:${port}`;
  }, 120_000);

  it('prints every line whole, multi-byte characters intact, however the output was cut into chunks', async () => {
    const followed = await slipway(['trigger', `utf8${ID}`, '--follow'], { env: env(url) });
    expect(followed.stderr).toMatch(/build utf8[a-z0-9]+#1: success/);
    expect(followed.code, followed.stderr).toBe(0);
    const logged = await slipway(['logs', `utf8${ID}#1`], { env: env(url) });
    // The stored log really is in many chunks, so there were cuts to get wrong.
    const detail = await get<{
      jobRuns: { attempts: { id: number; steps: { index: number; logBytes: number }[] }[] }[];
    }>(url, '/api/v1/builds/1');
    const attempt = detail.jobRuns[0]!.attempts[0]!;
    const loud = attempt.steps.reduce((a, b) => (b.logBytes > a.logBytes ? b : a));
    const window = await get<{ chunks: unknown[] }>(
      url,
      `/api/v1/builds/1/logs?attempt=${attempt.id}&step=${loud.index}&from=0`,
    );
    expect(window.chunks.length).toBeGreaterThan(3);

    for (const [what, stdout] of [
      ['trigger --follow', followed.stdout],
      ['logs', logged.stdout],
    ] as const) {
      const lines = stdout.split('\n');
      const step = lines.filter((l) => /^\[work:\d+\] /.test(l) && !l.includes('second step'));
      expect(new Set(step.map((l) => l.slice(0, l.indexOf(']') + 1))).size, what).toBe(1);
      expect(
        step.map((l) => l.slice(l.indexOf(']') + 2)),
        what,
      ).toEqual([...Array.from({ length: UTF8_LINES }, (_, i) => utf8Line(i)), 'no line end ✓']);
      expect(stdout, what).toMatch(/^\[work:\d+\] second step$/m);
      expect(stdout, what).not.toContain('\ufffd');
    }
  }, 180_000);

  it("shows a refused pipeline's diagnostics with file:line:col and the source line", async () => {
    const followed = await slipway(['trigger', `bad${ID}`, '--follow'], { env: env(url) });
    expect(followed.code, followed.stderr).toBe(3);
    expect(followed.stderr).toMatch(/build bad[a-z0-9]+#1: error/);
    expect(followed.stderr).toMatch(
      /\.slipway\.yml:4:5: error\[[a-z-]+\]: .*"stpes".*did you mean "steps"/,
    );
    expect(followed.stderr).toContain(' 4 |     stpes:');
    expect(followed.stderr).toMatch(/ {2}\| {5}\^{5}/);
    const logs = await slipway(['logs', `bad${ID}#1`, '-f'], { env: env(url) });
    expect(logs.code).toBe(3);
    expect(logs.stderr).toContain(' 4 |     stpes:');
    const printed = await slipway(['logs', `bad${ID}#1`], { env: env(url) });
    expect(printed.stderr).toMatch(/\.slipway\.yml:4:5: error/);
  }, 120_000);

  it("keeps a build's escape sequences from driving the terminal: colours only, and none to a pipe", async () => {
    const followed = await slipway(['trigger', `hostile${ID}`, '--follow'], { env: env(url) });
    expect(followed.code, followed.stderr).toBe(0);
    const line = /^\[work:\d+\] .*$/m.exec(followed.stdout)?.[0];
    expect(line).toMatch(/^\[work:\d+\] alink red end$/);
    // A terminal (a pty made by script(1)) gets the colour and nothing else.
    const { stdout: tty } = await run(
      'script',
      ['-qec', `${process.execPath} ${BIN} logs hostile${ID}#1`, '/dev/null'],
      { env: { ...process.env, ...env(url), NO_COLOR: '' } },
    );
    expect(tty).toContain('alink \u001b[31mred\u001b[0m end');
    for (const sequence of [
      '\u001b[2J',
      '\u001b]52',
      '\u001b]8',
      '\u001b[?1049h',
      '\u001b[5A',
      '\u001b[H',
    ])
      expect(tty).not.toContain(sequence);
    // --raw keeps the bytes as they are.
    const raw = await slipway(['logs', `hostile${ID}#1`, '--raw'], { env: env(url) });
    expect(raw.stdout).toContain('\u001b]52;c;cHduZWQ=\u0007');
    expect(raw.stdout).toContain('\u001b[2J');
    const rawFollowed = await slipway(['logs', '-f', `hostile${ID}#1`, '--raw'], { env: env(url) });
    expect(rawFollowed.code).toBe(0);
    expect(rawFollowed.stdout).toContain('\u001b]52;c;cHduZWQ=\u0007');
  }, 120_000);

  it('ends quietly when the reader goes away (`| head`), for the commands that print a lot', async () => {
    const big = await slipway(['trigger', `big${ID}`, '--follow'], { env: env(url) });
    expect(big.code, big.stderr).toBe(0);
    const dir = project({});
    for (const args of [
      ['logs', `big${ID}#1`],
      ['logs', `big${ID}#1`, '--raw'],
      ['logs', '-f', `big${ID}#1`],
    ]) {
      const err = join(dir, 'stderr.txt');
      const { stdout } = await run(
        'bash',
        [
          '-c',
          `"$0" "$@" 2>${err} | head -n 3; echo "status \${PIPESTATUS[0]}"`,
          process.execPath,
          BIN,
          ...args,
        ],
        { env: { ...process.env, ...env(url) } },
      );
      // The agent's line, then the step's first two; then the reader is gone.
      expect(stdout, args.join(' ')).toMatch(
        /^[^\n]*\n[^\n]*line 0 of a log[^\n]*\n[^\n]*line 1 of a log[^\n]*\nstatus 141\n$/,
      );
      expect(readFileSync(err, 'utf8'), args.join(' ')).toBe('');
    }
  }, 180_000);
});

describe('following a build across a controller crash (real controller, real Docker)', () => {
  it("resumes after SIGKILL and restart: no line lost or repeated, and the exit code is the build's", async () => {
    const repo = gitRepo({
      '.slipway.yml': job([
        `i=0; while [ $i -lt 30 ]; do echo "tick $i ✓"; i=$((i+1)); sleep 0.2; done; printf 'half a line ✓'; sleep 2; echo ' and the rest'`,
        'echo after; exit 3',
      ]),
    });
    const dir = project({
      'slipway.server.yml': `agent:\n  pull: false\njobs:\n  crash${ID}:\n    repo: ${repo.dir}\n`,
    });
    const config = join(dir, 'slipway.server.yml');
    const data = join(dir, 'data');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await startServer(config, data, port);
    expect((await slipway(['trigger', `crash${ID}`], { env: env(url) })).code).toBe(0);
    const follower = startSlipway(['logs', '-f', `crash${ID}#1`], { env: env(url) });
    await follower.waitFor(/tick 5 ✓/, 60_000);
    first.child.kill('SIGKILL');
    await first.done;
    await follower.waitFor(/lost the log stream of build 1: .*; reconnecting/, 30_000);
    await startServer(config, data, port);
    const result = await follower.done;
    expect(result.stderr).toMatch(/reconnected to/);
    expect(await buildStatus(url, 1)).toBe('failure');
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n').filter((l) => /^\[work:\d+\] /.test(l));
    expect(lines.map((l) => l.replace(/^\[work:\d+\] /, ''))).toEqual([
      ...Array.from({ length: 30 }, (_, i) => `tick ${i} ✓`),
      'half a line ✓ and the rest',
      'after',
    ]);
  }, 180_000);

  it('keeps following through a SIGTERM hand-over, which exits at once even with followers connected', async () => {
    const name = `handover${ID}`;
    const repo = gitRepo({
      '.slipway.yml': job(['echo "before ✓"; sleep 6; echo "after ✓"']),
    });
    const dir = project({
      'slipway.server.yml': `agent:\n  pull: false\njobs:\n  ${name}:\n    repo: ${repo.dir}\n`,
    });
    const config = join(dir, 'slipway.server.yml');
    const data = join(dir, 'data');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await startServer(config, data, port);
    expect((await slipway(['trigger', name], { env: env(url) })).code).toBe(0);
    const follower = startSlipway(['logs', '-f', `${name}#1`], { env: env(url) });
    await follower.waitFor(/before ✓/, 60_000);
    first.child.kill('SIGTERM');
    expect((await first.done).code).toBe(0);
    // It exited while the step still ran: the pod is there, running, to be adopted.
    const { stdout: pods } = await run('docker', [
      'ps',
      '-q',
      '--filter',
      `label=dev.slipway.creator=controller:${readFileSync(join(data, 'controller-id'), 'utf8').trim()}`,
      '--filter',
      'status=running',
    ]);
    expect(pods.trim()).not.toBe('');
    await startServer(config, data, port);
    const result = await follower.done;
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => /^\[work:\d+\] /.test(l));
    expect(lines.map((l) => l.replace(/^\[work:\d+\] /, ''))).toEqual(['before ✓', 'after ✓']);
  }, 180_000);

  it('on SIGINT waits for the running build, ends its followers with it, and exits with a UI stream open', async () => {
    const repo = gitRepo({ '.slipway.yml': job(['echo "one ✓"; sleep 3; echo "two ✓"']) });
    const dir = project({
      'slipway.server.yml': `agent:\n  pull: false\njobs:\n  sigint${ID}:\n    repo: ${repo.dir}\n`,
    });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = await startServer(join(dir, 'slipway.server.yml'), join(dir, 'data'), port);
    // What an open web UI tab holds: the live events stream.
    const events = await fetch(`${url}/api/v1/events`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(events.status).toBe(200);
    const reading = (async () => {
      for await (const piece of events.body!) void piece;
    })().catch(() => undefined);
    expect((await slipway(['trigger', `sigint${ID}`], { env: env(url) })).code).toBe(0);
    const follower = startSlipway(['logs', '-f', `sigint${ID}#1`], { env: env(url) });
    await follower.waitFor(/one ✓/, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}\nserver:\n${server.output()}`);
    });
    server.child.kill('SIGINT');
    expect((await server.done).code).toBe(0);
    await reading;
    const result = await follower.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/lost the log stream/);
    expect(result.stdout).toMatch(/one ✓\n.*two ✓\n/s);
    expect(await slipway(['builds'], { env: env(url) })).toMatchObject({ code: 2 });
  }, 120_000);

  it('gives up with a clear message when the controller does not come back', async () => {
    const repo = gitRepo({ '.slipway.yml': job(['sleep 5']) });
    const dir = project({
      'slipway.server.yml': `agent:\n  pull: false\njobs:\n  giveup${ID}:\n    repo: ${repo.dir}\n`,
    });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = await startServer(join(dir, 'slipway.server.yml'), join(dir, 'data'), port);
    expect((await slipway(['trigger', `giveup${ID}`], { env: env(url) })).code).toBe(0);
    const follower = startSlipway(['logs', '-f', `giveup${ID}#1`, '--reconnect-for', '2s'], {
      env: env(url),
    });
    await follower.waitFor(/\[work\] /, 60_000);
    server.child.kill('SIGKILL');
    await server.done;
    const result = await follower.done;
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /gave up following build 1: no controller at http:\/\/127\.0\.0\.1:\d+ for \d+s .*follow it again with `slipway logs -f 1` \[SW_SERVER_UNREACHABLE\]/,
    );
    // The pod runs on; a controller started again adopts it and the build ends.
    await startServer(join(dir, 'slipway.server.yml'), join(dir, 'data'), port);
    for (
      let status = await buildStatus(url, 1);
      !['success', 'failure', 'error'].includes(status);
      status = await buildStatus(url, 1)
    )
      await new Promise((resolve) => setTimeout(resolve, 200));
  }, 120_000);
});
