/**
 * `/api/v1/credentials`: list, read, create or replace, delete, and rotate the key.
 * Values are write-only: every answer carries only id, kind, scope, fingerprint, key id
 * and dates. The contract checks the body's shape per kind; the vault checks the rest
 * (lengths, key and docker config formats, branch globs) and both answer `invalid_body`.
 * Served always: a server made without a credentials store answers
 * `credentials_unavailable`, so the API document does not depend on how it was made.
 */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import { CredentialBody, CredentialParams } from '../../api/requests.ts';
import { Credential, CredentialList, KeyRotation } from '../../api/schemas.ts';
import type { CredentialVault } from '../../credentials/vault.ts';
import { AUTH_REFUSALS, fail, refusals, type ApiContext } from './context.ts';

function notFound(id: string): never {
  fail('credential_not_found', `no credential ${id}; see GET /api/v1/credentials`);
}

export const credentialRoutes: FastifyPluginCallbackZod<ApiContext> = (app, ctx, done) => {
  const tags = ['credentials'];
  const vault = (): CredentialVault =>
    ctx.credentials ??
    fail(
      'credentials_unavailable',
      'this server was started without a credentials store (slipway server always has one)',
    );
  app.get(
    '/api/v1/credentials',
    {
      schema: {
        summary: 'Every credential: id, kind, scope, fingerprint, dates; never a value.',
        tags,
        response: { 200: CredentialList, ...refusals(503), ...AUTH_REFUSALS },
      },
    },
    () => ({ credentials: vault().list() }),
  );
  app.get(
    '/api/v1/credentials/:id',
    {
      schema: {
        summary: "One credential's metadata; never its value.",
        tags,
        params: CredentialParams,
        response: { 200: Credential, ...refusals(400, 404, 503), ...AUTH_REFUSALS },
      },
    },
    (request) => vault().get(request.params.id) ?? notFound(request.params.id),
  );
  app.put(
    '/api/v1/credentials/:id',
    {
      schema: {
        summary: 'Create or replace a credential: {kind, value: {...}, scope?: {jobs, branches}}.',
        description:
          'Refusals name the field and what to do, never quote the value. 201 when created, 200 when replaced.',
        tags,
        params: CredentialParams,
        body: CredentialBody,
        response: { 200: Credential, 201: Credential, ...refusals(400, 503), ...AUTH_REFUSALS },
      },
    },
    async (request, reply) => {
      const { kind, value, scope } = request.body;
      const result = await vault().put({ id: request.params.id, kind, value, scope, by: 'admin' });
      if ('errors' in result) fail('invalid_body', result.errors.join('; '));
      return reply.status(result.created ? 201 : 200).send(result.credential);
    },
  );
  app.delete(
    '/api/v1/credentials/:id',
    {
      schema: {
        summary: 'Delete a credential.',
        tags,
        params: CredentialParams,
        response: {
          204: z.undefined().describe('Deleted.'),
          ...refusals(400, 404, 503),
          ...AUTH_REFUSALS,
        },
      },
    },
    async (request, reply) => {
      if (!(await vault().remove(request.params.id))) notFound(request.params.id);
      return reply.status(204).send();
    },
  );
  app.post(
    '/api/v1/credentials/rotate-key',
    {
      schema: {
        summary:
          'Re-encrypt every credential under a new key (the data directory key) or the first key of the reference.',
        tags,
        response: { 200: KeyRotation, ...refusals(503), ...AUTH_REFUSALS },
      },
    },
    () => vault().rotateKey(),
  );
  done();
};
