/**
 * `slipway run` end to end: the real binary, the real Docker engine, real images built by
 * scripts/images. Each test checks what a user sees: output, exit code, files, and that no
 * container or volume is left behind.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { slipway, startSlipway } from './support/cli.ts';
import { slipwayResources } from './support/docker.ts';
import { gitRepo } from './support/git.ts';
import { project } from './support/project.ts';

const root = join(import.meta.dirname, '..');
const artifacts = mkdtempSync(join(tmpdir(), 'slipway-artifacts-'));
afterAll(() => rmSync(artifacts, { recursive: true, force: true }));

/** Runs a pipeline directory offline (no traffic beyond loopback) and returns the result. */
function run(dir: string, ...args: string[]) {
  return slipway(['run', dir, '--network', 'offline', '--artifacts', artifacts, ...args], {
    cwd: root,
  });
}

function runLabel(output: string): string {
  const id = /run ([0-9a-f]{8}) /.exec(output)?.[1];
  if (!id) throw new Error(`no run id in output:\n${output}`);
  return `dev.slipway.run=${id}`;
}

function expectNothingLeft(output: string): void {
  const left = slipwayResources(runLabel(output));
  expect(left).toEqual({ containers: [], volumes: [] });
}

describe('slipway run: the examples', () => {
  afterAll(async () => {
    for (const name of ['c-make', 'node-app', 'web-service'])
      await slipway(['cache', 'prune', join(root, 'examples', name)]);
  });

  it('builds, tests (a matrix) and packages the C/Make project, keeping its artifact and cache', async () => {
    const r = await run('examples/c-make');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('Hello, Slipway!');
    expect(r.stdout).toMatch(/test \(opt: O0\)\s+│ 0 failure\(s\)/);
    expect(r.stdout).toMatch(/test \(opt: O2\)\s+│ 0 failure\(s\)/);
    expect(existsSync(join(artifacts, 'package', 'dist', 'greet-0.3.1.tar.gz'))).toBe(true);
    expect(r.stdout).toMatch(/run [0-9a-f]{8} succeeded/);
    expectNothingLeft(r.stdout);
    // The second build restores the object files and only links.
    const again = await run('examples/c-make', '--job', 'build');
    expect(again.stdout).toMatch(/cache objects-main: restored \.cache/);
    expect(again.stdout).not.toContain('-c -o .cache/obj/main.o');
    expect(again.stdout).toContain('-o bin/greet .cache/obj/main.o');
  });

  it('lints, tests and packs the Node project', async () => {
    const r = await run('examples/node-app');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/test\s+│ # pass 3/);
    expect(readdirSync(join(artifacts, 'package', 'dist'))).toContain('node-app-1.2.0.tgz');
    expectNothingLeft(r.stdout);
  });

  it('runs a service on localhost, a matrix, a needs DAG, a step image and two containers sharing the workspace', async () => {
    const r = await run('examples/web-service');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/integration\s+│ service answered/);
    expect(r.stdout).toMatch(/integration\s+│ debian sees 2 files/);
    expect(r.stdout).toMatch(/tools\s+│ site\/index\.html: OK/);
    expect(r.stdout).toMatch(/unit \(shard: 1\)\s+│ ok: site\//);
    // The summary job ran after both of its needs.
    const order = [...r.stdout.matchAll(/^(\S[^│]*?)\s+│ job succeeded/gm)].map((m) => m[1]);
    expect(order.indexOf('summary')).toBeGreaterThan(
      Math.max(order.indexOf('integration'), order.indexOf('tools')),
    );
    expectNothingLeft(r.stdout);
  });
});

