/**
 * The controller's HTTP API as the command-line client sees it: the client, the shapes it
 * reads, and how it finds the controller and its token (`--server` / SLIPWAY_SERVER,
 * `--token` / SLIPWAY_TOKEN / SLIPWAY_ADMIN_TOKEN).
 */
import { SlipwayError } from '../errors/index.ts';

export interface ClientOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

/** A build as the API lists it, and one with its job runs, attempts and steps (the contract's types). */
export type { Build, BuildDetail } from '../api/schemas.ts';
import type { BuildDetail } from '../api/schemas.ts';

/** Statuses a build ends in. */
export const FINISHED = new Set(['success', 'failure', 'error', 'canceled']);

export class Client {
  constructor(
    readonly server: string,
    private readonly token: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetch(method, path, body);
    const text = await response.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const error = data as { code?: string; message?: string } | undefined;
      throw new SlipwayError(
        'SW_API_ERROR',
        `${method} ${path}: ${response.status} ${error?.code ?? ''}: ${error?.message ?? text}`,
      );
    }
    return data as T;
  }

  async fetch(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Response> {
    try {
      return await fetch(`${this.server}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      throw new SlipwayError(
        'SW_SERVER_UNREACHABLE',
        `cannot reach the controller at ${this.server}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}; start it with \`slipway server\` or set --server / SLIPWAY_SERVER`,
      );
    }
  }
}

/** The client for a command's options and the environment. */
export function client(options: ClientOptions): Client {
  const server = (options.server ?? process.env.SLIPWAY_SERVER ?? 'http://127.0.0.1:8080').replace(
    /\/$/,
    '',
  );
  const token = options.token ?? process.env.SLIPWAY_TOKEN ?? process.env.SLIPWAY_ADMIN_TOKEN ?? '';
  if (!token)
    throw new SlipwayError(
      'SW_INVALID_ARGUMENT',
      'no token: pass --token, or set SLIPWAY_TOKEN (the admin token printed at the first start of `slipway server`)',
    );
  return new Client(server, token);
}

/** The label of an attempt's lines: the job run's name, with `#N` from the second attempt. */
export function attemptLabels(detail: BuildDetail): Map<number, string> {
  const labels = new Map<number, string>();
  for (const run of detail.jobRuns)
    for (const attempt of run.attempts)
      labels.set(attempt.id, attempt.number > 1 ? `${run.name} #${attempt.number}` : run.name);
  return labels;
}
