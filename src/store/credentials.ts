/**
 * The credentials aggregate: sealed values with their kind, scope and fingerprint. This
 * store never sees a value in clear; src/credentials seals and unseals them.
 */
import type { Kysely } from 'kysely';
import type { CredentialRow, CredentialsPort } from './ports.ts';
import type { Database } from './schema.ts';

/** The credentials port on the embedded SQLite driver. */
export class CredentialStore implements CredentialsPort {
  constructor(private readonly db: Kysely<Database>) {}

  /** Every credential, by id. */
  async list(): Promise<CredentialRow[]> {
    return this.db.selectFrom('credentials').selectAll().orderBy('id').execute();
  }

  async get(id: string): Promise<CredentialRow | undefined> {
    return this.db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * Creates or replaces one credential. A replacement keeps its creation time and creator.
   * True when it was created.
   */
  async put(row: CredentialRow): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const before = await tx
        .selectFrom('credentials')
        .select('id')
        .where('id', '=', row.id)
        .executeTakeFirst();
      if (before) {
        await tx
          .updateTable('credentials')
          .set({
            kind: row.kind,
            scope: row.scope,
            ciphertext: row.ciphertext,
            nonce: row.nonce,
            key_id: row.key_id,
            fingerprint: row.fingerprint,
            updated_at: row.updated_at,
          })
          .where('id', '=', row.id)
          .execute();
        return false;
      }
      await tx.insertInto('credentials').values(row).execute();
      return true;
    });
  }

  /** True when it existed. */
  async remove(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('credentials').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Moves one row to another key, only if it is still sealed under `fromKeyId` with the
   * same nonce (a concurrent replacement wins). True when the row was changed.
   */
  async reseal(
    id: string,
    from: { keyId: string; nonce: Buffer },
    to: { ciphertext: Buffer; nonce: Buffer; keyId: string },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('credentials')
      .set({ ciphertext: to.ciphertext, nonce: to.nonce, key_id: to.keyId })
      .where('id', '=', id)
      .where('key_id', '=', from.keyId)
      .where('nonce', '=', from.nonce)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
