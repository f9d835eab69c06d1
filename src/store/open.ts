/**
 * Opens the embedded store: one SQLite file in WAL mode under the data directory, with
 * every migration applied. The PostgreSQL driver will join here with the same queries.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type MigrationProvider } from 'kysely';
import { BuildStore } from './builds.ts';
import { JobStore } from './jobs.ts';
import { LogStore } from './logs.ts';
import { MIGRATIONS } from './migrations.ts';
import type { Database } from './schema.ts';
import { TriggerStore } from './triggers.ts';

export interface Store {
  readonly db: Kysely<Database>;
  readonly jobs: JobStore;
  readonly builds: BuildStore;
  readonly logs: LogStore;
  readonly triggers: TriggerStore;
  /** Throws when the store cannot answer a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class StoreError extends Error {}

/** `:memory:` gives a throw-away store for tests. */
export async function openStore(file: string): Promise<Store> {
  let sqlite: SQLite.Database;
  try {
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      ownerOnly(file);
    }
    sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
  } catch (error) {
    throw new StoreError(`cannot open the store ${file}: ${(error as Error).message}`);
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cached(sqlite) }) });
  await migrate(db);
  return {
    db,
    jobs: new JobStore(db),
    builds: new BuildStore(db),
    logs: new LogStore(db),
    triggers: new TriggerStore(db),
    async ping() {
      await db.selectFrom('meta').select('key').limit(1).execute();
    },
    async close() {
      await db.destroy();
    },
  };
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
 */
function cached(sqlite: SQLite.Database): {
  close(): void;
  prepare(sql: string): SQLite.Statement;
} {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= 1000) statements.clear();
        statement = sqlite.prepare(sql);
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
    throw new StoreError(
      `migration ${failed} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
    );
  }
}
