import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors/index.ts';
import { DIAGNOSTIC_CODES } from '../src/pipeline/diagnostics.ts';

const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
const documented = [...doc.matchAll(/^### `([^`]+)`/gm)].map((m) => m[1]!);

describe('docs/errors.md', () => {
  it('documents every diagnostic and error code', () => {
    const codes = [...Object.keys(DIAGNOSTIC_CODES), ...Object.keys(ERROR_CODES)];
    expect(codes.filter((code) => !documented.includes(code))).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    const codes = new Set([...Object.keys(DIAGNOSTIC_CODES), ...Object.keys(ERROR_CODES)]);
    expect(documented.filter((code) => !codes.has(code))).toEqual([]);
  });
});
