import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createProcessBackend } from '../../src/backends/process/process-backend.ts';
import { describeBackendContract } from './contract.ts';
import { SLEEPER, shScript } from './sh-actions.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-process-contract-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeBackendContract('process (host processes)', () => createProcessBackend({ rootDir: root }), {
  script: shScript,
  shell: ['sh', '-c'],
  image: 'ignored:1',
  containers: false,
  refusesContainers: true,
  limits: false,
  processTree: true,
  countSleepers: () => {
    try {
      return Promise.resolve(
        execFileSync('pgrep', ['-f', `^${SLEEPER}$`])
          .toString()
          .trim()
          .split('\n')
          .filter(Boolean).length,
      );
    } catch {
      return Promise.resolve(0); // pgrep exits 1 when nothing matches
    }
  },
});
