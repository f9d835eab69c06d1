import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compile } from '../pipeline/compile.ts';
import { openStore } from '../store/open.ts';
import { createBuildCredentials } from './build-secrets.ts';
import { loadKeyring } from './keyring.ts';
import { CredentialVault } from './vault.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const PIPELINE = `jobs:
  deploy:
    image: busybox
    secrets: [NPM, TOKEN]
    steps:
      - env
`;

async function vault(): Promise<CredentialVault> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-build-secrets-'));
  const store = await openStore(join(dir, 'slipway.db'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanup.push(() => store.close());
  return CredentialVault.open(store.credentials, loadKeyring({ dataDir: dir }));
}

describe('credentials named by a build', () => {
  it('names a configured credential reference that does not exist, at the secret in the pipeline', async () => {
    const v = await vault();
    await v.put({ id: 'TOKEN', kind: 'secret_text', value: { value: 'a-token-value' }, by: 't' });
    // The configuration maps NPM to credential npm-publish, which nobody created.
    const credentials = createBuildCredentials(v, () => ({ NPM: 'npm-publish' }));
    const { plan } = compile(PIPELINE);
    const diagnostics = credentials.check({
      job: 'app',
      branch: 'main',
      plan: plan!,
      text: PIPELINE,
      file: '.slipway.yml',
      isPlainSecret: () => false,
    });
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({
      code: 'credential-missing',
      line: 4,
      path: 'jobs.deploy.secrets[0]',
    });
    expect(diagnostics[0]!.message).toMatch(
      /secret NPM refers to credential npm-publish .*which does not exist; create it/,
    );
    // The one that exists and is in scope travels; the missing one does not.
    expect(credentials.values('app', 'main', ['NPM', 'TOKEN']).secrets).toEqual({
      TOKEN: 'a-token-value',
    });
  });
});
