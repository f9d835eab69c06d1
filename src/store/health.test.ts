import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreHealth, storageFailure, thresholdBytes, type StoreCondition } from './health.ts';

const sqliteError = (code: string, message = code): Error =>
  Object.assign(new Error(message), { code });

describe('store health', () => {
  it('tells storage failures from a query’s own errors', () => {
    expect(storageFailure(sqliteError('SQLITE_FULL'))?.kind).toBe('full');
    expect(storageFailure(sqliteError('SQLITE_IOERR_WRITE'))?.kind).toBe('io');
    expect(storageFailure(sqliteError('SQLITE_READONLY'))?.kind).toBe('io');
    expect(storageFailure(sqliteError('SQLITE_CORRUPT_INDEX'))?.kind).toBe('corrupt');
    expect(storageFailure(sqliteError('SQLITE_NOTADB'))?.kind).toBe('corrupt');
    expect(storageFailure(sqliteError('SQLITE_CONSTRAINT_UNIQUE'))).toBeUndefined();
    expect(storageFailure(new Error('a bug'))).toBeUndefined();
  });

  it('takes the smaller of a size and a share of the file system', () => {
    const GiB = 1073741824;
    expect(thresholdBytes({ bytes: 512 * 1048576, percent: 5 }, 4 * GiB)).toBe(
      Math.floor((4 * GiB * 5) / 100),
    );
    expect(thresholdBytes({ bytes: 512 * 1048576, percent: 5 }, 100 * GiB)).toBe(512 * 1048576);
    expect(thresholdBytes({ bytes: 0, percent: null }, GiB)).toBe(0);
  });

  it('is unwritable after a full disk until a probe write succeeds, and says so to listeners', async () => {
    let full = true;
    const health = new StoreHealth({
      file: join(tmpdir(), 'slipway.db'),
      minFree: { bytes: 0, percent: null },
      probeWrite: () => {
        if (full) throw sqliteError('SQLITE_FULL', 'database or disk is full');
      },
      probePages: () => undefined,
    });
    const seen: StoreCondition['state'][] = [];
    health.onChange((c) => seen.push(c.state));
    health.report(sqliteError('SQLITE_CONSTRAINT_UNIQUE'));
    expect(health.condition()).toEqual({ state: 'ok' });
    health.report(sqliteError('SQLITE_FULL', 'database or disk is full'));
    const condition = health.condition();
    expect(condition.state).toBe('unwritable');
    expect(condition.state !== 'ok' && condition.reason).toMatch(
      /^the disk holding the store \(.*\) is full \(SQLITE_FULL\)/,
    );
    await health.check();
    expect(health.writable).toBe(false);
    full = false;
    await health.check();
    expect(health.condition()).toEqual({ state: 'ok' });
    expect(seen).toEqual(['unwritable', 'ok']);
  });

  it('stays damaged once a page is found damaged', async () => {
    const health = new StoreHealth({
      file: join(tmpdir(), 'slipway.db'),
      minFree: { bytes: 0, percent: null },
      probeWrite: () => undefined,
      probePages: () => {
        throw sqliteError('SQLITE_CORRUPT', 'database disk image is malformed');
      },
    });
    await health.check(true);
    expect(health.condition().state).toBe('corrupt');
    health.report(sqliteError('SQLITE_FULL'));
    await health.check();
    expect(health.condition().state).toBe('corrupt');
  });
});
