/**
 * kysely's values, from its CommonJS build. Its ES module build is about 260 modules, and
 * Node keeps a module record, a namespace and compiled code for each: a controller that
 * imported it held about 7 MiB more at idle than with the same code loaded through
 * `require` (see docs/benchmarks.md, idle-memory). Every value import of kysely goes
 * through here (an eslint rule keeps it so): two copies of the library in one process
 * would cost both and mix two sets of classes. Type imports from 'kysely' are fine.
 */
import { createRequire } from 'node:module';
import type * as KyselyModule from 'kysely';

const kysely = createRequire(import.meta.url)('kysely') as typeof KyselyModule;

export const { Kysely, Migrator, SqliteDialect, sql } = kysely;
/** The class's instance type, as `import type { Kysely } from 'kysely'` gives it. */
export type Kysely<DB> = KyselyModule.Kysely<DB>;
