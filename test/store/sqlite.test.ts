import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { openSqliteStore, openStore } from '../../src/store/open.ts';
import { storeConformance } from './conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'slipway-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeConformance('sqlite in memory', () => openStore(':memory:'));
storeConformance('sqlite file (WAL)', () => openStore(join(dir, `store-${n++}.db`)));

describe('the embedded store', () => {
  it('keeps what was committed across a reopen, and applies migrations once', async () => {
    const file = join(dir, 'reopen.db');
    const first = await openStore(file);
    await first.triggers.setMeta('k', 'v');
    await first.close();
    const second = await openSqliteStore(file);
    expect(await second.triggers.getMeta('k')).toBe('v');
    const migrations = await second.db
      .selectFrom('kysely_migration' as never)
      .selectAll()
      .execute();
    expect(migrations).toHaveLength(Object.keys(MIGRATIONS).length);
    await second.close();
  });

  it('refuses a file that is not a database with a clear error', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = join(dir, 'garbage.db');
    writeFileSync(file, 'this is not sqlite'.repeat(100));
    await expect(openStore(file)).rejects.toThrow(/garbage\.db|not a database/);
  });
});
