/**
 * Schedules: the pipeline's on.schedule and the configuration's schedules are found, and
 * a fire time fires once even across a restart (two Schedules on one store).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/server/controller.ts';
import { Schedules } from '../../src/server/schedules.ts';
import { openStore } from '../../src/store/open.ts';
import { gitRepo } from '../support/git.ts';
import { jobInput } from '../support/jobs.ts';

const dir = mkdtempSync(join(tmpdir(), 'slipway-schedules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('schedules', () => {
  it('reads on.schedule and configured schedules, and never fires one time twice across restarts', async () => {
    const repo = gitRepo({
      '.slipway.yml': `on:\n  schedule:\n    - cron: '30 2 * * 1'\n      timezone: Europe/Berlin\njobs:\n  nightly:\n    image: fake/any\n    steps: [echo night]\n`,
    });
    const store = await openStore(join(dir, 'slipway.db'));
    await store.jobs.put(
      jobInput('app', repo.dir, {
        schedules: [{ cron: '0 3 * * *', timezone: 'UTC', branch: null }],
      }),
      Date.now(),
    );
    const make = (): Schedules =>
      new Schedules(
        new Controller({
          store,
          gitCacheDir: join(dir, 'git'),
          logCapBytes: 1024,
          graceMs: 100,
          secrets: {},
        }),
        join(dir, 'git'),
        () => undefined,
      );
    const first = make();
    await first.start();
    const entries = first.list();
    expect(entries.map((e) => [e.cron, e.timezone, e.from])).toEqual([
      ['0 3 * * *', 'UTC', 'config'],
      ['30 2 * * 1', 'Europe/Berlin', '.slipway.yml'],
    ]);
    const at = Date.UTC(2026, 10, 27, 3, 0, 0);
    expect(await first.fire(entries[0]!, at)).toBe(true);
    first.stop();

    const second = make(); // the controller restarted
    await second.start();
    expect(await second.fire(second.list()[0]!, at)).toBe(false);
    expect(await second.fire(second.list()[0]!, at + 86_400_000)).toBe(true);
    second.stop();

    const builds = await store.builds.list({ job: 'app', limit: 10 });
    expect(builds.map((b) => [b.cause, b.event, b.branch])).toEqual([
      ['cron', 'schedule', 'main'],
      ['cron', 'schedule', 'main'],
    ]);
    await store.close();
  });
});
