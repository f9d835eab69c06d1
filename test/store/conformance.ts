/**
 * The store's conformance suite: what every driver must do, aggregate by aggregate, written
 * against the ports of `src/store/ports.ts` only. It runs against the embedded SQLite
 * driver (in memory and on disk); a PostgreSQL driver runs the same suite by passing its
 * own `open`.
 */
import { describe, expect, it } from 'vitest';
import { queuedAttempt, type NewBuild } from '../../src/store/builds.ts';
import type { CredentialRow, Store } from '../../src/store/ports.ts';

export function storeConformance(name: string, open: () => Promise<Store>): void {
  const job = {
    name: 'app',
    repo: '/srv/git/app',
    branches: ['main'],
    defaultBranch: 'main',
    pipelinePath: '.slipway.yml',
    concurrency: 2,
    cancelOlder: true,
    schedules: [{ cron: '0 3 * * *', timezone: 'UTC', branch: null }],
    webhookSecret: 'env:HOOK',
    source: 'config' as const,
  };
  const newBuild =
    (jobName: string, runs: string[] = ['a', 'b']) =>
    (): NewBuild => ({
      build: {
        job: jobName,
        status: 'queued',
        reason: '',
        cause: 'api',
        cause_detail: 'test',
        event: 'manual',
        branch: 'main',
        tag: null,
        pr: null,
        sha: 'a'.repeat(40),
        inputs: '{}',
        diagnostics: '[]',
        pipeline_text: null,
        cancel_requested: 0,
        created_at: 1,
        started_at: null,
        finished_at: null,
      },
      jobRuns: runs.map((run, ordinal) => ({
        name: run,
        ordinal,
        stage: ordinal,
        needs: '[]',
        status: 'waiting',
        outcome: null,
        reason: '',
        plan_job: '{}',
        labels: '',
        created_at: 1,
        started_at: null,
        finished_at: null,
      })),
    });
  const attempt = (jobRunId: number, buildId: number, number = 1) =>
    queuedAttempt({ jobRunId, buildId, number, queuedAt: 1 });

  describe(`store conformance: ${name}`, () => {
    it('jobs: put, get, list, replace and remove, with every field kept', async () => {
      const store = await open();
      await store.jobs.put(job, 10);
      expect(await store.jobs.get('app')).toEqual({ ...job, createdAt: 10, updatedAt: 10 });
      await store.jobs.put({ ...job, concurrency: null, cancelOlder: false }, 20);
      expect(await store.jobs.get('app')).toMatchObject({
        concurrency: null,
        cancelOlder: false,
        createdAt: 10,
        updatedAt: 20,
      });
      await store.jobs.put({ ...job, name: 'other', source: 'api' }, 30);
      expect((await store.jobs.list()).map((j) => j.name)).toEqual(['app', 'other']);
      expect(await store.jobs.remove('other')).toBe(true);
      expect(await store.jobs.remove('other')).toBe(false);
      expect(await store.jobs.get('other')).toBeUndefined();
      await store.close();
    });

    it('builds: numbers are per job, gap-free and unique even when created at once', async () => {
      const store = await open();
      const made = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.builds.create(newBuild(i % 2 ? 'one' : 'two'), (_tx, build) =>
            Promise.resolve(build),
          ),
        ),
      );
      for (const jobName of ['one', 'two'])
        expect(
          made
            .filter((b) => b.job === jobName)
            .map((b) => b.number)
            .sort((a, b) => a - b),
        ).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect((await store.builds.jobRuns(made[0]!.id)).map((r) => r.name)).toEqual(['a', 'b']);
      expect(await store.builds.buildByNumber('one', 3)).toMatchObject({ job: 'one', number: 3 });
      await store.close();
    });

    it('builds: a failure inside the transaction stores nothing', async () => {
      const store = await open();
      await expect(
        store.builds.create(newBuild('app'), () => Promise.reject(new Error('boom'))),
      ).rejects.toThrow('boom');
      expect(await store.builds.list({ limit: 10 })).toEqual([]);
      await store.close();
    });

    it('queue: queued attempts by priority then age; a claim is taken once', async () => {
      const store = await open();
      const build = await store.builds.create(newBuild('app', ['a', 'b', 'c']), (_tx, b) =>
        Promise.resolve(b),
      );
      const runs = await store.builds.jobRuns(build.id);
      const low = await store.builds.addAttempt(attempt(runs[0]!.id, build.id));
      const high = await store.builds.addAttempt({
        ...attempt(runs[1]!.id, build.id),
        priority: 5,
      });
      await store.builds.addAttempt(attempt(runs[2]!.id, build.id));
      expect((await store.builds.queued()).map((q) => q.id)).toEqual([high.id, low.id, low.id + 2]);
      const claims = await Promise.all([
        store.builds.claim(low.id, 'x', 2, 3, 4),
        store.builds.claim(low.id, 'y', 2, 3, 4),
      ]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.builds.attempt(low.id)).toMatchObject({
        status: 'running',
        started_at: 2,
        lease_until: 3,
        deadline: 4,
      });
      expect((await store.builds.running()).map((a) => a.id)).toEqual([low.id]);
      expect(await store.builds.countByStatus()).toEqual({ queued: 2, running: 1 });
      await store.close();
    });

    it('leases: renewed only for running attempts; expired ones are found by the time', async () => {
      const store = await open();
      const build = await store.builds.create(newBuild('app', ['a', 'b', 'c']), (_tx, b) =>
        Promise.resolve(b),
      );
      const runs = await store.builds.jobRuns(build.id);
      const [a, b, c] = await Promise.all(
        runs.map((run) => store.builds.addAttempt(attempt(run.id, build.id))),
      );
      expect(await store.builds.claim(a!.id, 'x', 10, 100, 1000)).toBe(true);
      expect(await store.builds.claim(b!.id, 'y', 10, 200, 1000)).toBe(true);
      expect(await store.builds.expiredLeases(150)).toMatchObject([{ id: a!.id, agent: 'x' }]);
      expect(await store.builds.expiredLeases(100)).toEqual([]);
      // A queued attempt has no lease to renew; a running one gets the new time.
      await store.builds.renewLeases([a!.id, c!.id], 300);
      expect(await store.builds.attempt(a!.id)).toMatchObject({ lease_until: 300 });
      expect(await store.builds.attempt(c!.id)).toMatchObject({
        status: 'queued',
        lease_until: null,
      });
      expect((await store.builds.expiredLeases(250)).map((r) => r.id)).toEqual([b!.id]);
      // An ended attempt is never expired, whatever its lease said.
      await store.builds.updateAttempt(b!.id, { status: 'success', outcome: 'success' });
      expect(await store.builds.expiredLeases(10_000)).toMatchObject([{ id: a!.id }]);
      await store.builds.renewLeases([], 1);
      await store.close();
    });

    it('builds: a list by status finds that status only, and an unknown word finds nothing', async () => {
      const store = await open();
      const first = await store.builds.create(newBuild('app'), (_tx, b) => Promise.resolve(b));
      await store.builds.create(newBuild('app'), (_tx, b) => Promise.resolve(b));
      await store.builds.updateBuild(first.id, { status: 'failure', finished_at: 5 });
      expect((await store.builds.list({ status: 'failure', limit: 10 })).map((b) => b.id)).toEqual([
        first.id,
      ]);
      expect(await store.builds.list({ status: 'queued', limit: 10 })).toHaveLength(1);
      expect(await store.builds.list({ status: 'bogus', limit: 10 })).toEqual([]);
      expect((await store.builds.unfinishedBuilds()).map((b) => b.id)).not.toContain(first.id);
      await store.close();
    });

    it('steps: a finish keeps the start time', async () => {
      const store = await open();
      const build = await store.builds.create(newBuild('app', ['a']), (_tx, b) =>
        Promise.resolve(b),
      );
      const run = (await store.builds.jobRuns(build.id))[0]!;
      const a = await store.builds.addAttempt(attempt(run.id, build.id));
      const step = {
        attempt_id: a.id,
        idx: 0,
        name: 's',
        status: 'running' as const,
        outcome: null,
        reason: '',
        exit_code: null,
        log_bytes: 0,
        truncated: 0,
        started_at: 100,
        finished_at: null,
      };
      await store.builds.putStep(step);
      await store.builds.putStep({
        ...step,
        status: 'success',
        outcome: 'success',
        exit_code: 0,
        started_at: null,
        finished_at: 200,
      });
      expect((await store.builds.steps([a.id]))[0]).toMatchObject({
        status: 'success',
        started_at: 100,
        finished_at: 200,
        exit_code: 0,
      });
      await store.close();
    });

    it('logs: a re-sent chunk is ignored; reads resume after an id; byte windows are exact', async () => {
      const store = await open();
      const chunk = (seq: number, offset: number, text: string) => ({
        buildId: 1,
        attemptId: 7,
        step: 0,
        seq,
        offset,
        stream: 'stdout',
        data: Buffer.from(text),
        time: 5,
      });
      const first = await store.logs.append(chunk(0, 0, 'hello '));
      expect(await store.logs.append(chunk(0, 0, 'hello '))).toBeUndefined();
      await store.logs.append(chunk(1, 6, 'world\n'));
      await store.logs.append({ ...chunk(0, 0, 'other step'), step: 1 });
      const all = await store.logs.read({ buildId: 1, afterId: 0, limit: 10 });
      expect(all.map((c) => c.data.toString())).toEqual(['hello ', 'world\n', 'other step']);
      expect(
        (await store.logs.read({ buildId: 1, afterId: first!, limit: 10, step: 0 })).map((c) =>
          c.data.toString(),
        ),
      ).toEqual(['world\n']);
      expect(await store.logs.size(7, 0)).toBe(12);
      const window = await store.logs.range(7, 0, 3, 9);
      expect(Buffer.concat(window.map((c) => c.data)).toString()).toBe('lo wor');
      expect(window[0]).toMatchObject({ offset: 3, time: 5 });
      await store.close();
    });

    it('logs: a search reads the whole step log in pages and finds matches across chunk edges', async () => {
      const store = await open();
      // 40 chunks of 300 bytes: more than the few chunks one search query reads.
      const text = Array.from({ length: 1200 }, (_, i) =>
        i % 97 === 5 ? `line ${i} has a NEEDLE\n` : `line ${i}\n`,
      ).join('');
      const bytes = Buffer.from(text);
      for (let seq = 0, at = 0; at < bytes.length; seq++, at += 300)
        await store.logs.append({
          buildId: 1,
          attemptId: 7,
          step: 0,
          seq,
          offset: at,
          stream: seq % 3 ? 'stdout' : 'stderr',
          data: bytes.subarray(at, at + 300),
        });
      await store.logs.append({
        buildId: 1,
        attemptId: 7,
        step: 1,
        seq: 0,
        offset: 0,
        stream: 'stdout',
        data: Buffer.from('needle in another step\n'),
      });
      const found = await store.logs.search(7, 0, 'needle', 100);
      const lines = text.split('\n');
      const expected = lines.flatMap((line, i) =>
        line.includes('NEEDLE')
          ? [{ offset: text.indexOf(line) + line.indexOf('NEEDLE'), line: i + 1 }]
          : [],
      );
      expect(found.matches.map((m) => ({ offset: m.offset, line: m.line }))).toEqual(expected);
      expect(found.matches.every((m) => text.slice(m.lineStart).startsWith('line '))).toBe(true);
      expect(found).toMatchObject({ truncated: false, scanned: bytes.length, newlines: 1200 });
      const limited = await store.logs.search(7, 0, 'needle', 3);
      expect(limited.matches).toHaveLength(3);
      expect(limited.truncated).toBe(true);
      await store.close();
    });

    it('logs: progress gives where the stored chunks end in the raw streams; stored bytes persist', async () => {
      const store = await open();
      await store.builds.putStep({
        attempt_id: 8,
        idx: 0,
        name: 's',
        status: 'running' as const,
        outcome: null,
        reason: '',
        exit_code: null,
        log_bytes: 0,
        truncated: 0,
        started_at: 1,
        finished_at: null,
      });
      const chunk = (seq: number, offset: number, stream: string, text: string) => ({
        buildId: 1,
        attemptId: 8,
        step: 0,
        seq,
        offset,
        stream,
        data: Buffer.from(text),
      });
      // Masked output is shorter than the raw bytes it stands for ("***" for a secret).
      await store.logs.append({
        ...chunk(0, 0, 'stdout', 'a ***\n'),
        raw: { stdout: 16, stderr: 0 },
      });
      await store.logs.append({ ...chunk(1, 6, 'stderr', 'e\n'), raw: { stdout: 16, stderr: 2 } });
      await store.logs.append({ ...chunk(2, 8, 'stdout', 'b\n'), raw: { stdout: 18, stderr: 2 } });
      expect(await store.logs.progress(8, 0)).toEqual({
        raw: { stdout: 18, stderr: 2 },
        nextSeq: 3,
        size: 10,
      });
      expect(await store.logs.stored(8, 0)).toEqual({ bytes: 10, truncated: false });
      await store.logs.markTruncated(8, 0);
      expect(await store.logs.stored(8, 0)).toEqual({ bytes: 10, truncated: true });
      // Chunks stored without raw offsets count their stored bytes.
      await store.logs.append({ ...chunk(0, 0, 'stdout', 'old'), step: 1 });
      expect((await store.logs.progress(8, 1)).raw).toEqual({ stdout: 3, stderr: 0 });
      await store.builds.endRunningSteps(8, {
        status: 'error',
        outcome: 'infra_error',
        reason: 'gone',
        finishedAt: 9,
      });
      expect((await store.builds.steps([8]))[0]).toMatchObject({
        status: 'error',
        outcome: 'infra_error',
        reason: 'gone',
        finished_at: 9,
      });
      await store.close();
    });

    it('triggers: a delivery is recorded once; fire times are kept', async () => {
      const store = await open();
      expect(
        await store.triggers.recordDelivery({
          provider: 'github',
          id: 'd1',
          job: 'app',
          buildId: 3,
          now: 1,
        }),
      ).toBe(true);
      expect(
        await store.triggers.recordDelivery({
          provider: 'github',
          id: 'd1',
          job: 'app',
          buildId: 4,
          now: 2,
        }),
      ).toBe(false);
      expect(
        await store.triggers.recordDelivery({
          provider: 'gitea',
          id: 'd1',
          job: 'app',
          buildId: 5,
          now: 2,
        }),
      ).toBe(true);
      expect(await store.triggers.delivery('github', 'd1')).toEqual({ job: 'app', buildId: 3 });
      expect(await store.triggers.lastFire('app', 'k')).toBeUndefined();
      await store.triggers.setLastFire('app', 'k', 100);
      await store.triggers.setLastFire('app', 'k', 200);
      expect(await store.triggers.lastFire('app', 'k')).toBe(200);
      await store.close();
    });

    it('credentials: put, get, list by id; a replacement keeps its creation and creator', async () => {
      const store = await open();
      const deploy = credential('deploy', 'k1', 1);
      expect(await store.credentials.put(deploy)).toBe(true);
      expect(await store.credentials.put(credential('api', 'k1', 2))).toBe(true);
      // Blobs come back byte for byte: a changed nonce or ciphertext would fail to unseal.
      expect(await store.credentials.get('deploy')).toEqual(deploy);
      expect((await store.credentials.list()).map((c) => c.id)).toEqual(['api', 'deploy']);
      const replaced = {
        ...credential('deploy', 'k2', 3),
        kind: 'ssh_key',
        scope: '{"jobs":["app"],"branches":["main"]}',
        fingerprint: 'SHA256:other',
        created_at: 99,
        updated_at: 50,
        created_by: 'someone else',
      };
      expect(await store.credentials.put(replaced)).toBe(false);
      expect(await store.credentials.get('deploy')).toEqual({
        ...replaced,
        created_at: deploy.created_at,
        created_by: deploy.created_by,
      });
      expect(await store.credentials.get('missing')).toBeUndefined();
      await store.close();
    });

    it('credentials: remove says whether it existed', async () => {
      const store = await open();
      await store.credentials.put(credential('deploy', 'k1', 1));
      expect(await store.credentials.remove('deploy')).toBe(true);
      expect(await store.credentials.remove('deploy')).toBe(false);
      expect(await store.credentials.get('deploy')).toBeUndefined();
      expect(await store.credentials.list()).toEqual([]);
      await store.close();
    });

    it('credentials: a reseal moves a row only while it is sealed under the key and nonce it read', async () => {
      const store = await open();
      const row = credential('deploy', 'k1', 1);
      await store.credentials.put(row);
      const to = { ciphertext: Buffer.from('sealed under k2'), nonce: nonce(9), keyId: 'k2' };
      // Another key or another nonce (a concurrent replacement): the row is left alone.
      expect(await store.credentials.reseal('deploy', { keyId: 'k0', nonce: row.nonce }, to)).toBe(
        false,
      );
      expect(await store.credentials.reseal('deploy', { keyId: 'k1', nonce: nonce(7) }, to)).toBe(
        false,
      );
      expect(await store.credentials.get('deploy')).toEqual(row);
      expect(await store.credentials.reseal('deploy', { keyId: 'k1', nonce: row.nonce }, to)).toBe(
        true,
      );
      expect(await store.credentials.get('deploy')).toEqual({
        ...row,
        ciphertext: to.ciphertext,
        nonce: to.nonce,
        key_id: 'k2',
      });
      // Done once: the row is no longer under k1.
      expect(await store.credentials.reseal('deploy', { keyId: 'k1', nonce: row.nonce }, to)).toBe(
        false,
      );
      expect(await store.credentials.reseal('missing', { keyId: 'k1', nonce: row.nonce }, to)).toBe(
        false,
      );
      await store.close();
    });
  });
}

/** A 12-byte nonce filled with one byte. */
function nonce(fill: number): Buffer {
  return Buffer.alloc(12, fill);
}

/** A stored credential row (its sealed value is opaque to the store). */
function credential(id: string, keyId: string, seed: number): CredentialRow {
  return {
    id,
    kind: 'secret_text',
    scope: '{"jobs":[],"branches":[]}',
    ciphertext: Buffer.from(`sealed ${id} ${seed}`),
    nonce: nonce(seed),
    key_id: keyId,
    fingerprint: `SHA256:${id}`,
    created_at: 10 * seed,
    updated_at: 10 * seed,
    created_by: 'admin',
  };
}