describe('slipway run: outcomes and exit codes', () => {
  it('exits 1 for a failing step, naming the step and the exit code', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    steps:\n      - echo before\n      - name: breaks\n        run: exit 7\n      - echo never\n',
    });
    const r = await run(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✗ breaks: exit code 7 [failure]');
    expect(r.stdout).not.toContain('never\n');
    expect(r.stdout).toMatch(/a\s+failure\s+\S+\s+step 3 \(breaks\): exit code 7/);
    expectNothingLeft(r.stdout);
  });

  it('exits 2 with diagnostics for an invalid pipeline, starting nothing', async () => {
    const dir = project({
      '.slipway.yml': 'jobs:\n  a:\n    image: slipway/busybox:1\n    stpes: [true]\n',
    });
    const r = await run(dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error[unknown-key]');
  });

  it('exits 3 for an image that does not exist, naming it and why it could not be pulled', async () => {
    const dir = project({
      '.slipway.yml':
        // A registry on a closed loopback port: the pull fails without leaving the machine.
        'jobs:\n  a:\n    image: 127.0.0.1:9/slipway-test/no-such-image:1\n    steps: [echo hi]\n',
    });
    const r = await run(dir);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(
      /image "127\.0\.0\.1:9\/slipway-test\/no-such-image:1" is not on this machine and could not be pulled/,
    );
    expect(r.stdout).toMatch(/image_pull/);
    expectNothingLeft(r.stdout);
  });

  it('kills a step past its memory limit and says so with the limit', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    resources: { memory: 64MiB }\n    steps:\n      - x=$(head -c 300000000 /dev/zero | tr "\\0" a)\n',
    });
    const r = await run(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/killed: out of memory \(limit 64MiB\)/);
    expect(r.stdout).toMatch(/oom_killed/);
    expectNothingLeft(r.stdout);
  });

  it('survives a fork bomb under the pids limit: the job fails, the machine stays fine', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    resources: { pids: 64, cpus: 0.5 }\n    timeout: 10s\n    steps:\n      - bomb() { bomb | bomb & }; bomb; sleep 60\n',
    });
    const r = await run(dir, '--grace', '1s');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/a\s+timeout/);
    expectNothingLeft(r.stdout);
    expect((await slipway(['--version'])).code).toBe(0);
  });

  it('names the service that never became ready', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    services:\n      db:\n        image: slipway/busybox:1\n        command: [sleep, "60"]\n        ready: { tcp: 5432, timeout: 2s, interval: 200ms }\n    steps: [echo never]\n',
    });
    const r = await run(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /service db \(slipway\/busybox:1\) was not ready after 2s: port 5432 is not listening/,
    );
    expectNothingLeft(r.stdout);
  });

  it('streams a 50 MB line without a newline and binary output without losing a byte', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    steps:\n      - head -c 52428800 /dev/zero | tr "\\0" x\n      - head -c 1048576 /dev/urandom\n',
    });
    const r = await slipway(['run', dir, '--network', 'offline', '--json'], { cwd: root });
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { type: string; step?: number; data?: string; outcome?: string },
      );
    const bytes = events
      .filter((e) => e.type === 'output' && e.step === 1)
      .reduce((n, e) => n + Buffer.byteLength(e.data ?? ''), 0);
    expect(bytes).toBe(52_428_800);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', outcome: 'success' });
  });
});

describe('slipway run: the pod', () => {
  it('shares the workspace across containers and users, and steps run without extra privileges', async () => {
    const dir = project({
      '.slipway.yml': [
        'jobs:',
        '  a:',
        '    image: slipway/busybox:1',
        '    containers:',
        '      other:',
        '        image: slipway/debian:12',
        '        user: "1000"',
        '    steps:',
        '      - mkdir -p out && echo from-root > out/file.txt',
        '      - name: as uid 1000 in debian',
        '        container: other',
        '        run: id -u && echo appended >> out/file.txt && touch out/by-builder',
        '      - cat out/file.txt && ls -n out/by-builder',
        '      - grep NoNewPrivs /proc/self/status && test ! -e /var/run/docker.sock && echo no-socket',
      ].join('\n'),
    });
    const r = await run(dir);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/a\s+│ 1000\n/);
    expect(r.stdout).toMatch(/a\s+│ from-root\n.*a\s+│ appended/s);
    expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
    expect(r.stdout).toContain('no-socket');
  });

  it('runs a step of an image without a shell as its own container', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    steps:\n      - echo hi > greeting.txt\n      - name: no shell here\n        image: slipway/noshell:1\n        run: /bin/busybox cat greeting.txt\n',
    });
    const r = await run(dir);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/a\s+│ hi\n/);
    expectNothingLeft(r.stdout);
  });

  it('masks secrets in all output, split or multi-line, and injects them only where asked', async () => {
    const dir = project({
      '.slipway.yml': [
        'jobs:',
        '  a:',
        '    image: slipway/busybox:1',
        '    secrets: [API_TOKEN, KEY]',
        '    steps:',
        '      - printf "token=%s\\n" "$API_TOKEN"',
        '      - printf \'%s\' "$API_TOKEN" | while read -n 3 part; do printf %s "$part"; done; echo',
        '      - printf "%s\\n" "$KEY" | head -n 2',
        '      - echo "other=[$OTHER]"',
      ].join('\n'),
    });
    const key = 'line-one-of-key\nline-two-of-key\nline-three';
    const r = await slipway(
      [
        'run',
        dir,
        '--network',
        'offline',
        '--secret',
        'API_TOKEN=tok-9f8e7d6c5b',
        '--secret',
        'KEY',
        '--secret',
        'OTHER=not-injected',
      ],
      {
        cwd: root,
        env: { KEY: key },
      },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('token=***');
    expect(r.stdout).not.toContain('tok-9f8e7d6c5b');
    expect(r.stdout).not.toContain('line-one-of-key');
    expect(r.stdout).not.toContain('line-two-of-key');
    expect(r.stdout).toContain('other=[]');
  });

  it('filters with --job and --matrix', async () => {
    const dir = project({
      '.slipway.yml':
        'defaults: { image: slipway/busybox:1 }\njobs:\n  build: { steps: [echo build] }\n  test:\n    needs: build\n    matrix: { n: [1, 2, 3] }\n    steps: ["echo test ${{ matrix.n }}"]\n  other: { steps: [echo other] }\n',
    });
    const r = await run(dir, '--job', 'test', '--matrix', 'n=2');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('build');
    expect(r.stdout).toContain('test 2');
    expect(r.stdout).not.toContain('test 1');
    expect(r.stdout).not.toMatch(/^other/m);
  });

  it('runs on the process backend, warning loudly, and refuses services there', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: ignored:1\n    steps: [echo on-the-host]\n  b:\n    image: x\n    services:\n      db: { image: x }\n    steps: [echo never]\n',
    });
    const r = await slipway(['run', dir, '--backend', 'process'], { cwd: root });
    expect(r.stderr).toContain('WARNING: the process backend runs steps as plain processes');
    expect(r.stdout).toContain('on-the-host');
    expect(r.stdout).toMatch(/b\s+│ job failure: job b has services \(db\).*--backend docker/);
    expect(r.code).toBe(1);
  });
});

