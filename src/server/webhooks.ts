/**
 * Webhook deliveries from GitHub, GitLab and Gitea: the signature or token is checked in
 * constant time over the raw body, then the payload becomes a trigger request.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { BuildEvent } from '../pipeline/plan.ts';

export type Provider = 'github' | 'gitlab' | 'gitea';
export const PROVIDERS: readonly Provider[] = ['github', 'gitlab', 'gitea'];

export interface WebhookTrigger {
  event: BuildEvent;
  branch: string | null;
  tag: string | null;
  sha: string | null;
  pr: number | null;
}

export type Parsed =
  | { kind: 'trigger'; deliveryId: string; trigger: WebhookTrigger }
  | { kind: 'ignore'; deliveryId: string; reason: string }
  | { kind: 'invalid'; reason: string };

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function equal(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // Compare equal-length buffers so the time does not tell the length either.
  const same = left.length === right.length;
  return timingSafeEqual(same ? left : right, right) && same;
}

/** Whether the delivery carries a valid signature (or token) for `secret`. */
export function verify(
  provider: Provider,
  headers: Headers,
  body: Buffer,
  secret: string,
): boolean {
  const hmac = (): string => createHmac('sha256', secret).update(body).digest('hex');
  switch (provider) {
    case 'github': {
      const given = header(headers, 'x-hub-signature-256');
      return given !== undefined && equal(given, `sha256=${hmac()}`);
    }
    case 'gitea': {
      const given = header(headers, 'x-gitea-signature');
      return given !== undefined && equal(given, hmac());
    }
    case 'gitlab': {
      const given = header(headers, 'x-gitlab-token');
      return given !== undefined && equal(given, secret);
    }
  }
}

const ZERO_SHA = /^0+$/;

interface PushPayload {
  ref?: string;
  after?: string;
  checkout_sha?: string | null;
  deleted?: boolean;
}

function fromPush(payload: PushPayload): WebhookTrigger | string {
  const ref = payload.ref ?? '';
  const sha = payload.checkout_sha ?? payload.after ?? null;
  if (payload.deleted === true || sha === null || ZERO_SHA.test(sha)) return 'the ref was deleted';
  if (ref.startsWith('refs/heads/'))
    return { event: 'push', branch: ref.slice(11), tag: null, sha, pr: null };
  if (ref.startsWith('refs/tags/'))
    return { event: 'tag', branch: null, tag: ref.slice(10), sha, pr: null };
  return `the ref ${ref || '(none)'} is neither a branch nor a tag`;
}

/** Reads a delivery into a trigger, or says why it is ignored or invalid. */
export function parseDelivery(provider: Provider, headers: Headers, body: Buffer): Parsed {
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return { kind: 'invalid', reason: 'the body is not JSON' };
  }
  if (payload === null || typeof payload !== 'object')
    return { kind: 'invalid', reason: 'the body is not a JSON object' };
  const idHeader = {
    github: 'x-github-delivery',
    gitea: 'x-gitea-delivery',
    gitlab: 'x-gitlab-event-uuid',
  }[provider];
  const deliveryId = header(headers, idHeader) ?? header(headers, 'idempotency-key');
  if (!deliveryId) return { kind: 'invalid', reason: `the ${idHeader} header is missing` };
  const eventHeader = {
    github: 'x-github-event',
    gitea: 'x-gitea-event',
    gitlab: 'x-gitlab-event',
  }[provider];
  const event = header(headers, eventHeader) ?? '';
  const result = (value: WebhookTrigger | string): Parsed =>
    typeof value === 'string'
      ? { kind: 'ignore', deliveryId, reason: value }
      : { kind: 'trigger', deliveryId, trigger: value };

  if (provider === 'gitlab') {
    if (event === 'Push Hook' || event === 'Tag Push Hook') return result(fromPush(payload));
    if (event === 'Merge Request Hook') {
      const attrs = (payload.object_attributes ?? {}) as {
        iid?: number;
        action?: string;
        source_branch?: string;
        last_commit?: { id?: string };
      };
      if (!['open', 'reopen', 'update'].includes(attrs.action ?? ''))
        return result(`merge request action ${attrs.action ?? '(none)'} does not build`);
      return result({
        event: 'pull_request',
        branch: attrs.source_branch ?? null,
        tag: null,
        sha: attrs.last_commit?.id ?? null,
        pr: attrs.iid ?? null,
      });
    }
    return result(`GitLab event "${event}" does not build`);
  }
  if (event === 'push') return result(fromPush(payload));
  if (event === 'pull_request') {
    const action = typeof payload.action === 'string' ? payload.action : '';
    const pr = (payload.pull_request ?? {}) as {
      number?: number;
      head?: { sha?: string; ref?: string };
    };
    if (!['opened', 'synchronize', 'synchronized', 'reopened'].includes(action))
      return result(`pull request action ${action || '(none)'} does not build`);
    return result({
      event: 'pull_request',
      branch: pr.head?.ref ?? null,
      tag: null,
      sha: pr.head?.sha ?? null,
      pr: pr.number ?? (typeof payload.number === 'number' ? payload.number : null),
    });
  }
  if (event === 'ping') return result('ping');
  return result(`${provider} event "${event || '(none)'}" does not build`);
}
