/**
 * Credentials end to end on a real `slipway server` process with Docker, through the real
 * CLI: values go in from a file or stdin (never `--value`), a build in scope gets them and
 * its log shows `***` for the value and for the parts a step prints alone (a password cut
 * from user:password, a docker config's auth decoded), a build of a job outside the scope
 * ends `error` with a diagnostic naming the credential and the scope, `rotate-key`
 * re-encrypts under a new key that a restart reads, and a wrong key stops the start.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newKey } from '../../src/credentials/keyring.ts';
import { slipway } from '../support/cli.ts';
import {
  api,
  logOf,
  startController,
  trigger,
  TOKEN,
  waitForBuild,
} from '../support/controller-process.ts';
import { gitRepo } from '../support/git.ts';
import { TEST_IMAGE } from '../support/images.ts';
import { project } from '../support/project.ts';

const DOCKER_CONFIG = JSON.stringify({
  auths: { 'registry.example': { auth: Buffer.from('robot:r3gistry-pass').toString('base64') } },
});

const PIPELINE = `jobs:
  deploy:
    image: ${TEST_IMAGE}
    secrets: [TEXT, LOGIN, REG]
    steps:
      - |
        echo "text=$TEXT"
        echo "password=$(echo "$LOGIN" | cut -d: -f2)"
        echo "auth=$(echo "$REG" | sed -n 's/.*"auth":"\\([^"]*\\)".*/\\1/p')"
        echo "decoded=$(echo "$REG" | sed -n 's/.*"auth":"\\([^"]*\\)".*/\\1/p' | base64 -d)"
`;

describe('credentials on a real controller', () => {
  it('stores values from the CLI, masks them in scope, refuses builds outside it, rotates the key', async () => {
    const app = gitRepo({ '.slipway.yml': PIPELINE });
    const other = gitRepo({ '.slipway.yml': PIPELINE });
    const dir = project({
      'slipway.server.yml': [
        'secrets:',
        '  LOGIN: credential:deploy-login',
        'jobs:',
        `  app: { repo: ${app.dir} }`,
        `  other: { repo: ${other.dir} }`,
        '',
      ].join('\n'),
      'password.txt': 'pa55-w0rd-x\n',
      'docker.json': DOCKER_CONFIG,
    });
    const config = join(dir, 'slipway.server.yml');
    const dataDir = join(dir, 'data');
    let controller = await startController(config, dataDir);
    const cli = (args: string[], input?: string) =>
      slipway(['credentials', ...args, '--server', controller.url, '--token', TOKEN], {
        ...(input === undefined ? {} : { input }),
      });

    const refused = await cli(['add', 'TEXT', '--kind', 'secret_text', '--value', 'oops-value']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--value is refused.*--from-file/);
    expect(
      (await cli(['add', 'TEXT', '--kind', 'secret_text', '--job', 'app'], 'text-s3cret\n')).code,
    ).toBe(0);
    const login = await cli([
      'add',
      'deploy-login',
      '--kind',
      'username_password',
      '--username',
      'deployer',
      '--from-file',
      join(dir, 'password.txt'),
      '--job',
      'app',
      '--branch',
      'main',
    ]);
    expect(login.stdout).toMatch(
      /credential deploy-login \(username_password, jobs app; branches main\) sha256:/,
    );
    expect(
      (
        await cli([
          'add',
          'REG',
          '--kind',
          'registry_auth',
          '--from-file',
          join(dir, 'docker.json'),
        ])
      ).code,
    ).toBe(0);
    const list = await cli(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^TEXT\s+secret_text\s+jobs app\s+sha256:/m);
    expect(list.stdout).toMatch(/^REG\s+registry_auth\s+global/m);
    for (const value of ['text-s3cret', 'pa55-w0rd-x', 'r3gistry-pass'])
      expect(list.stdout + login.stdout).not.toContain(value);

    // In scope: every value and every part printed alone is masked.
    const ok = await waitForBuild(controller.url, await trigger(controller.url, 'app'));
    expect(ok.status).toBe('success');
    const log = await logOf(controller.url, ok.id);
    expect(log).toMatch(/text=\*\*\*\npassword=\*\*\*\nauth=\*\*\*\ndecoded=\*\*\*\n/);
    for (const value of ['text-s3cret', 'pa55-w0rd-x', 'r3gistry-pass', 'cm9ib3Q6'])
      expect(log).not.toContain(value);

    // Job `other` is outside TEXT's and deploy-login's scopes: error, with the reason.
    const outsideId = await trigger(controller.url, 'other');
    const outside = await waitForBuild(controller.url, outsideId);
    expect(outside.status).toBe('error');
    expect(outside.jobRuns).toEqual([]);
    const { diagnostics } = await api<{ diagnostics: { code: string; message: string }[] }>(
      controller.url,
      `/api/v1/builds/${outsideId}`,
    );
    const messages = diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n');
    expect(messages).toMatch(
      /credential-out-of-scope: secret TEXT is credential TEXT, which this build of job other may not use: it is scoped to job app, not other/,
    );
    expect(messages).toMatch(/secret LOGIN is credential deploy-login/);

    // Rotation: a new key, every row moved to it, the old key gone from the file.
    const keyFile = join(dataDir, 'credentials.key');
    const before = readFileSync(keyFile, 'utf8');
    const rotated = await cli(['rotate-key', '--json']);
    expect(rotated.code).toBe(0);
    const result = JSON.parse(rotated.stdout) as { keyId: string; resealed: number };
    expect(result.resealed).toBe(3);
    const after = readFileSync(keyFile, 'utf8');
    expect(after.trim().split('\n')).toHaveLength(1);
    expect(after).not.toBe(before);
    const metas = await api<{ credentials: { keyId: string }[] }>(
      controller.url,
      '/api/v1/credentials',
    );
    expect(metas.credentials.map((c) => c.keyId)).toEqual([
      result.keyId,
      result.keyId,
      result.keyId,
    ]);

    // A restart reads them under the new key; a build still gets them.
    controller.server.child.kill('SIGINT');
    await controller.server.done;
    controller = await startController(config, dataDir);
    const again = await waitForBuild(controller.url, await trigger(controller.url, 'app'));
    expect(again.status).toBe('success');
    expect(await logOf(controller.url, again.id)).toMatch(/text=\*\*\*\n/);
    controller.server.child.kill('SIGINT');
    await controller.server.done;

    // The old key (a restored stale backup) is a clear start-up error, not garbage.
    writeFileSync(keyFile, before);
    const wrong = await slipway(
      ['server', '--config', config, '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
      {
        env: { SLIPWAY_ADMIN_TOKEN: TOKEN },
      },
    );
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/SW_CREDENTIALS_KEY/);
    expect(wrong.stderr).toContain(`encrypted under key ${result.keyId}`);
    writeFileSync(keyFile, `${newKey().key.toString('base64')}\n`);
    expect(
      (
        await slipway(
          ['server', '--config', config, '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
          { env: { SLIPWAY_ADMIN_TOKEN: TOKEN } },
        )
      ).stderr,
    ).toMatch(/SW_CREDENTIALS_KEY/);
  }, 300_000);
});