describe('slipway run: values from outside the pipeline', () => {
  it('passes a hostile branch name and input to the scripts verbatim, and runs none of them', async () => {
    const dir = project({
      '.slipway.yml': [
        'on:',
        '  manual:',
        '    inputs:',
        '      note: { type: string }',
        'jobs:',
        '  a:',
        '    image: slipway/busybox:1',
        '    steps:',
        '      - echo "branch=${{ build.branch }}"',
        '      - echo note=${{ inputs.note }}',
        "      - echo 'quoted=${{ inputs.note }}'",
        '      - ls -A; test ! -e pwned && test ! -e pwned2 && test ! -e pwned3 && echo nothing-created',
      ].join('\n'),
    });
    const branch = 'x";touch pwned;"';
    const note = '$(touch pwned2) `touch pwned3`';
    const r = await run(dir, '--event', 'manual', '--branch', branch, '--input', `note=${note}`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain('warning[untrusted-expression]');
    const printed = r.stdout.split('\n').map((line) => line.replace(/^a\s+│ /, ''));
    expect(printed).toContain(`branch=${branch}`);
    expect(printed).toContain(`note=${note}`);
    expect(printed).toContain(`quoted=${note}`);
    expect(printed).toContain('nothing-created');
    expectNothingLeft(r.stdout);
  });
});

describe('slipway run: artifacts', () => {
  const pipeline = (fail: boolean): string =>
    [
      'jobs:',
      '  build:',
      '    image: slipway/busybox:1',
      '    artifacts: [out/tool, out/lib/libz.so*]',
      '    steps:',
      ...(fail ? ['      - echo "the new build breaks"; exit 1'] : []),
      '      - mkdir -p out/lib',
      `      - printf '#!/bin/sh\\necho tool-ran\\n' > out/tool && chmod 755 out/tool`,
      '      - cd out/lib && echo ELF > libz.so.1.3 && ln -s libz.so.1.3 libz.so.1 && ln -s libz.so.1 libz.so',
    ].join('\n');

  it('keeps modes and symlinks, stays out of git, and leaves no stale set after a failed run', async () => {
    const repo = gitRepo({ '.slipway.yml': pipeline(false) });
    const first = await slipway(['run', repo.dir, '--network', 'offline'], { cwd: root });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const kept = join(repo.dir, '.slipway', 'artifacts', 'build', 'out');
    expect(first.stdout).toMatch(/artifacts: 4 files \(\d+ bytes\) saved to/);
    // The executable comes back executable, and runs.
    expect(statSync(join(kept, 'tool')).mode & 0o777).toBe(0o755);
    expect(execFileSync(join(kept, 'tool'), { encoding: 'utf8' })).toBe('tool-ran\n');
    // The symlink chain comes back as links to the one real file.
    expect(readlinkSync(join(kept, 'lib', 'libz.so'))).toBe('libz.so.1');
    expect(readlinkSync(join(kept, 'lib', 'libz.so.1'))).toBe('libz.so.1.3');
    expect(readFileSync(join(kept, 'lib', 'libz.so'), 'utf8')).toBe('ELF\n');
    // The set says which run made it.
    const stamp = JSON.parse(readFileSync(join(kept, '..', '.slipway-artifacts.json'), 'utf8')) as {
      run: string;
    };
    expect(first.stdout).toContain(`run ${stamp.run} succeeded`);
    // Nothing of it shows up as a change in the project.
    expect(
      execFileSync('git', ['status', '--porcelain'], { cwd: repo.dir, encoding: 'utf8' }),
    ).toBe('');

    writeFileSync(join(repo.dir, '.slipway.yml'), pipeline(true));
    const second = await slipway(['run', repo.dir, '--network', 'offline'], { cwd: root });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/removed the artifacts an earlier run left in .* for build/);
    expect(second.stdout).toMatch(
      /artifacts: none kept \(when: on_success, and the job ended failure\)/,
    );
    // The binary of the first run is not there to be mistaken for the new one.
    expect(existsSync(join(repo.dir, '.slipway', 'artifacts', 'build'))).toBe(false);
    expectNothingLeft(second.stdout);
  });
});

