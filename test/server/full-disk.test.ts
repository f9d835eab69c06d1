/**
 * A full disk under a real `slipway server` process: its data directory is a small tmpfs
 * (this test mounts one, so it needs root) that a file fills while a build prints output.
 * The process lives, says why it is not ready, starts nothing new, marks the output it lost,
 * and comes back by itself when the file is deleted; the store stays intact. Then the
 * free-space threshold (`limits.min_free_disk`) pauses dispatch before the disk is full.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitRepo } from '../support/git.ts';
import { project } from '../support/project.ts';
import { startTestServer, until, type BuildJson } from '../support/server.ts';

const MiB = 1048576;
let mountPoint: string;

beforeAll(() => {
  mountPoint = mkdtempSync(join(tmpdir(), 'slipway-full-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mountPoint]);
});

afterAll(() => {
  execFileSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Writes zeros into `file` until the disk is full, or until `leave` bytes are left. */
function fill(file: string, leave = 0): void {
  const free = statfsSync(mountPoint).bavail * statfsSync(mountPoint).bsize;
  const count = Math.max(0, Math.floor((free - leave) / MiB));
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${leave ? count : 1000}`], {
      stdio: 'ignore',
    });
  } catch {
    // "No space left on device": that is the point.
  }
}

async function readyz(
  url: string,
): Promise<{ status: number; body: { status: string; reason?: string; dispatch?: string } }> {
  const response = await fetch(`${url}/readyz`);
  return {
    status: response.status,
    body: (await response.json()) as { status: string; reason?: string },
  };
}

const PIPELINE = `
jobs:
  talk:
    image: slipway/busybox:1
    network: offline
    steps:
      - i=0; while [ $i -lt \${{ build.number == 1 && '300' || '3' }} ]; do i=$((i+1)); echo "line $i"; sleep 0.1; done
`;

describe('a full disk under the store (real process, tmpfs data directory)', () => {
  it(
    'pauses, marks lost output, reports not ready, and recovers by itself; the threshold pauses dispatch early',
    { timeout: 240_000 },
    async () => {
      const repo = gitRepo({ '.slipway.yml': PIPELINE });
      const dir = project({
        'slipway.server.yml': `agent:\n  executors: 1\n  pull: false\nlimits:\n  min_free_disk: 8MiB\njobs:\n  app:\n    repo: ${repo.dir}\n`,
      });
      const data = join(mountPoint, 'data');
      const server = await startTestServer(join(dir, 'slipway.server.yml'), data);
      const trigger = async (): Promise<number> => {
        const created = await server.post<{ id: number }>('/api/v1/jobs/app/builds');
        expect(created.status).toBe(201);
        return created.body.id;
      };
      const first = await trigger();
      await until('build 1 to print', async () =>
        (await server.log(first)).includes('line 5') ? true : undefined,
      );
      const second = await trigger(); // waits: one executor

      const filler = join(mountPoint, 'fill');
      fill(filler);
      const notReady = await until('/readyz to say not ready', async () => {
        const answer = await readyz(server.url);
        return answer.status === 503 ? answer : undefined;
      });
      expect(notReady.body.reason).toMatch(
        /^store: the disk holding the store \(.*\) is full \(SQLITE_FULL\)/,
      );
      expect(notReady.body.reason).toMatch(/free space there and the controller resumes by itself/);
      expect(server.process.child.exitCode).toBeNull();
      const queue = await server.get<{ buildId: number; waitingFor: string }[]>('/api/v1/queue');
      expect(queue.find((q) => q.buildId === second)?.waitingFor).toMatch(
        /^dispatch is paused: the disk holding the store .* is full/,
      );
      const refused = await server.post<{ code: string; message: string }>(
        '/api/v1/jobs/app/builds',
      );
      expect(refused.status).toBe(503);
      expect(refused.body.code).toBe('store_unavailable');
      expect(refused.body.message).toMatch(/disk holding the store .* is full/);
      // The API reads on; nothing new started.
      expect((await server.get<BuildJson>(`/api/v1/builds/${second}`)).status).toBe('queued');
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect((await server.get<BuildJson>(`/api/v1/builds/${second}`)).status).toBe('queued');

      unlinkSync(filler);
      await until('/readyz to say ready again', async () =>
        (await readyz(server.url)).status === 200 ? true : undefined,
      );
      const done1 = await server.waitBuild(
        first,
        (b) => b.status !== 'running' && b.status !== 'queued',
      );
      expect(done1.status).toBe('success');
      const done2 = await server.waitBuild(
        second,
        (b) => b.status !== 'running' && b.status !== 'queued',
      );
      expect(done2.status).toBe('success');
      const log = await server.log(first);
      const marker =
        /\[slipway: output was lost here \([\d.]+ (KiB|bytes)\): the disk holding the store is full\]/;
      expect(log).toMatch(marker);
      // Before the marker: lines up to the fill; after it: lines printed once space returned.
      const [before, after] = log.split(marker);
      expect(before).toMatch(/line 5\n/);
      const lastBefore = Math.max(...[...before!.matchAll(/line (\d+)/g)].map((m) => Number(m[1])));
      const firstAfter = Number(/line (\d+)/.exec(log.slice(log.search(marker)))?.[1]);
      expect(firstAfter).toBeGreaterThan(lastBefore + 1);
      expect(after).toBeDefined();
      expect(log).toMatch(/line 300\n/);
      expect(server.process.output()).toMatch(/the store is fine again; dispatch resumes/);

      // The threshold: writes still work, but no new attempt starts while space is short.
      fill(filler, 4 * MiB);
      const third = await trigger();
      const waiting = await until('the queue to say why', async () => {
        const entries =
          await server.get<{ buildId: number; waitingFor: string }[]>('/api/v1/queue');
        const entry = entries.find((q) => q.buildId === third);
        return entry && /min_free_disk/.test(entry.waitingFor) ? entry : undefined;
      });
      expect(waiting.waitingFor).toMatch(
        /^dispatch is paused: free space under the store is [\d.]+ MiB, below limits\.min_free_disk \(8\.0 MiB\)/,
      );
      const low = await readyz(server.url);
      expect(low.status).toBe(200);
      expect(low.body.dispatch).toMatch(/^paused: free space under the store/);
      unlinkSync(filler);
      const done3 = await server.waitBuild(
        third,
        (b) => b.status !== 'running' && b.status !== 'queued',
      );
      expect(done3.status).toBe('success');

      // Stopped, the file is intact: every page readable, every build stored.
      server.process.child.kill('SIGINT');
      await server.process.done;
      const db = new Database(join(data, 'slipway.db'), { readonly: true });
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        expect(db.prepare('SELECT count(*) FROM builds').pluck().get()).toBe(3);
      } finally {
        db.close();
      }
    },
  );
});
