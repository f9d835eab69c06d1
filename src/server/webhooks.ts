/**
 * Webhook deliveries from GitHub, GitLab and Gitea: the signature or token is checked in
 * constant time over the raw body as sent, then the payload (JSON, or GitHub's and Gitea's
 * form encoding `payload=<JSON>`) becomes a trigger request. Pull and merge requests carry
 * their target, head and forge ref apart from any branch, and whether their head is the
 * hook's own repository (else they are untrusted: a fork's).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { BuildEvent } from '../pipeline/plan.ts';
import type { PullRequestTrigger } from './controller.ts';

export type Provider = 'github' | 'gitlab' | 'gitea';
export const PROVIDERS: readonly Provider[] = ['github', 'gitlab', 'gitea'];

export interface WebhookTrigger {
  event: BuildEvent;
  branch: string | null;
  tag: string | null;
  sha: string | null;
  pr: number | null;
  pullRequest: PullRequestTrigger | null;
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

/** A trigger; a sentence saying why nothing builds; or what is wrong with the payload. */
type Outcome = WebhookTrigger | string | { invalid: string };

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
  const base = { sha, pr: null, pullRequest: null };
  if (ref.startsWith('refs/heads/'))
    return { event: 'push', branch: ref.slice(11), tag: null, ...base };
  if (ref.startsWith('refs/tags/'))
    return { event: 'tag', branch: null, tag: ref.slice(10), ...base };
  return `the ref ${ref || '(none)'} is neither a branch nor a tag`;
}

/** A GitHub or Gitea repository in a pull request's head or base. */
interface RepoPayload {
  id?: number;
  full_name?: string;
}

/**
 * Why a pull request's head is not the repository the hook belongs to, or null when it is.
 * Unknown counts as foreign: deny by default.
 */
function foreignHead(
  number: number,
  head: { id?: number | null; name?: string | null } | null,
  base: { id?: number | null; name?: string | null },
): string | null {
  if (!head || (head.id == null && !head.name))
    return `pull request #${number} comes from a repository that is gone or unnamed`;
  const same =
    head.id != null && base.id != null
      ? head.id === base.id
      : !!head.name && !!base.name && head.name.toLowerCase() === base.name.toLowerCase();
  return same
    ? null
    : `pull request #${number} comes from ${head.name ?? `repository ${head.id}`}, not from ${base.name ?? "the job's repository"}`;
}

/** GitHub's and Gitea's `pull_request` (their payloads share this shape). */
function fromPullRequest(payload: Record<string, unknown>): Outcome {
  const action = typeof payload.action === 'string' ? payload.action : '';
  // GitHub says `synchronize`, Gitea `synchronized`, for new commits.
  if (!['opened', 'synchronize', 'synchronized', 'reopened'].includes(action))
    return `pull request action ${action || '(none)'} does not build`;
  const pr = (payload.pull_request ?? {}) as {
    number?: number;
    head?: { sha?: string; ref?: string; repo_id?: number; repo?: RepoPayload | null };
    base?: { ref?: string; repo_id?: number; repo?: RepoPayload | null };
  };
  const number = pr.number ?? (typeof payload.number === 'number' ? payload.number : null);
  const target = pr.base?.ref;
  if (number === null || !target || !pr.head?.sha)
    return { invalid: 'the pull request has no number, base ref or head commit' };
  const repository = (payload.repository ?? {}) as RepoPayload;
  const headRepo = pr.head.repo ?? null;
  const baseRepo = pr.base?.repo ?? repository;
  return {
    event: 'pull_request',
    branch: null,
    tag: null,
    sha: pr.head.sha,
    pr: number,
    pullRequest: {
      number,
      targetBranch: target,
      headBranch: pr.head.ref ?? null,
      headRepo: headRepo?.full_name ?? null,
      ref: `refs/pull/${number}/head`,
      untrusted: foreignHead(
        number,
        headRepo || pr.head.repo_id != null
          ? { id: headRepo?.id ?? pr.head.repo_id ?? null, name: headRepo?.full_name ?? null }
          : null,
        { id: baseRepo.id ?? pr.base?.repo_id ?? null, name: baseRepo.full_name ?? null },
      ),
    },
  };
}

