import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSlipwayError } from '../errors/index.ts';
import { seal, unseal } from './cipher.ts';
import { keyringOf, loadKeyring, newKey, KEY_FILE } from './keyring.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-keyring-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const context = { id: 'deploy-key', kind: 'secret_text' };

function refused(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isSlipwayError(error, 'SW_CREDENTIALS_KEY')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected SW_CREDENTIALS_KEY');
}

describe('credential encryption', () => {
  it('round-trips a value under its own random nonce, bound to the key id', () => {
    const key = newKey();
    const ring = keyringOf([key], null, 'test');
    const a = seal(key, context, Buffer.from('s3cret-value'));
    const b = seal(key, context, Buffer.from('s3cret-value'));
    expect(a.keyId).toBe(key.id);
    expect(a.nonce).toHaveLength(12);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.includes(Buffer.from('s3cret'))).toBe(false);
    expect(unseal(ring, context, a).toString()).toBe('s3cret-value');
  });

  it('refuses a changed ciphertext, nonce, id or kind', () => {
    const key = newKey();
    const ring = keyringOf([key], null, 'test');
    const sealed = seal(key, context, Buffer.from('s3cret-value'));
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[0]! ^= 1;
    refused(() => unseal(ring, context, { ...sealed, ciphertext: flipped }));
    const nonce = Buffer.from(sealed.nonce);
    nonce[3]! ^= 0x80;
    refused(() => unseal(ring, context, { ...sealed, nonce }));
    expect(refused(() => unseal(ring, { ...context, id: 'other' }, sealed))).toMatch(
      /credential other cannot be decrypted/,
    );
    refused(() => unseal(ring, { ...context, kind: 'git_token' }, sealed));
  });

  it('refuses a wrong key, and names a key id it does not hold', () => {
    const key = newKey();
    const sealed = seal(key, context, Buffer.from('s3cret-value'));
    const other = newKey();
    expect(refused(() => unseal(keyringOf([other], null, 'k'), context, sealed))).toContain(key.id);
    // The same id with other bytes (a damaged key file): refused, not garbage.
    const impostor = keyringOf([{ id: key.id, key: other.key }], null, 'k');
    expect(refused(() => unseal(impostor, context, sealed))).toMatch(/cannot be decrypted/);
  });
});

describe('the credentials key', () => {
  it('is created owner-only at first start and never overwritten', () => {
    const dir = tempDir();
    const first = loadKeyring({ dataDir: dir });
    const file = join(dir, KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    const again = loadKeyring({ dataDir: dir });
    expect(again.current.id).toBe(first.current.id);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('is refused when malformed, empty, readable by others, or a reference that is missing', () => {
    const dir = tempDir();
    const file = join(dir, KEY_FILE);
    writeFileSync(file, 'not-a-key\n', { mode: 0o600 });
    expect(refused(() => loadKeyring({ dataDir: dir }))).toContain(
      `${file}:1: not a credentials key`,
    );
    writeFileSync(file, '# nothing\n', { mode: 0o600 });
    expect(refused(() => loadKeyring({ dataDir: dir }))).toMatch(/holds no credentials key/);
    writeFileSync(file, newKey().key.toString('base64'));
    chmodSync(file, 0o644);
    expect(refused(() => loadKeyring({ dataDir: dir }))).toMatch(/chmod 600/);
    expect(refused(() => loadKeyring({ dataDir: dir, ref: 'env:KEY', env: {} }))).toMatch(
      /KEY is not set/,
    );
    expect(
      refused(() => loadKeyring({ dataDir: dir, ref: `file:${join(dir, 'nope')}`, env: {} })),
    ).toMatch(/cannot read the credentials key/);
  });

  it('reads keys by reference, the first line current, without writing a file', () => {
    const dir = tempDir();
    const [a, b] = [newKey(), newKey()];
    const ring = loadKeyring({
      dataDir: dir,
      ref: 'env:KEYS',
      env: { KEYS: `${a.key.toString('base64')}\n${b.key.toString('base64')}\n` },
    });
    expect(ring.current.id).toBe(a.id);
    expect([...ring.keys.keys()]).toEqual([a.id, b.id]);
    expect(ring.file).toBeNull();
    expect(() => statSync(join(dir, KEY_FILE))).toThrow();
  });
});
