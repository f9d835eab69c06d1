/**
 * The key that credentials are encrypted under. By default a random 32-byte key in the
 * data directory (`credentials.key`, created owner-only at first start and never
 * overwritten); or a reference (`env:NAME`, `file:PATH`) in the server configuration.
 *
 * The text of a key, in the file or behind a reference, is one base64 key per line: the
 * first line is the current key (new values are encrypted under it), the others are older
 * keys still read while rows move to the current one (a rotation in progress).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SlipwayError } from '../errors/index.ts';

/** Bytes of an AES-256 key. */
export const KEY_BYTES = 32;
/** The key file's name in the data directory. */
export const KEY_FILE = 'credentials.key';

export interface CredentialKey {
  /** A SHA-256 prefix of the key: stored with every value, safe to show. */
  id: string;
  key: Buffer;
}

export interface Keyring {
  /** The key new values are encrypted under. */
  current: CredentialKey;
  /** Every key that can be read, by id (the current one included). */
  keys: ReadonlyMap<string, CredentialKey>;
  /** The data directory's key file, or null when the key is given by reference (read-only). */
  file: string | null;
  /** Where the key came from, for messages: the file, or the reference. */
  origin: string;
}

/** The id of a key: the first 16 hex digits of its SHA-256. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

function keyError(message: string): SlipwayError {
  return new SlipwayError('SW_CREDENTIALS_KEY', message);
}

/** Reads the keys of a key text (one base64 key per line; `#` comments and blank lines ignored). */
export function parseKeys(text: string, origin: string): CredentialKey[] {
  const keys: CredentialKey[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const key = /^[A-Za-z0-9+/]+={0,2}$/.test(line) ? Buffer.from(line, 'base64') : undefined;
    if (key?.length !== KEY_BYTES)
      throw keyError(
        `${origin}:${index + 1}: not a credentials key (one base64 line of ${KEY_BYTES} random bytes, like the output of \`openssl rand -base64 32\`)`,
      );
    keys.push({ id: keyId(key), key });
  });
  if (keys.length === 0)
    throw keyError(
      `${origin} holds no credentials key; put one base64 line of ${KEY_BYTES} random bytes in it (\`openssl rand -base64 32\`)`,
    );
  return keys;
}

/** The text of a key list: the current key first. */
export function formatKeys(keys: readonly CredentialKey[]): string {
  return keys.map((k) => k.key.toString('base64')).join('\n') + '\n';
}

/** A keyring from a list of keys, the first being the current one. */
export function keyringOf(
  keys: readonly CredentialKey[],
  file: string | null,
  origin: string,
): Keyring {
  const current = keys[0];
  if (!current) throw keyError(`${origin} holds no credentials key`);
  return { current, keys: new Map(keys.map((k) => [k.id, k])), file, origin };
}

/** A new random key. */
export function newKey(): CredentialKey {
  const key = randomBytes(KEY_BYTES);
  return { id: keyId(key), key };
}

/**
 * Loads the keyring: from the reference when one is given (never written), else from the
 * data directory's key file, created with a new key when it does not exist. Throws
 * `SW_CREDENTIALS_KEY` when the key cannot be read or is malformed.
 */
export function loadKeyring(options: {
  dataDir: string;
  ref?: string | null;
  env?: NodeJS.ProcessEnv;
}): Keyring {
  const env = options.env ?? process.env;
  const ref = options.ref ?? null;
  if (ref !== null) {
    const [scheme, ...rest] = ref.split(':');
    const target = rest.join(':');
    if (scheme === 'env') {
      const value = env[target];
      if (value === undefined || value === '')
        throw keyError(
          `credentials.key: the environment variable ${target} is not set (it is referenced as ${ref}); set it to the credentials key, or change the reference`,
        );
      return keyringOf(parseKeys(value, `credentials.key (${ref})`), null, ref);
    }
    if (scheme === 'file') return keyringOf(parseKeys(readKeyFile(target, ref), target), null, ref);
    throw keyError(`credentials.key: "${ref}" is not a reference like env:NAME or file:/path`);
  }
  const file = join(options.dataDir, KEY_FILE);
  createKeyFile(file);
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw keyError(
      `${file} may be read by other users (mode ${mode.toString(8)}); make it owner-only: chmod 600 ${file}`,
    );
  return keyringOf(parseKeys(readKeyFile(file, file), file), file, file);
}

function readKeyFile(path: string, origin: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw keyError(`cannot read the credentials key ${origin}: ${(error as Error).message}`);
  }
}

/** Creates the key file with a new key, owner-only; an existing file is never overwritten. */
function createKeyFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw keyError(`cannot create the credentials key ${file}: ${(error as Error).message}`);
  }
  try {
    writeSync(fd, formatKeys([newKey()]));
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the key file's keys atomically (a new owner-only file renamed over the old
 * one), so a crash leaves either the old list or the new one, never half of either.
 */
export function writeKeyFile(file: string, keys: readonly CredentialKey[]): void {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, formatKeys(keys));
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
}
