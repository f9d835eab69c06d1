/**
 * The process backend's file transfers on the real file system: what a tar stream copied
 * into a pod may and may not do to the host.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type Pod, type PodSpec } from '../backend.ts';
import { createProcessBackend } from './process-backend.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-process-copy-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function spec(id: string): PodSpec {
  return {
    id,
    owner: {
      creator: 'test:process-copy',
      creatorHost: 'test',
      creatorPid: process.pid,
      creatorStart: '0',
      runId: 'copy',
      job: 'job',
      attempt: 1,
    },
    workspace: '/workspace',
    network: 'offline',
    containers: [{ name: 'primary', role: 'primary', image: 'ignored:1', env: {}, user: null }],
    services: [],
    resources: { cpus: null, memoryBytes: null, pids: 512 },
    caches: [],
    policy: DEFAULT_POLICY,
    pull: false,
  };
}

async function podWith(id: string): Promise<{ pod: Pod; workspace: string }> {
  const pod = await createProcessBackend({ rootDir: root }).createPod(
    spec(id),
    new AbortController().signal,
  );
  const out: Buffer[] = [];
  await pod.exec(
    'primary',
    {
      id: 'pwd',
      argv: ['sh', '-c', 'pwd'],
      directArgv: null,
      env: {},
      workingDir: '/workspace',
      user: null,
      graceMs: 1000,
    },
    { stdout: (b) => out.push(Buffer.from(b)), stderr: () => undefined },
    new AbortController().signal,
  );
  return { pod, workspace: Buffer.concat(out).toString().trim() };
}

describe('process backend: copyIn', () => {
  it('refuses to write through a symlink in the workspace that points out of it', async () => {
    const outside = mkdtempSync(join(root, 'outside-'));
    const { pod, workspace } = await podWith('copy-escape');
    try {
      // A step left a link to somewhere else on the host in the workspace.
      symlinkSync(outside, join(workspace, 'escape'));
      const archive = pack();
      archive.entry({ name: 'escape/pwned', mode: 0o644 }, 'written outside\n');
      archive.finalize();
      await expect(
        pod.copyIn('primary', '/workspace', archive as unknown as NodeJS.ReadableStream),
      ).rejects.toThrow(/escape/);
      expect(existsSync(join(outside, 'pwned'))).toBe(false);
    } finally {
      await pod.destroy();
    }
  });

  it('refuses a symlink entry followed by an entry written through it', async () => {
    const outside = mkdtempSync(join(root, 'outside-'));
    const { pod } = await podWith('copy-escape-2');
    try {
      const archive = pack();
      archive.entry({ name: 'link', type: 'symlink', linkname: outside });
      archive.entry({ name: 'link/pwned', mode: 0o644 }, 'written outside\n');
      archive.finalize();
      await expect(
        pod.copyIn('primary', '/workspace', archive as unknown as NodeJS.ReadableStream),
      ).rejects.toThrow(/link/);
      expect(existsSync(join(outside, 'pwned'))).toBe(false);
    } finally {
      await pod.destroy();
    }
  });

  it('keeps modes and symlinks of what it copies in', async () => {
    const { pod, workspace } = await podWith('copy-modes');
    try {
      const archive = pack();
      archive.entry({ name: 'bin/tool', mode: 0o755 }, '#!/bin/sh\necho hi\n');
      archive.entry({ name: 'bin/alias', type: 'symlink', linkname: 'tool' });
      archive.finalize();
      await pod.copyIn('primary', '/workspace', archive as unknown as NodeJS.ReadableStream);
      expect(statSync(join(workspace, 'bin', 'tool')).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(workspace, 'bin', 'alias'), 'utf8')).toContain('echo hi');
    } finally {
      await pod.destroy();
    }
  });
});
