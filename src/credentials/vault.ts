/**
 * The credentials the controller holds: created, replaced, deleted and read (in clear,
 * only by the controller for a build) through here. Rows are cached sealed, so a build's
 * values are unsealed when its attempt is handed out, without a store read; plaintext is
 * never kept. Opening checks that every stored value decrypts under the keyring, so a
 * wrong or missing key stops the start instead of surfacing in a build.
 */
import { CREDENTIAL_ID } from '../api/requests.ts';
import { SlipwayError } from '../errors/index.ts';
import type { CredentialRow, CredentialsPort } from '../store/ports.ts';
import { seal, unseal } from './cipher.ts';
import {
  CREDENTIAL_KINDS,
  canonicalJson,
  fingerprint,
  parseValue,
  type CredentialKind,
  type CredentialValue,
} from './kinds.ts';
import { keyringOf, newKey, writeKeyFile, type Keyring } from './keyring.ts';
import { parseScope, type CredentialScope } from './scope.ts';

/** What may name a credential: no path separators, no encodings, no leading dot. */
export { CREDENTIAL_ID };

/** What anyone may see of a credential: never its value. */
export interface CredentialMeta {
  id: string;
  kind: CredentialKind;
  scope: CredentialScope;
  fingerprint: string;
  /** The id of the key its value is sealed under. */
  keyId: string;
  createdAt: number;
  updatedAt: number;
  createdBy: string;
}

/** A credential in clear, for one build. */
export interface RevealedCredential {
  id: string;
  kind: CredentialKind;
  scope: CredentialScope;
  value: CredentialValue;
}

export interface PutCredential {
  id: string;
  kind: unknown;
  value: unknown;
  scope?: unknown;
  by: string;
}

function isKind(kind: unknown): kind is CredentialKind {
  return typeof kind === 'string' && (CREDENTIAL_KINDS as readonly string[]).includes(kind);
}

export class CredentialVault {
  private readonly rows = new Map<string, CredentialRow>();
  private rotation: Promise<{ keyId: string; resealed: number }> | undefined;

  private constructor(
    private readonly store: CredentialsPort,
    private keyring: Keyring,
    private readonly now: () => number,
  ) {}

  /**
   * Loads every stored credential and checks that it decrypts. Throws
   * `SW_CREDENTIALS_KEY` naming the first one that does not (a wrong or missing key).
   */
  static async open(
    store: CredentialsPort,
    keyring: Keyring,
    now: () => number = Date.now,
  ): Promise<CredentialVault> {
    const vault = new CredentialVault(store, keyring, now);
    for (const row of await store.list()) {
      vault.unsealRow(row);
      vault.rows.set(row.id, row);
    }
    return vault;
  }

  /** The id of the key new values are sealed under. */
  get keyId(): string {
    return this.keyring.current.id;
  }

  list(): CredentialMeta[] {
    return [...this.rows.values()].sort((a, b) => a.id.localeCompare(b.id)).map(metaOf);
  }

  get(id: string): CredentialMeta | undefined {
    const row = this.rows.get(id);
    return row && metaOf(row);
  }

