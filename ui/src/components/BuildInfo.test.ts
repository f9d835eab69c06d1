import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { Build } from '../api.ts';
import { BuildInfo } from './BuildInfo.tsx';

const build: Build = {
  id: 7,
  job: 'app',
  number: 3,
  status: 'success',
  reason: '',
  cause: 'webhook',
  causeDetail: 'github delivery 1',
  event: 'push',
  branch: 'main',
  tag: null,
  pr: null,
  prTargetBranch: null,
  prHeadBranch: null,
  prHeadRepo: null,
  ref: null,
  trust: 'trusted',
  trustReason: null,
  sha: 'a'.repeat(40),
  inputs: { level: 'high', count: 2 },
  commitMessage: 'Fix the <b>parser</b>\n\nIt dropped the last line.\n',
  commitAuthor: 'Ada Lovelace <ada@example.com>',
  createdAt: 0,
  startedAt: null,
  finishedAt: null,
};

const html = (b: Build): string => renderToStaticMarkup(createElement(BuildInfo, { build: b }));

describe('BuildInfo', () => {
  it('shows the commit message, its author and the inputs, as text', () => {
    const out = html(build);
    expect(out).toContain('<p class="commit-subject">Fix the &lt;b&gt;parser&lt;/b&gt;</p>');
    expect(out).toContain('<pre class="commit-body">It dropped the last line.</pre>');
    expect(out).toContain('by <span>Ada Lovelace &lt;ada@example.com&gt;</span>');
    expect(out).toContain('<dt>level</dt><dd><code>high</code></dd>');
    expect(out).toContain('<dt>count</dt><dd><code>2</code></dd>');
  });

  it('leaves out what the build does not have (older controllers send no commit fields)', () => {
    const { commitMessage: _m, commitAuthor: _a, ...older } = build;
    const out = html({ ...older, inputs: {} } as Build);
    expect(out).not.toContain('commit-');
    expect(out).not.toContain('<dl');
    expect(html({ ...build, commitMessage: null, commitAuthor: null })).not.toContain('commit-');
  });
});
