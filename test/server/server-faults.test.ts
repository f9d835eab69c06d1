/**
 * What a real `slipway server` process does when what it stands on is missing or broken:
 * no container engine at start, a store file that is damaged or not a store at all, a
 * page of the store damaged while it runs.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  fstatSync,
  mkdirSync,
  openSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { slipway } from '../support/cli.ts';
import { project } from '../support/project.ts';
import { gitRepo } from '../support/git.ts';
import { startTestServer, TOKEN, until } from '../support/server.ts';

describe('slipway server start-up faults (real process)', () => {
  it('refuses to start without a container engine unless agent.backend: process is chosen explicitly', async () => {
    const socket = `/tmp/slipway-no-engine-${randomBytes(4).toString('hex')}.sock`;
    const dir = project({
      'default.yml': 'jobs: {}\n',
      'process.yml': 'agent:\n  backend: process\n',
    });
    const env = { DOCKER_HOST: `unix://${socket}` };
    const refused = await slipway(
      ['server', '--config', join(dir, 'default.yml'), '--data-dir', join(dir, 'd1')],
      { env },
    );
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(
      `no container engine answers at unix://${socket} (DOCKER_HOST)`,
    );
    expect(refused.stderr).toMatch(/start dockerd/);
    expect(refused.stderr).toMatch(/agent\.backend: process/);
    expect(refused.stderr).toMatch(/\[SW_ENGINE_UNREACHABLE\]/);
    expect(refused.stderr).not.toMatch(/listening on/);

    // Chosen explicitly: it starts, and says loudly that builds are not isolated.
    const server = await startTestServer(join(dir, 'process.yml'), join(dir, 'd2'), env);
    expect(server.process.output()).toMatch(/WARNING: agent\.backend is process/);
    const agents = await server.get<{ backend: string }[]>('/api/v1/agents');
    expect(agents.map((a) => a.backend)).toEqual(['process']);
  });

  it('refuses a damaged store file, and a file that is not a store, with the file and what to do', async () => {
    const repo = gitRepo({ '.slipway.yml': 'jobs:\n  a:\n    image: x\n    steps: [echo]\n' });
    const dir = project({
      'slipway.server.yml': `agent:\n  enabled: false\njobs:\n  app:\n    repo: ${repo.dir}\n`,
    });
    const config = join(dir, 'slipway.server.yml');
    const good = join(dir, 'good');
    const server = await startTestServer(config, good);
    for (let i = 0; i < 20; i++)
      expect((await server.post('/api/v1/jobs/app/builds')).status).toBe(201);
    server.process.child.kill('SIGINT');
    await server.process.done;

    // A copy with some pages overwritten (the header page left alone).
    const damaged = join(dir, 'damaged');
    mkdirSync(damaged);
    copyFileSync(join(good, 'slipway.db'), join(damaged, 'slipway.db'));
    scribble(join(damaged, 'slipway.db'));
    const refused = await slipway(['server', '--config', config, '--data-dir', damaged], {
      env: { SLIPWAY_ADMIN_TOKEN: 'x' },
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `the store ${join(damaged, 'slipway.db')} is unusable: it is damaged`,
    );
    expect(refused.stderr).toMatch(/restore it from a backup/);
    expect(refused.stderr).toMatch(/\[SW_STORE_UNUSABLE\]/);
    expect(refused.stderr).not.toMatch(/internal error|SW_INTERNAL/);

    const foreign = join(dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'slipway.db'), 'these are my notes, not a database\n'.repeat(200));
    const notStore = await slipway(['server', '--config', config, '--data-dir', foreign], {
      env: { SLIPWAY_ADMIN_TOKEN: 'x' },
    });
    expect(notStore.code).toBe(2);
    expect(notStore.stderr).toMatch(
      /is unusable: it is damaged or not a SQLite database \(file is not a database\)/,
    );
    expect(notStore.stderr).toMatch(/\[SW_STORE_UNUSABLE\]/);
  });

  it('answers /readyz 503 with the reason when a page of the store is damaged while it runs, and stays up', async () => {
    const repo = gitRepo({ '.slipway.yml': 'jobs:\n  a:\n    image: x\n    steps: [echo]\n' });
    const dir = project({
      'slipway.server.yml': `agent:\n  enabled: false\njobs:\n  app:\n    repo: ${repo.dir}\n`,
    });
    const server = await startTestServer(join(dir, 'slipway.server.yml'), join(dir, 'data'));
    for (let i = 0; i < 20; i++)
      expect((await server.post('/api/v1/jobs/app/builds')).status).toBe(201);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    // Everything into the file (as the controller would do on its own), then damage it.
    const file = join(dir, 'data', 'slipway.db');
    // The page /readyz's trivial query reads is left whole: the damage must be found anyway.
    const db = new Database(file);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const meta = db
      .prepare("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'meta'")
      .pluck()
      .all() as number[];
    db.close();
    scribble(file, meta);

    const answer = await until('/readyz to fail', async () => {
      const response = await fetch(`${server.url}/readyz`);
      return response.status === 503 ? ((await response.json()) as { reason: string }) : undefined;
    });
    expect(answer.reason).toMatch(/^store: the store file is damaged \(SQLITE_CORRUPT/);
    expect(answer.reason).toMatch(/restore .*slipway\.db from a backup/);
    const builds = await fetch(`${server.url}/api/v1/builds`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(builds.status).toBe(503);
    expect(((await builds.json()) as { code: string }).code).toBe('store_unavailable');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(server.process.child.exitCode).toBeNull();
  });
});

/** Overwrites every page of a SQLite file with garbage but the first (header and schema) and `keep`. */
function scribble(file: string, keep: number[] = []): void {
  const fd = openSync(file, 'r+');
  try {
    const size = fstatSync(fd).size;
    const page = 4096;
    const garbage = Buffer.alloc(page, 0xa5);
    for (let offset = page; offset < size; offset += page)
      if (!keep.includes(offset / page + 1)) writeSync(fd, garbage, 0, page, offset);
  } finally {
    closeSync(fd);
  }
}
