/**
 * AES-256-GCM for credential values. Each value has its own random 12-byte nonce and is
 * bound to its credential's id and kind (additional authenticated data), so a stored
 * value cannot be moved to another credential or kind; the tag (16 bytes) follows the
 * ciphertext. A wrong key or a changed byte is refused, never decrypted into garbage.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SlipwayError } from '../errors/index.ts';
import type { CredentialKey, Keyring } from './keyring.ts';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A value as stored: ciphertext with its tag, the nonce, and the id of its key. */
export interface Sealed {
  ciphertext: Buffer;
  nonce: Buffer;
  keyId: string;
}

/** What a value is bound to. */
export interface SealContext {
  id: string;
  kind: string;
}

function aad(context: SealContext): Buffer {
  return Buffer.from(`slipway-credential\0${context.id}\0${context.kind}`);
}

/** Encrypts one value under the key. */
export function seal(key: CredentialKey, context: SealContext, plaintext: Buffer): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext: Buffer.concat([body, cipher.getAuthTag()]), nonce, keyId: key.id };
}

/**
 * Decrypts one value. Throws `SW_CREDENTIALS_KEY` when its key is not in the keyring or
 * when the value, its nonce, id or kind do not authenticate (a wrong key, a changed row).
 */
export function unseal(keyring: Keyring, context: SealContext, sealed: Sealed): Buffer {
  const key = keyring.keys.get(sealed.keyId);
  if (!key)
    throw new SlipwayError(
      'SW_CREDENTIALS_KEY',
      `credential ${context.id} is encrypted under key ${sealed.keyId}, which ${keyring.origin} does not hold; restore the key file from a backup, or give the key that was in use`,
    );
  if (sealed.nonce.length !== NONCE_BYTES || sealed.ciphertext.length < TAG_BYTES)
    throw undecryptable(context, keyring);
  const decipher = createDecipheriv('aes-256-gcm', key.key, sealed.nonce, {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad(context));
  decipher.setAuthTag(sealed.ciphertext.subarray(sealed.ciphertext.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(sealed.ciphertext.subarray(0, sealed.ciphertext.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw undecryptable(context, keyring);
  }
}

function undecryptable(context: SealContext, keyring: Keyring): SlipwayError {
  return new SlipwayError(
    'SW_CREDENTIALS_KEY',
    `credential ${context.id} cannot be decrypted with the key in ${keyring.origin}: the key is not the one it was stored with, or the stored value was changed; restore the right key (or the store) from a backup`,
  );
}
