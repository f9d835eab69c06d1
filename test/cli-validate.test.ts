import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { slipway } from './support/cli.ts';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function workdir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-cli-'));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const VALID = `jobs:\n  build:\n    image: debian:12\n    steps: [make]\n  test:\n    image: debian:12\n    needs: build\n    matrix:\n      n: [1, 2]\n    steps: [make test]\n`;
const INVALID = `jobs:\n  build:\n    image: debian:12\n    stpes: [make]\n  test:\n    needs: biuld\n    image: debian:12\n    steps: [make]\n`;

describe('slipway validate', () => {
  it('exits 0 with a summary of the plan for a valid file', async () => {
    const dir = workdir({ '.slipway.yml': VALID });
    const r = await slipway(['validate'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      '.slipway.yml is valid: 2 jobs, 3 to run after matrix expansion, in 2 stages',
    );
    expect(r.stdout).toMatch(/stage 1\s+test \(n: 2\)/);
  });

  it('exits 1 and shows every problem with file:line:col, path and a caret', async () => {
    const dir = workdir({ 'ci.yml': INVALID });
    const r = await slipway(['validate', 'ci.yml'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'ci.yml:4:5: error[unknown-key]: unknown key "stpes" in jobs.build; did you mean "steps"?',
    );
    expect(r.stderr).toContain('  at jobs.build.stpes');
    expect(r.stderr).toContain(' 4 |     stpes: [make]\n   |     ^^^^^');
    expect(r.stderr).toContain(
      'ci.yml:6:12: error[unknown-need]: job "test" needs "biuld", which is not a job; did you mean "build"?',
    );
    expect(r.stderr).toMatch(/2 errors, 0 warnings/);
    expect(r.stdout).toBe('');
  });

  it('gives tools JSON with stable codes', async () => {
    const dir = workdir({ '.slipway.yml': INVALID });
    const r = await slipway(['validate', '--format', 'json'], { cwd: dir });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as {
      valid: boolean;
      diagnostics: { code: string; line: number; column: number; path: string }[];
    };
    expect(report.valid).toBe(false);
    expect(report.diagnostics.map((d) => [d.code, d.line, d.column, d.path])).toEqual([
      ['unknown-key', 4, 5, 'jobs.build.stpes'],
      ['unknown-need', 6, 12, 'jobs.test.needs'],
    ]);
  });

  it('prints the plan as JSON with --plan', async () => {
    const dir = workdir({ 'pipelines/ci.yml': VALID });
    const r = await slipway(
      ['validate', 'pipelines/ci.yml', '--plan', '--branch', 'dev', '--sha', 'f'.repeat(40)],
      { cwd: dir },
    );
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as {
      context: { branch: string; sha: string };
      jobs: { id: string; needs: string[] }[];
    };
    expect(plan.context.branch).toBe('dev');
    expect(plan.jobs.map((j) => j.id)).toEqual(['build', 'test (n: 1)', 'test (n: 2)']);
    expect(plan.jobs[2]!.needs).toEqual(['build']);
  });

  it('reads .slipway.yml from a directory and the branch from git', async () => {
    const dir = workdir({ 'repo/.slipway.yml': VALID });
    const repo = join(dir, 'repo');
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', repo, ...args], { stdio: 'ignore' });
    git('init', '-q', '-b', 'feature/cli');
    git('-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'init');
    const r = await slipway(['validate', 'repo'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('planned for push on feature/cli');
  });

  it('validates manual inputs given on the command line', async () => {
    const text = `on:\n  manual:\n    inputs:\n      n: { type: number, required: true }\njobs:\n  a:\n    image: x\n    steps: ["echo \${{ inputs.n }}"]\n`;
    const dir = workdir({ '.slipway.yml': text });
    const bad = await slipway(['validate', '--input', 'n=many'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('the value given for input "n" must be a number, not "many"');
    const good = await slipway(['validate', '--plan', '--input', 'n=5'], { cwd: dir });
    expect(good.code).toBe(0);
    expect(
      (JSON.parse(good.stdout) as { jobs: { steps: { run: string }[] }[] }).jobs[0]!.steps[1]!.run,
    ).toBe('echo 5');
  });

  it('exits 2 with a clear message when the file does not exist or an option is malformed', async () => {
    const dir = workdir({});
    const missing = await slipway(['validate'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`no pipeline at ${join(dir, '.slipway.yml')}`);
    expect(missing.stderr).toContain('[SW_FILE_NOT_FOUND]');
    const bad = await slipway(['validate', '--input', 'novalue'], {
      cwd: workdir({ '.slipway.yml': VALID }),
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--input "novalue" is not KEY=VALUE');
  });
});

describe('slipway schema, --help and --version', () => {
  it('prints the JSON Schema that is committed for editors', async () => {
    const r = await slipway(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown> };
    expect(schema.$schema).toContain('draft-07');
    expect(Object.keys(schema.properties)).toContain('jobs');
    const committed = readFileSync(
      join(import.meta.dirname, '..', 'schema', 'pipeline.schema.json'),
      'utf8',
    );
    expect(r.stdout).toBe(committed); // regenerate with: npm run schema
  });

  it('prints the committed JSON Schema of the controller configuration', async () => {
    const r = await slipway(['schema', '--config']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['listen', 'jobs', 'secrets']),
    );
    const committed = readFileSync(
      join(import.meta.dirname, '..', 'schema', 'server-config.schema.json'),
      'utf8',
    );
    expect(r.stdout).toBe(committed); // regenerate with: npm run schema
  });

  it('prints the version from package.json', async () => {
    const pkg = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'),
    ) as { version: string };
    const r = await slipway(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('has --help on every subcommand', async () => {
    const top = await slipway(['--help']);
    expect(top.code).toBe(0);
    const commands = [...top.stdout.matchAll(/^ {2}([a-z][a-z-]*) /gm)]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThanOrEqual(2);
    for (const command of commands) {
      const r = await slipway([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toContain(`Usage: slipway ${command}`);
    }
  });

  it('refuses an unknown command with exit 2', async () => {
    const r = await slipway(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });
});
