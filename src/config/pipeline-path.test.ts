import { describe, expect, it } from 'vitest';
import { pipelinePathProblem } from './pipeline-path.ts';
import { ConfigError, parseConfig } from './server-config.ts';

function diagnosticsOf(text: string): { line: number; column: number; message: string }[] {
  try {
    parseConfig(text, 'slipway.server.yml');
  } catch (error) {
    if (error instanceof ConfigError)
      return error.diagnostics.map((d) => ({
        line: d.line,
        column: d.column,
        message: `${d.file}: ${d.message}`,
      }));
    throw error;
  }
  return [];
}

describe('pipeline paths', () => {
  it('accepts relative paths inside the repository', () => {
    for (const path of ['.slipway.yml', 'ci/build.yml', 'a/b/c.yaml', '..hidden.yml', 'x..y'])
      expect({ path, problem: pipelinePathProblem(path) }).toEqual({ path, problem: undefined });
  });

  it('refuses paths that are absolute, climb out, or that git would read differently', () => {
    const cases: [string, RegExp][] = [
      ['../../../../etc/passwd', /".." segment/],
      ['ci/../../x.yml', /".." segment/],
      ['/etc/passwd', /absolute/],
      ['C:/x.yml', /absolute/],
      ['ci\\build.yml', /backslash/],
      ['a\u0000b', /control character/],
      ['a\nb', /control character/],
      ['ci//x.yml', /empty or "." segment/],
      ['./x.yml', /empty or "." segment/],
      ['ci/', /empty or "." segment/],
      ['', /empty/],
      ['a'.repeat(1025), /longer than 1024/],
    ];
    for (const [path, reason] of cases) expect(pipelinePathProblem(path)).toMatch(reason);
  });

  it('is checked in the configuration file, with file:line:col', () => {
    const text =
      'jobs:\n  app:\n    repo: /tmp/x\n    pipeline: ../../../../etc/passwd\n  ok:\n    repo: /tmp/y\n    pipeline: ci/build.yml\n';
    const diagnostics = diagnosticsOf(text);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ line: 4, column: 15 });
    expect(diagnostics[0]!.message).toMatch(/^slipway.server.yml: .*".." segment/);
  });
});

describe('security settings of the configuration', () => {
  it('reads metrics.public and the request and throttle limits, with defaults', () => {
    const defaults = parseConfig('{}\n', 'c.yml');
    expect(defaults.metrics).toEqual({ public: false });
    expect(defaults.limits).toMatchObject({
      requestTimeoutMs: 30_000,
      authFailures: 10,
      authWindowMs: 60_000,
    });
    const set = parseConfig(
      'metrics:\n  public: true\nlimits:\n  request_timeout: 5s\n  auth_failures: 3\n  auth_window: 10m\n',
      'c.yml',
    );
    expect(set.metrics).toEqual({ public: true });
    expect(set.limits).toMatchObject({
      requestTimeoutMs: 5000,
      authFailures: 3,
      authWindowMs: 600_000,
    });
  });

  it('refuses a request timeout under a second and an unknown metrics key, with file:line:col', () => {
    expect(diagnosticsOf('limits:\n  request_timeout: 10ms\n')).toEqual([
      {
        line: 2,
        column: 20,
        message: 'slipway.server.yml: limits.request_timeout must be at least 1s',
      },
    ]);
    expect(diagnosticsOf('metrics:\n  publik: true\n')[0]).toMatchObject({ line: 2, column: 3 });
  });
});
