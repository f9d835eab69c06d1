import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSlipwayError } from '../errors/index.ts';
import { openStore, type Store } from '../store/open.ts';
import { KEY_FILE, loadKeyring, newKey, parseKeys, writeKeyFile } from './keyring.ts';
import { CredentialVault } from './vault.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(): Promise<{ dir: string; store: Store }> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-vault-'));
  const store = await openStore(join(dir, 'slipway.db'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanup.push(() => store.close());
  return { dir, store };
}

const put = (vault: CredentialVault, id: string, value: string) =>
  vault.put({ id, kind: 'secret_text', value: { value }, by: 'test' });

describe('the credential vault', () => {
  it('rotates every row to a new key, reading old rows until each has moved, then drops the old key', async () => {
    const { dir, store } = await setup();
    const vault = await CredentialVault.open(store.credentials, loadKeyring({ dataDir: dir }));
    const oldKey = vault.keyId;
    for (let i = 0; i < 20; i++) await put(vault, `c${i}`, `value-number-${i}`);
    // A replacement while the rotation runs is sealed under the new key and kept.
    const rotation = vault.rotateKey();
    const during = put(vault, 'c7', 'replaced-during-rotation');
    const reveals = Array.from({ length: 20 }, (_, i) => vault.reveal(`c${i}`));
    const [result] = await Promise.all([rotation, during]);
    expect(reveals.every((r) => r !== undefined)).toBe(true);
    expect(result.keyId).not.toBe(oldKey);
    expect(result.resealed).toBeGreaterThanOrEqual(19);
    const keys = parseKeys(readFileSync(join(dir, KEY_FILE), 'utf8'), 'file');
    expect(keys.map((k) => k.id)).toEqual([result.keyId]);
    expect(new Set((await store.credentials.list()).map((r) => r.key_id))).toEqual(
      new Set([result.keyId]),
    );
    // A fresh start with the rotated key file reads every value.
    const reopened = await CredentialVault.open(store.credentials, loadKeyring({ dataDir: dir }));
    expect(reopened.reveal('c7')!.value).toEqual({ value: 'replaced-during-rotation' });
    expect(reopened.reveal('c19')!.value).toEqual({ value: 'value-number-19' });
  });

  it('finishes after a crash mid-rotation: a file with both keys reads both, the next rotation leaves one', async () => {
    const { dir, store } = await setup();
    const first = await CredentialVault.open(store.credentials, loadKeyring({ dataDir: dir }));
    await put(first, 'a', 'value-a-1234');
    const file = join(dir, KEY_FILE);
    const old = parseKeys(readFileSync(file, 'utf8'), file);
    // What step 1 of a rotation leaves: a new key in front, no row moved yet.
    writeKeyFile(file, [newKey(), ...old]);
    const vault = await CredentialVault.open(store.credentials, loadKeyring({ dataDir: dir }));
    await put(vault, 'b', 'value-b-1234');
    expect(vault.reveal('a')!.value).toEqual({ value: 'value-a-1234' });
    const result = await vault.rotateKey();
    expect(result.resealed).toBe(2);
    expect(parseKeys(readFileSync(file, 'utf8'), file)).toHaveLength(1);
  });

  it('refuses to open with a key that does not decrypt the stored rows', async () => {
    const { dir, store } = await setup();
    const vault = await CredentialVault.open(store.credentials, loadKeyring({ dataDir: dir }));
    await put(vault, 'a', 'value-a-1234');
    writeKeyFile(join(dir, KEY_FILE), [newKey()]);
    const error = await CredentialVault.open(
      store.credentials,
      loadKeyring({ dataDir: dir }),
    ).catch((e: unknown) => e);
    expect(isSlipwayError(error, 'SW_CREDENTIALS_KEY')).toBe(true);
    expect((error as Error).message).toContain(`encrypted under key ${vault.keyId}`);
  });
});