describe('slipway run: built-in variables', () => {
  it('gives a step the same documented variables on the docker and the process backends', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    steps:\n      - name: show\n        run: echo "step=$SLIPWAY_STEP name=$SLIPWAY_STEP_NAME job=$SLIPWAY_JOB ci=$CI"\n',
    });
    for (const backend of ['docker', 'process']) {
      const r = await run(dir, '--backend', backend);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const id = /run ([0-9a-f]{8}) /.exec(r.stdout)?.[1];
      // Step 1 (from 0: the checkout is step 0) of attempt 1 of this run.
      expect(r.stdout, backend).toContain(`step=${id}-1-1 name=show job=a ci=true`);
    }
  });
});

describe('slipway run: cancel and crash', () => {
  it('cancels on Ctrl-C: SIGTERM to the step, a summary, exit 130, nothing left', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    steps:\n      - trap "echo got-term; exit 143" TERM; echo started; sleep 60 & wait\n',
    });
    const cli = startSlipway(['run', dir, '--network', 'offline'], { cwd: root });
    await cli.waitFor(/│ started/);
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code).toBe(130);
    expect(r.stdout).toContain('got-term');
    expect(r.stdout).toMatch(/a\s+canceled/);
    expect(r.stdout).toMatch(/was canceled/);
    expectNothingLeft(r.stdout);
  });

  it('cancels during service start-up and removes the half-made pod', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    services:\n      slow:\n        image: slipway/busybox:1\n        command: [sleep, "60"]\n        ready: { tcp: 1234, timeout: 60s }\n    steps: [echo never]\n',
    });
    const cli = startSlipway(['run', dir, '--network', 'offline', '--json'], { cwd: root });
    await cli.waitFor(/waiting for service slow/);
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code).toBe(130);
    const runId = (JSON.parse(r.stdout.split('\n')[0]!) as { runId: string }).runId;
    expect(slipwayResources(`dev.slipway.run=${runId}`)).toEqual({ containers: [], volumes: [] });
  });

  it('sweeps the pods of a SIGKILLed run on the next run', async () => {
    const dir = project({
      '.slipway.yml':
        'jobs:\n  a:\n    image: slipway/busybox:1\n    steps: [echo started; sleep 120]\n',
    });
    const cli = startSlipway(['run', dir, '--network', 'offline', '--json'], { cwd: root });
    await cli.waitFor(/"data":"started\\n"/);
    const runId = (JSON.parse(cli.output().split('\n')[0]!) as { runId: string }).runId;
    cli.child.kill('SIGKILL');
    await cli.done;
    const orphans = slipwayResources(`dev.slipway.run=${runId}`);
    expect(orphans.containers.length).toBeGreaterThan(0); // SIGKILL leaves them...
    const next = await run(
      project({
        '.slipway.yml': 'jobs:\n  b:\n    image: slipway/busybox:1\n    steps: [echo fine]\n',
      }),
    );
    expect(next.stderr).toMatch(/removed \d+ pods? left behind by an earlier run/);
    expect(slipwayResources(`dev.slipway.run=${runId}`)).toEqual({ containers: [], volumes: [] }); // ...the next run sweeps them
  });
});
