/**
 * What the API's route plugins share: the controller, the server's options, the open
 * live streams, and the refusal helper. Each plugin (jobs.ts, builds.ts, ...) registers
 * the routes of one resource, typed and validated by the schemas of src/api/schemas.ts.
 */
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ErrorBody } from '../../api/schemas.ts';
import type { CredentialVault } from '../../credentials/vault.ts';
import type { ApiErrorCode } from '../../errors/index.ts';
import { ControllerError } from '../api-error.ts';
import type { Controller } from '../controller.ts';
import type { ScheduleEntry } from '../schedules.ts';
import type { SseStream } from './sse.ts';

/** The app as the route plugins see it: request and reply types come from the schemas. */
export type ZodApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** What every route plugin is given. */
export interface ApiContext {
  controller: Controller;
  /** Live streams open now; ended when the server closes. */
  streams: Set<SseStream>;
  /** Resolves a secret reference (`env:X`, `file:P`) for webhook checks. */
  resolveRef: (ref: string, key: string) => string;
  reload: () => Promise<{
    added: string[];
    changed: string[];
    removed: string[];
    secrets: { added: string[]; changed: string[]; removed: string[] };
  }>;
  schedules?: () => ScheduleEntry[];
  webhookBodyBytes: number;
  metricsPublic: boolean;
  /** The credentials store; without it the credentials routes answer `credentials_unavailable`. */
  credentials?: CredentialVault;
}

/** Refuses the request with a code of the catalog (its status comes from there). */
export function fail(code: ApiErrorCode, message: string): never {
  throw new ControllerError(code, message);
}

/** The security requirement of a route anyone may call (auth.ts decides; this documents). */
export const OPEN = { security: [] as Record<string, string[]>[] };

/** Error answers of a route, by status, for its schema (documentation and the shape). */
export function refusals<S extends number>(...statuses: S[]): Record<S, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody])) as Record<S, typeof ErrorBody>;
}

/** The refusals of every route behind the token. */
export const AUTH_REFUSALS = refusals(401, 429);
