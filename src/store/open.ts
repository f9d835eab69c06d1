/**
 * Opens the embedded store: one SQLite file in WAL mode under the data directory, checked
 * (`PRAGMA quick_check`) and with every migration applied. The PostgreSQL driver will join
 * here with the same queries. Every statement runs through a guard that tells the store's
 * health (health.ts) when the disk or the file fails.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import type { MigrationProvider, SqliteDatabase, SqliteStatement } from 'kysely';
import { SlipwayError } from '../errors/index.ts';
import { BuildStore } from './builds.ts';
import { CredentialStore } from './credentials.ts';
import { StoreHealth, storageFailure, type MinFreeDisk } from './health.ts';
import { JobStore } from './jobs.ts';
import { Kysely, Migrator, SqliteDialect } from './kysely.ts';
import { LogStore } from './logs.ts';
import { MIGRATIONS } from './migrations.ts';
import type { Database } from './schema.ts';
import type { Store } from './ports.ts';
import { TriggerStore } from './triggers.ts';

export type { Store } from './ports.ts';

/**
 * The embedded driver's store with its kysely handle: for SQLite-specific tools (a
 * benchmark's baseline, a migration check). The controller and the API get `Store`.
 */
export interface SqliteStore extends Store {
  readonly db: Kysely<Database>;
}

export interface StoreOptions {
  /** Free space under the store below which no new attempts start (default: none). */
  minFreeDisk?: MinFreeDisk;
}

/**
 * `:memory:` gives a throw-away store for tests. A file that cannot be opened, is not a
 * SQLite database, fails its integrity check or its migrations throws `SW_STORE_UNUSABLE`
 * with the file and what to do.
 */
export async function openStore(file: string, options: StoreOptions = {}): Promise<Store> {
  return openSqliteStore(file, options);
}

/** `openStore`, keeping the kysely handle (see `SqliteStore`). */
export async function openSqliteStore(
  file: string,
  options: StoreOptions = {},
): Promise<SqliteStore> {
  let sqlite: SQLite.Database;
  try {
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      ownerOnly(file);
    }
    sqlite = new SQLite(file);
  } catch (error) {
    throw unusable(
      file,
      `cannot open it: ${(error as Error).message}; check that the data directory exists and that this user may write it`,
    );
  }
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    quickCheck(sqlite, file);
  } catch (error) {
    sqlite.close();
    if (error instanceof SlipwayError) throw error;
    throw unusable(file, damaged(error));
  }
  const health = new StoreHealth({
    file,
    minFree: options.minFreeDisk ?? { bytes: null, percent: null },
    probeWrite: () => {
      sqlite
        .prepare(
          "INSERT INTO meta (key, value) VALUES ('health_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .run(String(Date.now()));
    },
    probePages: () => probePages(file),
  });
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: guarded(sqlite, (error) => health.report(error)) }),
  });
  try {
    await migrate(db);
  } catch (error) {
    await db.destroy();
    throw unusable(
      file,
      `${(error as Error).message}; the file may be damaged or from a newer Slipway: restore it from a backup, or run the Slipway version that wrote it`,
    );
  }
  return {
    db,
    jobs: new JobStore(db),
    builds: new BuildStore(db),
    logs: new LogStore(db),
    triggers: new TriggerStore(db),
    credentials: new CredentialStore(db),
    health,
    async ping() {
      await db.selectFrom('meta').select('key').limit(1).execute();
    },
    async close() {
      health.close();
      await db.destroy();
    },
  };
}

function unusable(file: string, what: string): SlipwayError {
  return new SlipwayError('SW_STORE_UNUSABLE', `the store ${file} is unusable: ${what}`);
}

function damaged(error: unknown): string {
  const message = (error as Error).message;
  const failure = storageFailure(error);
  if (failure?.kind === 'corrupt')
    return `it is damaged or not a SQLite database (${message}). Stop here: restore it from a backup (with the controller stopped), or move it aside to start with an empty store; \`sqlite3 slipway.db .recover\` can save what is still readable`;
  return `${message}; check the disk and the file's permissions`;
}

/**
 * `PRAGMA quick_check` reads every page once (it skips the slower index cross-checks):
 * a damaged file is refused at start instead of failing later in the middle of a build.
 */
function quickCheck(sqlite: SQLite.Database, file: string): void {
  const rows = sqlite.pragma('quick_check(20)') as { quick_check: string }[];
  const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
  if (problems.length === 0) return;
  throw unusable(
    file,
    `it is damaged: PRAGMA quick_check found ${problems.length === 20 ? 'at least 20' : problems.length} problem(s), the first: ${problems[0]}. ` +
      'Stop here: restore it from a backup (with the controller stopped), or move it aside to start with an empty store; `sqlite3 slipway.db .recover` can save what is still readable',
  );
}

/**
 * Reads the first and the last row of every table on a fresh read-only connection: its
 * empty page cache makes it read the file as it is on disk, so a page damaged while the
 * controller runs is found even when the controller's own connection has it cached.
 */
function probePages(file: string): void {
  if (file === ':memory:') return;
  const reader = new SQLite(file, { readonly: true, fileMustExist: true });
  try {
    const tables = reader
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .pluck()
      .all() as string[];
    for (const table of tables) {
      const quoted = `"${table.replace(/"/g, '""')}"`;
      reader.prepare(`SELECT * FROM ${quoted} ORDER BY rowid LIMIT 1`).all();
      reader.prepare(`SELECT * FROM ${quoted} ORDER BY rowid DESC LIMIT 1`).all();
    }
  } finally {
    reader.close();
  }
}

/**
 * The store holds build logs, webhook secret references and more: only its owner may read
 * it. The file is made 0600 before SQLite opens it, and SQLite gives its `-wal` and
 * `-shm` files the database file's mode; files left by an older version are fixed too.
 */
function ownerOnly(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const path of [file, `${file}-wal`, `${file}-shm`])
    if (existsSync(path)) chmodSync(path, 0o600);
}

/**
 * kysely prepares every statement on every query; preparing was the largest single cost
 * under load (more than running them). The queries are a small fixed set, so each is
 * prepared once. Statements are used synchronously, one at a time (no streaming).
 * Every failure is shown to `onFailure` (the store's health) before it is thrown on.
 */
function guarded(sqlite: SQLite.Database, onFailure: (error: unknown) => void): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  const guard = <T>(run: () => T): T => {
    try {
      return run();
    } catch (error) {
      onFailure(error);
      throw error;
    }
  };
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= 1000) statements.clear();
        const prepared = guard(() => sqlite.prepare(sql));
        // SQLite rolls a transaction back by itself after some failures (a full disk);
        // kysely's ROLLBACK that follows must not replace the real error with "no transaction".
        const rollback = /^\s*rollback\b/i.test(sql);
        statement = {
          get reader() {
            return prepared.reader;
          },
          all: (parameters) => guard(() => prepared.all(parameters)),
          run: (parameters) =>
            rollback && !sqlite.inTransaction
              ? { changes: 0, lastInsertRowid: 0 }
              : guard(() => prepared.run(parameters)),
          iterate: (parameters) => guard(() => prepared.iterate(parameters)),
        };
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

const provider: MigrationProvider = {
  getMigrations: () => Promise.resolve(MIGRATIONS),
};

async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(
      `migration ${failed} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
    );
  }
}
