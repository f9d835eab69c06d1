/**
 * `/api/v1/credentials`: list, read, create or replace, delete, and rotate the key.
 * Values are write-only: every answer carries only id, kind, scope, fingerprint, key id
 * and dates. Authenticated like every route (deny by default, auth.ts).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { CREDENTIAL_ID, type CredentialVault } from '../../credentials/vault.ts';
import { ControllerError } from '../api-error.ts';

const common = {
  '401': 'No or wrong admin token.',
  '429': 'Too many wrong tokens from this address; see Retry-After.',
};

/** An OpenAPI entry, shaped like openapi.ts's RouteDoc (which lists these with the others). */
interface CredentialRouteDoc {
  method: 'get' | 'put' | 'post' | 'delete';
  path: string;
  summary: string;
  tag: string;
  auth: boolean;
  responses: Record<string, string>;
}

/** The OpenAPI entries of these routes. */
export const CREDENTIAL_ROUTE_DOCS: CredentialRouteDoc[] = [
  {
    method: 'get',
    path: '/api/v1/credentials',
    summary: 'Every credential: id, kind, scope, fingerprint, dates; never a value.',
    tag: 'credentials',
    auth: true,
    responses: { '200': '{credentials: [...]}', ...common },
  },
  {
    method: 'get',
    path: '/api/v1/credentials/{id}',
    summary: "One credential's metadata; never its value.",
    tag: 'credentials',
    auth: true,
    responses: {
      '200': 'The credential.',
      '400': 'Invalid id.',
      '404': 'No such credential.',
      ...common,
    },
  },
  {
    method: 'put',
    path: '/api/v1/credentials/{id}',
    summary: 'Create or replace a credential: {kind, value: {...}, scope?: {jobs, branches}}.',
    tag: 'credentials',
    auth: true,
    responses: {
      '200': 'Replaced.',
      '201': 'Created.',
      '400': 'Invalid id, kind, value fields or scope (the value is never quoted).',
      ...common,
    },
  },
  {
    method: 'delete',
    path: '/api/v1/credentials/{id}',
    summary: 'Delete a credential.',
    tag: 'credentials',
    auth: true,
    responses: { '204': 'Deleted.', '400': 'Invalid id.', '404': 'No such credential.', ...common },
  },
  {
    method: 'post',
    path: '/api/v1/credentials/rotate-key',
    summary:
      'Re-encrypt every credential under a new key (the data directory key) or the first key of the reference.',
    tag: 'credentials',
    auth: true,
    responses: { '200': '{keyId, resealed}', ...common },
  },
];

function checkedId(id: string): string {
  if (!CREDENTIAL_ID.test(id))
    throw new ControllerError(
      400,
      'invalid_id',
      'a credential id is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  return id;
}

function notFound(id: string): never {
  throw new ControllerError(404, 'not_found', `no credential ${id}; see GET /api/v1/credentials`);
}

/** The credentials routes over one vault. */
export function credentialRoutes(vault: CredentialVault): FastifyPluginAsync {
  // eslint-disable-next-line @typescript-eslint/require-await -- fastify plugins are async
  return async (app: FastifyInstance) => {
    app.get('/api/v1/credentials', () => ({ credentials: vault.list() }));
    app.get<{ Params: { id: string } }>('/api/v1/credentials/:id', (request) => {
      const id = checkedId(request.params.id);
      return vault.get(id) ?? notFound(id);
    });
    app.put<{ Params: { id: string } }>('/api/v1/credentials/:id', async (request, reply) => {
      const id = checkedId(request.params.id);
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new ControllerError(
          400,
          'invalid_body',
          'the body is a JSON object {"kind": ..., "value": {...}, "scope": {"jobs": [...], "branches": [...]}}',
        );
      const { kind, value, scope, ...rest } = body as Record<string, unknown>;
      const unknown = Object.keys(rest);
      if (unknown.length > 0)
        throw new ControllerError(
          400,
          'invalid_body',
          `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: the body has kind, value and scope`,
        );
      const result = await vault.put({ id, kind, value, scope, by: 'admin' });
      if ('errors' in result)
        throw new ControllerError(400, 'invalid_body', result.errors.join('; '));
      return reply.status(result.created ? 201 : 200).send(result.credential);
    });
    app.delete<{ Params: { id: string } }>('/api/v1/credentials/:id', async (request, reply) => {
      const id = checkedId(request.params.id);
      if (!(await vault.remove(id))) notFound(id);
      return reply.status(204).send();
    });
    app.post('/api/v1/credentials/rotate-key', () => vault.rotateKey());
  };
}
