import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseExpression, type ExpressionValues } from './expressions.ts';
import { isUntrusted, layerTrust, renderScript, type Trust } from './untrusted.ts';

const trust: Trust = { env: new Set(['TAINTED']), inputs: new Set(['note']) };

function untrusted(source: string): boolean {
  const parsed = parseExpression(source);
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return isUntrusted(parsed.expr, trust);
}

const HOSTILE = `x";touch pwned;" $(touch pwned2) \`touch pwned3\` 'q' \\ $HOME *`;
const values: ExpressionValues = {
  matrix: { os: 'linux' },
  env: { TAINTED: HOSTILE },
  inputs: { note: HOSTILE },
  build: { branch: HOSTILE, sha: 'abc' },
};

/** Where the scripts run: an injected `touch` would leave files here. */
const sandbox = mkdtempSync(join(tmpdir(), 'slipway-untrusted-'));
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

/** Runs the rendered script with sh, as a step would, and returns what it printed. */
function runSh(template: string): string {
  const rendered = renderScript(template, values, trust, ['sh', '-e', '-c']);
  expect(rendered.unsafe).toEqual([]);
  return execFileSync('sh', ['-e', '-c', rendered.script], {
    env: { PATH: process.env.PATH, ...rendered.env },
    cwd: sandbox,
    encoding: 'utf8',
  });
}

describe('isUntrusted', () => {
  it('trusts the pipeline’s own values and values that cannot hold shell syntax', () => {
    for (const source of [
      "'literal'",
      'matrix.os',
      'build.sha',
      'build.short_sha',
      'build.number',
      'build.pr',
      'build.event',
      'env.PLAIN',
      "build.branch == 'main'",
      "contains(build.branch, 'x')",
      '!build.tag',
    ])
      expect(untrusted(source), source).toBe(false);
  });

  it('distrusts names, tags, refs, string inputs, tainted env, and whatever carries them', () => {
    for (const source of [
      'build.branch',
      'build.tag',
      'build.ref',
      'build.repo',
      'build.title',
      'inputs.note',
      'env.TAINTED',
      "build.branch || 'main'",
      'lower(inputs.note)',
      "format('{0}', build.tag)",
    ])
      expect(untrusted(source), source).toBe(true);
  });

  it('carries taint through env layers, and a redefinition clears it', () => {
    const job = layerTrust(trust, { A: '${{ build.branch }}', TAINTED: 'plain' });
    expect([...job.env].sort()).toEqual(['A']);
    const step = layerTrust(job, { B: 'x-${{ env.A }}', A: '${{ matrix.os }}' });
    expect([...step.env]).toEqual(['B']);
  });
});

describe('renderScript', () => {
  it('delivers a hostile value verbatim in every quoting context, running nothing', () => {
    expect(runSh('printf "%s\\n" ${{ build.branch }}')).toBe(`${HOSTILE}\n`);
    expect(runSh('printf "%s\\n" "[${{ build.branch }}]"')).toBe(`[${HOSTILE}]\n`);
    expect(runSh("printf '%s\\n' '[${{ inputs.note }}]'")).toBe(`[${HOSTILE}]\n`);
    expect(runSh('cat <<EOF\n[${{ env.TAINTED }}]\nEOF')).toBe(`[${HOSTILE}]\n`);
    expect(runSh('printf "%s\\n" "$(printf "%s" ${{ build.branch }})"')).toBe(`${HOSTILE}\n`);
    expect(runSh('printf "%s\\n" ${unset:-${{ build.branch }}}')).toBe(`${HOSTILE}\n`);
    expect(runSh('printf "%s\\n" ${{ lower(inputs.note) }}')).toBe(`${HOSTILE.toLowerCase()}\n`);
    // Trusted values are still pasted as they are.
    expect(runSh('echo ${{ matrix.os }}-${{ build.sha }}')).toBe('linux-abc\n');
    expect(readdirSync(sandbox)).toEqual([]);
  });

  it('does not paste an untrusted value where it cannot be passed safely', () => {
    const arithmetic = renderScript('echo $(( ${{ build.branch }} ))', values, trust, [
      'bash',
      '-c',
    ]);
    expect(arithmetic.unsafe).toHaveLength(1);
    expect(arithmetic.script).not.toContain('touch');
    const python = renderScript('print("${{ inputs.note }}")', values, trust, ['python3', '-c']);
    expect(python.unsafe).toHaveLength(1);
    expect(python.script).toBe('print("")');
  });
});