  /**
   * Creates or replaces a credential. Returns the problems with the input (which never
   * quote a value), or the stored metadata and whether it was created.
   */
  async put(
    input: PutCredential,
  ): Promise<{ errors: string[] } | { created: boolean; credential: CredentialMeta }> {
    if (!CREDENTIAL_ID.test(input.id))
      return {
        errors: [
          `"${input.id}" is not a credential id: 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
        ],
      };
    if (!isKind(input.kind))
      return { errors: [`kind must be one of ${CREDENTIAL_KINDS.join(', ')}`] };
    const kind = input.kind;
    const value = parseValue(kind, input.value);
    const scope = parseScope(input.scope);
    const errors = [
      ...('errors' in value ? value.errors.map((e) => `value.${e}`) : []),
      ...('errors' in scope ? scope.errors : []),
    ];
    if ('errors' in value || 'errors' in scope) return { errors };
    const key = this.keyring.current;
    const sealed = seal(key, { id: input.id, kind }, Buffer.from(canonicalJson(value.value)));
    const at = this.now();
    const row: CredentialRow = {
      id: input.id,
      kind,
      scope: JSON.stringify(scope.scope),
      ciphertext: sealed.ciphertext,
      nonce: sealed.nonce,
      key_id: sealed.keyId,
      fingerprint: fingerprint(kind, value.value),
      created_at: at,
      updated_at: at,
      created_by: input.by,
    };
    const created = await this.store.put(row);
    const stored = (await this.store.get(input.id)) ?? row;
    this.rows.set(input.id, stored);
    return { created, credential: metaOf(stored) };
  }

  /** True when it existed. */
  async remove(id: string): Promise<boolean> {
    const removed = await this.store.remove(id);
    this.rows.delete(id);
    return removed;
  }

  /** The credential in clear, for a build that may use it; undefined when there is none. */
  reveal(id: string): RevealedCredential | undefined {
    const row = this.rows.get(id);
    if (!row) return undefined;
    const value = JSON.parse(this.unsealRow(row).toString('utf8')) as CredentialValue;
    return { id, kind: row.kind as CredentialKind, scope: scopeOf(row), value };
  }

  /**
   * Re-seals every value under a new key without stopping: with the data directory's
   * key file, a new key is written first in the file (the old ones stay readable), each
   * row moves to it, and only then are the old keys dropped from the file. With a key
   * given by reference (which Slipway never writes), rows move to the reference's first
   * key; remove the older lines from it afterwards. Concurrent calls share one rotation.
   */
  rotateKey(): Promise<{ keyId: string; resealed: number }> {
    this.rotation ??= this.rotate().finally(() => {
      this.rotation = undefined;
    });
    return this.rotation;
  }

  private async rotate(): Promise<{ keyId: string; resealed: number }> {
    const file = this.keyring.file;
    if (file) {
      const keys = [newKey(), ...this.keyring.keys.values()];
      writeKeyFile(file, keys);
      this.keyring = keyringOf(keys, file, this.keyring.origin);
    }
    const current = this.keyring.current;
    let resealed = 0;
    for (const id of [...this.rows.keys()]) {
      for (;;) {
        const row = this.rows.get(id);
        if (!row || row.key_id === current.id) break;
        const kind = row.kind;
        const sealed = seal(current, { id, kind }, this.unsealRow(row));
        if (await this.store.reseal(id, { keyId: row.key_id, nonce: row.nonce }, sealed)) {
          this.rows.set(id, {
            ...row,
            ciphertext: sealed.ciphertext,
            nonce: sealed.nonce,
            key_id: sealed.keyId,
          });
          resealed++;
          break;
        }
        // Replaced meanwhile: read it again (a new value is already under the current key).
        const fresh = await this.store.get(id);
        if (fresh) this.rows.set(id, fresh);
        else this.rows.delete(id);
      }
    }
    if (file) {
      writeKeyFile(file, [current]);
      this.keyring = keyringOf([current], file, this.keyring.origin);
    }
    return { keyId: current.id, resealed };
  }

  private unsealRow(row: CredentialRow): Buffer {
    if (!isKind(row.kind))
      throw new SlipwayError(
        'SW_CREDENTIALS_KEY',
        `credential ${row.id} has an unknown kind "${row.kind}": the store is from a newer Slipway, or was changed`,
      );
    return unseal(
      this.keyring,
      { id: row.id, kind: row.kind },
      { ciphertext: Buffer.from(row.ciphertext), nonce: Buffer.from(row.nonce), keyId: row.key_id },
    );
  }
}

function scopeOf(row: CredentialRow): CredentialScope {
  return JSON.parse(row.scope) as CredentialScope;
}

function metaOf(row: CredentialRow): CredentialMeta {
  return {
    id: row.id,
    kind: row.kind as CredentialKind,
    scope: scopeOf(row),
    fingerprint: row.fingerprint,
    keyId: row.key_id,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    createdBy: row.created_by,
  };
}