/** GitLab's `Merge Request Hook`. */
function fromMergeRequest(payload: Record<string, unknown>): Outcome {
  const attrs = (payload.object_attributes ?? {}) as {
    iid?: number;
    action?: string;
    source_branch?: string;
    target_branch?: string;
    source_project_id?: number;
    target_project_id?: number;
    oldrev?: string;
    last_commit?: { id?: string };
    source?: { path_with_namespace?: string } | null;
    target?: { path_with_namespace?: string } | null;
  };
  const action = attrs.action ?? '';
  if (!['open', 'reopen', 'update'].includes(action))
    return `merge request action ${action || '(none)'} does not build`;
  // An update without oldrev changed no code: a title, label, assignee or reviewer edit.
  if (action === 'update' && !attrs.oldrev)
    return 'merge request update without new commits (no oldrev) does not build';
  const number = attrs.iid;
  if (number === undefined || !attrs.target_branch || !attrs.last_commit?.id)
    return { invalid: 'the merge request has no iid, target branch or last commit' };
  const project = (payload.project ?? {}) as { id?: number; path_with_namespace?: string };
  const head = attrs.source ?? null;
  return {
    event: 'pull_request',
    branch: null,
    tag: null,
    sha: attrs.last_commit.id,
    pr: number,
    pullRequest: {
      number,
      targetBranch: attrs.target_branch,
      headBranch: attrs.source_branch ?? null,
      headRepo: head?.path_with_namespace ?? null,
      ref: `refs/merge-requests/${number}/head`,
      untrusted: foreignHead(
        number,
        head || attrs.source_project_id != null
          ? { id: attrs.source_project_id ?? null, name: head?.path_with_namespace ?? null }
          : null,
        {
          id: attrs.target_project_id ?? project.id ?? null,
          name: attrs.target?.path_with_namespace ?? project.path_with_namespace ?? null,
        },
      ),
    },
  };
}

/** The delivery's JSON object: the body itself, or the `payload` field of a form body. */
function decodeBody(headers: Headers, body: Buffer): Record<string, unknown> | string {
  const type = (header(headers, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  let text = body.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') {
    const field = new URLSearchParams(text).get('payload');
    if (field === null) return 'the form-encoded body has no payload field';
    text = field;
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return type === 'application/x-www-form-urlencoded'
      ? 'the payload field of the form-encoded body is not JSON'
      : 'the body is not JSON (send application/json, or a form with a payload field)';
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    return 'the body is not a JSON object';
  return payload as Record<string, unknown>;
}

/**
 * The id that makes a repeated delivery queue nothing. GitLab sends one event UUID to every
 * hook of a project, so its per-hook `Idempotency-Key` (kept across retries) is the key;
 * without one, the event UUID counts once per `hook` (the job).
 */
function deliveryIdOf(provider: Provider, headers: Headers, hook: string): string | undefined {
  const idempotency = header(headers, 'idempotency-key');
  switch (provider) {
    case 'github':
      return header(headers, 'x-github-delivery') ?? idempotency;
    case 'gitea':
      return header(headers, 'x-gitea-delivery') ?? idempotency;
    case 'gitlab': {
      if (idempotency) return idempotency;
      const event = header(headers, 'x-gitlab-event-uuid');
      return event ? `${event}@${hook}` : undefined;
    }
  }
}

/** Reads a delivery to the hook of job `hook` into a trigger, or says why it is ignored or invalid. */
export function parseDelivery(
  provider: Provider,
  headers: Headers,
  body: Buffer,
  hook = '',
): Parsed {
  const payload = decodeBody(headers, body);
  if (typeof payload === 'string') return { kind: 'invalid', reason: payload };
  const deliveryId = deliveryIdOf(provider, headers, hook);
  if (!deliveryId) {
    const wanted = {
      github: 'X-GitHub-Delivery',
      gitea: 'X-Gitea-Delivery',
      gitlab: 'Idempotency-Key (or X-Gitlab-Event-UUID)',
    }[provider];
    return { kind: 'invalid', reason: `the ${wanted} header is missing` };
  }
  const eventHeader = {
    github: 'x-github-event',
    gitea: 'x-gitea-event',
    gitlab: 'x-gitlab-event',
  }[provider];
  const event = header(headers, eventHeader) ?? '';
  const result = (value: Outcome): Parsed =>
    typeof value === 'string'
      ? { kind: 'ignore', deliveryId, reason: value }
      : 'invalid' in value
        ? { kind: 'invalid', reason: value.invalid }
        : { kind: 'trigger', deliveryId, trigger: value };

  if (provider === 'gitlab') {
    if (event === 'Push Hook' || event === 'Tag Push Hook') return result(fromPush(payload));
    if (event === 'Merge Request Hook') return result(fromMergeRequest(payload));
    return result(`GitLab event "${event}" does not build`);
  }
  if (event === 'push') return result(fromPush(payload));
  // Gitea names new commits on a pull request `pull_request_sync` in some versions.
  if (event === 'pull_request' || (provider === 'gitea' && event === 'pull_request_sync'))
    return result(fromPullRequest(payload));
  if (event === 'ping') return result('ping');
  return result(`${provider} event "${event || '(none)'}" does not build`);
}
