/**
 * `slipway credentials list|add|rm|rotate-key`: the controller's credentials over its API.
 * A value is read from a file (`--from-file`) or standard input, never from the command
 * line, where shell history and `ps` would keep it.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { CredentialBody } from '../api/requests.ts';
import type { Credential, CredentialList, KeyRotation } from '../api/schemas.ts';
import { SlipwayError } from '../errors/index.ts';
import { client, type ClientOptions } from './api-client.ts';
import { table, type Output } from './output.ts';

/** The kinds, for the option's help; the server checks them (the contract's list). */
const KINDS = [
  'secret_text',
  'username_password',
  'ssh_key',
  'secret_file',
  'registry_auth',
  'git_token',
] as const satisfies readonly CredentialBody['kind'][];

interface AddOptions extends ClientOptions {
  kind?: string;
  fromFile?: string;
  fileName?: string;
  username?: string;
  passphraseFile?: string;
  job?: string[];
  branch?: string[];
  value?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function withClientOptions(command: Command): Command {
  return command
    .option('--server <url>', 'controller URL (default $SLIPWAY_SERVER or http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (default $SLIPWAY_TOKEN)')
    .option('--json', 'print JSON for scripts');
}

function readInput(options: AddOptions): Buffer {
  if (options.fromFile) {
    try {
      return readFileSync(options.fromFile);
    } catch (error) {
      throw new SlipwayError(
        'SW_FILE_UNREADABLE',
        `cannot read ${options.fromFile}: ${(error as Error).message}`,
      );
    }
  }
  if (process.stdin.isTTY)
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      'give the value with --from-file FILE, or pipe it on standard input',
    );
  return readFileSync(0);
}

/** Text without the one line ending an editor or `echo` adds. */
const text = (bytes: Buffer): string => bytes.toString('utf8').replace(/\r?\n$/, '');

/** The API's value fields of a kind, from the input bytes and the options. */
function valueOf(
  kind: (typeof KINDS)[number],
  input: Buffer,
  options: AddOptions,
): CredentialBody['value'] {
  switch (kind) {
    case 'secret_text':
      return { value: text(input) };
    case 'username_password':
      if (!options.username)
        throw new SlipwayError(
          'SW_INVALID_ARGUMENT',
          'a username_password credential needs --username; the password comes from the file or stdin',
        );
      return { username: options.username, password: text(input) };
    case 'ssh_key':
      return {
        private_key: input.toString('utf8'),
        ...(options.passphraseFile
          ? { passphrase: text(readFileSync(options.passphraseFile)) }
          : {}),
      };
    case 'secret_file': {
      const name = options.fileName ?? (options.fromFile ? basename(options.fromFile) : undefined);
      if (!name)
        throw new SlipwayError(
          'SW_INVALID_ARGUMENT',
          'a secret_file read from stdin needs --file-name NAME (the name it has in the build)',
        );
      return { file_name: name, content_base64: input.toString('base64') };
    }
    case 'registry_auth':
      return { docker_config: input.toString('utf8') };
    case 'git_token':
      return { token: text(input), ...(options.username ? { username: options.username } : {}) };
  }
}

function scopeText(scope: Credential['scope']): string {
  const parts = [
    scope.jobs.length ? `jobs ${scope.jobs.join(',')}` : '',
    scope.branches.length ? `branches ${scope.branches.join(',')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'global';
}

export function registerCredentials(program: Command, output: Output): void {
  const credentials = program
    .command('credentials')
    .description('list, add and remove credentials, and rotate their key');
  const print = (options: ClientOptions, data: unknown, human: () => string): void =>
    output.out(options.json ? JSON.stringify(data, null, 2) : human());

  withClientOptions(
    credentials.command('list').description('every credential: id, kind, scope, fingerprint'),
  ).action(async (options: ClientOptions) => {
    const { credentials: list } = await client(options).request<CredentialList>(
      'GET',
      '/api/v1/credentials',
    );
    print(options, list, () =>
      table([
        ['ID', 'KIND', 'SCOPE', 'FINGERPRINT', 'UPDATED'],
        ...list.map((c) => [
          c.id,
          c.kind,
          scopeText(c.scope),
          c.fingerprint,
          new Date(c.updatedAt).toISOString(),
        ]),
      ]),
    );
  });

  withClientOptions(
    credentials
      .command('add')
      .description('create or replace a credential; the value comes from --from-file or stdin')
      .argument('<id>', 'credential id (letters, digits, ".", "_", "-")')
      .requiredOption('--kind <kind>', KINDS.join(' | '))
      .option('--from-file <file>', 'read the value from this file (default: standard input)')
      .option('--username <name>', 'the user name (username_password, git_token)')
      .option('--passphrase-file <file>', "the SSH key's passphrase, from a file")
      .option('--file-name <name>', 'the file name a secret_file has in builds')
      .option('--job <name>', 'only this job may use it (repeatable)', collect)
      .option(
        '--branch <glob>',
        'only builds of matching branches may use it (repeatable)',
        collect,
      )
      .option('--value <value>', 'refused: a value never goes on the command line'),
  ).action(async (id: string, options: AddOptions) => {
    if (options.value !== undefined)
      throw new SlipwayError(
        'SW_INVALID_ARGUMENT',
        '--value is refused: a value on the command line stays in shell history and is visible in ps; use --from-file FILE or standard input',
      );
    const kind = KINDS.find((k) => k === options.kind);
    if (!kind)
      throw new SlipwayError(
        'SW_INVALID_ARGUMENT',
        `--kind ${options.kind ?? ''} is not one of ${KINDS.join(', ')}`,
      );
    const body = {
      kind,
      value: valueOf(kind, readInput(options), options),
      scope: { jobs: options.job ?? [], branches: options.branch ?? [] },
    };
    const meta = await client(options).request<Credential>(
      'PUT',
      `/api/v1/credentials/${encodeURIComponent(id)}`,
      body,
    );
    print(
      options,
      meta,
      () => `credential ${meta.id} (${meta.kind}, ${scopeText(meta.scope)}) ${meta.fingerprint}`,
    );
  });

  withClientOptions(
    credentials.command('rm').description('delete a credential').argument('<id>', 'credential id'),
  ).action(async (id: string, options: ClientOptions) => {
    await client(options).request('DELETE', `/api/v1/credentials/${encodeURIComponent(id)}`);
    print(options, { id, deleted: true }, () => `credential ${id} deleted`);
  });

  withClientOptions(
    credentials
      .command('rotate-key')
      .description('re-encrypt every credential under a new key, without stopping the controller'),
  ).action(async (options: ClientOptions) => {
    const result = await client(options).request<KeyRotation>(
      'POST',
      '/api/v1/credentials/rotate-key',
    );
    print(
      options,
      result,
      () => `${result.resealed} credential(s) re-encrypted; current key ${result.keyId}`,
    );
  });
}
