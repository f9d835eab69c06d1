/**
 * Shared parts of the browser tests: a real `slipway server` process on a real git
 * repository (one branch per scenario), Debian's Chromium through playwright-core, a
 * signed-in page that records script errors and Content-Security-Policy violations, and
 * small helpers that read what a user sees (computed colours, boxes, scroll positions).
 * Page scripts run in the browser: they reach the DOM as `globalThis as unknown as Win`.
 */
import { createServer } from 'node:net';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { startSlipway, type RunningCli } from '../support/cli.ts';
import { gitRepo, type Repo } from '../support/git.ts';
import { project } from '../support/project.ts';

export const SHOTS = join(import.meta.dirname, '..', '..', 'test-output', 'screenshots');

/** The parts of DOM objects the page scripts touch (the tests are compiled without DOM types). */
export interface El {
  getBoundingClientRect(): {
    left: number;
    right: number;
    top: number;
    bottom: number;
    width: number;
    height: number;
  };
  scrollTop: number;
  scrollHeight: number;
  scrollWidth: number;
  clientWidth: number;
  clientHeight: number;
  textContent: string | null;
  tabIndex: number;
  className: string;
  getAttribute(name: string): string | null;
  closest(selector: string): El | null;
  querySelector(selector: string): El | null;
  lastChild: El | null;
  firstChild: El | null;
}
/** The computed style properties the tests read. */
export interface Css {
  color: string;
  backgroundColor: string;
  stroke: string;
  strokeWidth: string;
  fill: string;
  outlineColor: string;
  outlineStyle: string;
  boxShadow: string;
  whiteSpace: string;
  getPropertyValue(name: string): string;
}
export interface Win {
  getComputedStyle(el: El): Css;
  document: {
    documentElement: El;
    activeElement: El | null;
    body: El;
    querySelector(s: string): El | null;
    querySelectorAll(s: string): ArrayLike<El>;
    createRange(): {
      setStart(node: El, offset: number): void;
      setEnd(node: El, offset: number): void;
      getBoundingClientRect(): { right: number; bottom: number };
    };
  };
  sessionStorage: { getItem(key: string): string | null };
}

export interface Harness {
  url: string;
  token: string;
  repo: Repo;
  dataDir: string;
  server: RunningCli;
  browser: Browser;
  /** Errors pages threw, and CSP violations they reported: both must stay empty. */
  problems: string[];
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
  trigger(branch: string, inputs?: Record<string, string>, job?: string): Promise<number>;
  waitForBuild(id: number): Promise<{ status: string; number: number; createdAt: number }>;
  page(options?: BrowserContextOptions): Promise<Page>;
  /** Stops the server (politely) and starts it again with these settings. */
  restart(options: { token: string }): Promise<void>;
  close(): Promise<void>;
}

/** A free TCP port on the loopback interface (for a server that must come back on the same URL). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Stops the server with SIGINT, as an operator would, while browser tabs may still be open. */
async function stop(server: RunningCli): Promise<void> {
  if (server.child.exitCode !== null) return;
  server.child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<'stuck'>((resolve) => {
    timer = setTimeout(() => resolve('stuck'), 30_000);
  });
  const result = await Promise.race([server.done, stuck]);
  clearTimeout(timer);
  if (result === 'stuck') {
    server.child.kill('SIGKILL');
    await server.done;
    throw new Error('the server did not stop within 30 s of SIGINT (an open browser tab?)');
  }
}

/**
 * Starts a controller on a repository whose branches hold the given pipelines (`main`
 * first), with `jobs` as extra configuration of the job list (all on that repository).
 */
export async function startHarness(options: {
  branches: Record<string, string>;
  jobs?: (repo: string) => string;
  token?: string;
}): Promise<Harness> {
  mkdirSync(SHOTS, { recursive: true });
  const entries = Object.entries(options.branches);
  const repo = gitRepo({ '.slipway.yml': entries[0]![1] });
  for (const [branch, pipeline] of entries.slice(1)) {
    repo.branch(entries[0]![0]);
    repo.branch(branch);
    repo.commit({ '.slipway.yml': pipeline }, `pipeline for ${branch}`);
  }
  repo.branch(entries[0]![0]);
  const jobs = options.jobs?.(repo.dir) ?? `jobs:\n  app:\n    repo: ${repo.dir}\n`;
  const dir = project({
    'slipway.server.yml': `agent:\n  executors: 4\n  pull: false\n${jobs}`,
  });
  const dataDir = join(dir, 'data');
  const port = await freePort();
  let token = options.token ?? 'ui-test-token';
  const start = async (): Promise<RunningCli> => {
    const server = startSlipway(
      [
        'server',
        '--config',
        join(dir, 'slipway.server.yml'),
        '--data-dir',
        dataDir,
        '--listen',
        `127.0.0.1:${port}`,
      ],
      { env: { SLIPWAY_ADMIN_TOKEN: token } },
    );
    await server.waitFor(/listening on (http:\/\/\S+)/, 60_000);
    return server;
  };
  let server = await start();
  const url = /listening on (http:\/\/\S+)/.exec(server.output())![1]!;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const problems: string[] = [];
  const harness: Harness = {
    url,
    get token() {
      return token;
    },
    repo,
    dataDir,
    get server() {
      return server;
    },
    browser,
    problems,
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return (await response.json()) as T;
    },
    async trigger(branch, inputs = {}, job = 'app') {
      const build = await harness.api<{ id: number }>('POST', `/api/v1/jobs/${job}/builds`, {
        branch,
        inputs,
      });
      if (typeof build.id !== 'number') throw new Error(`not triggered: ${JSON.stringify(build)}`);
      return build.id;
    },
    async waitForBuild(id) {
      for (;;) {
        const build = await harness.api<{ status: string; number: number; createdAt: number }>(
          'GET',
          `/api/v1/builds/${id}`,
        );
        if (['success', 'failure', 'error', 'canceled'].includes(build.status)) return build;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async page(contextOptions = {}) {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 900 },
        colorScheme: 'light',
        ...contextOptions,
      });
      const page = await context.newPage();
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text()))
          problems.push(`CSP: ${message.text()}`);
      });
      page.on('close', () => {
        context.close().catch(() => undefined);
      });
      await page.goto(`${url}/`);
      await page.getByLabel('Admin token').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      return page;
    },
    async restart(next) {
      await stop(server);
      token = next.token;
      server = await start();
    },
    async close() {
      await browser.close();
      await stop(server);
    },
  };
  return harness;
}
