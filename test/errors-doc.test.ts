import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_ERRORS, ERROR_CODES } from '../src/errors/index.ts';
import { DIAGNOSTIC_CODES } from '../src/pipeline/diagnostics.ts';

const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
const documented = [...doc.matchAll(/^### `([^`]+)`/gm)].map((m) => m[1]!);
const codes = [
  ...Object.keys(DIAGNOSTIC_CODES),
  ...Object.keys(ERROR_CODES),
  ...Object.keys(API_ERRORS),
];

/** The text under a code's heading, up to the next heading. */
function section(code: string): string {
  const start = doc.indexOf(`### \`${code}\``);
  const end = doc.indexOf('\n#', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

describe('docs/errors.md', () => {
  it('documents every diagnostic code, CLI error code and API error code', () => {
    expect(codes.filter((code) => !documented.includes(code))).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    const known = new Set(codes);
    expect(documented.filter((code) => !known.has(code))).toEqual([]);
  });

  it('documents each code once', () => {
    expect(documented.filter((code, i) => documented.indexOf(code) !== i)).toEqual([]);
  });

  it('gives each API code the HTTP status the catalog answers with', () => {
    for (const [code, { status }] of Object.entries(API_ERRORS))
      expect({ code, says: /^HTTP (\d{3})\./m.exec(section(code))?.[1] }).toEqual({
        code,
        says: String(status),
      });
  });
});
