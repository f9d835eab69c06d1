import { describe, expect, it } from 'vitest';
import { parseDelivery } from './webhooks.ts';

const SHA = 'c'.repeat(40);

function githubPr(head: unknown, base: unknown, repository?: unknown) {
  const body = Buffer.from(
    JSON.stringify({
      action: 'opened',
      number: 3,
      pull_request: {
        number: 3,
        head: { ref: 'topic', sha: SHA, repo: head },
        base: { ref: 'main', repo: base },
      },
      ...(repository ? { repository } : {}),
    }),
  );
  const parsed = parseDelivery(
    'github',
    {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': 'd',
    },
    body,
  );
  if (parsed.kind !== 'trigger') throw new Error(`not a trigger: ${JSON.stringify(parsed)}`);
  return parsed.trigger.pullRequest!;
}

describe('the trust of a pull request', () => {
  it('is trusted only when its head is the base repository', () => {
    const repo = { id: 1, full_name: 'acme/app' };
    expect(githubPr(repo, repo).untrusted).toBeNull();
    expect(githubPr({ id: 2, full_name: 'alice/app' }, repo).untrusted).toMatch(
      /comes from alice\/app, not from acme\/app/,
    );
  });

  it('is untrusted when the head repository was deleted or the base cannot be told', () => {
    expect(githubPr(null, { id: 1, full_name: 'acme/app' }).untrusted).toMatch(
      /a repository that is gone or unnamed/,
    );
    expect(githubPr({ id: 2, full_name: 'acme/app' }, null).untrusted).toMatch(
      /not from the job's repository/,
    );
  });

  it('compares names without case when ids are missing, and falls back to the payload repository', () => {
    expect(
      githubPr({ full_name: 'Acme/App' }, undefined, { full_name: 'acme/app' }).untrusted,
    ).toBeNull();
  });

  it('reads a GitLab merge request whose source project is gone as untrusted', () => {
    const body = Buffer.from(
      JSON.stringify({
        object_attributes: {
          iid: 4,
          action: 'open',
          source_branch: 'main',
          target_branch: 'main',
          target_project_id: 10,
          source: null,
          last_commit: { id: SHA },
        },
        project: { id: 10, path_with_namespace: 'acme/app' },
      }),
    );
    const parsed = parseDelivery(
      'gitlab',
      { 'x-gitlab-event': 'Merge Request Hook', 'idempotency-key': 'k' },
      body,
    );
    expect(parsed).toMatchObject({
      kind: 'trigger',
      trigger: { branch: null, pullRequest: { number: 4, ref: 'refs/merge-requests/4/head' } },
    });
    expect(parsed.kind === 'trigger' && parsed.trigger.pullRequest?.untrusted).toMatch(/gone/);
  });
});
