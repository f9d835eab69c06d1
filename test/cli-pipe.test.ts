/**
 * `slipway run ... | head`: the real binary and the real Docker engine. A reader that goes
 * away ends the run as SIGPIPE ends other tools, without a stack trace, and the run still
 * stops its steps and removes its pod. (`logs | head` is in test/server/cli-follow.test.ts.)
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { slipwayResources } from './support/docker.ts';
import { project } from './support/project.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'slipway.js');
const exec = promisify(execFile);

describe('slipway run into a pipe that closes', () => {
  it('ends with 141, no EPIPE trace, and leaves no container or volume behind', async () => {
    const job = `pipe${process.pid.toString(36)}`;
    const dir = project({
      '.slipway.yml': `jobs:\n  ${job}:\n    image: slipway/busybox:1\n    network: none\n    steps:\n      - |\n        i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; sleep 60\n`,
    });
    const err = join(dir, 'stderr.txt');
    const { stdout } = await exec(
      'bash',
      [
        '-c',
        `"$0" "$@" 2>${err} | head -n 3; echo "status \${PIPESTATUS[0]}"`,
        process.execPath,
        BIN,
        'run',
        dir,
        '--grace',
        '1s',
      ],
      { env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(stdout).toMatch(/status 141\n$/);
    const stderr = readFileSync(err, 'utf8');
    expect(stderr).not.toMatch(/EPIPE|Error|at .*\.js:\d+/);
    expect(slipwayResources(`dev.slipway.job=${job}`)).toEqual({ containers: [], volumes: [] });
  }, 120_000);
});
