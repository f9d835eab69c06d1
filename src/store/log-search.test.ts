import { describe, expect, it } from 'vitest';
import { LogScanner, type LogMatch } from './log-search.ts';

/** What a search over the whole text at once finds: the reference the scanner must agree with. */
function reference(text: string, query: string): LogMatch[] {
  const hay = Buffer.from(text.replace(/[A-Z]/g, (c) => c.toLowerCase()));
  const needle = Buffer.from(query.toLowerCase());
  const bytes = Buffer.from(text);
  const out: LogMatch[] = [];
  for (let q = hay.indexOf(needle); q >= 0; q = hay.indexOf(needle, q + needle.length)) {
    const before = bytes.subarray(0, q);
    const line = before.filter((b) => b === 10).length + 1;
    out.push({ offset: q, line, lineStart: before.lastIndexOf(10) + 1 });
  }
  return out;
}

function scan(text: string, query: string, size: number, limit = 1000) {
  const scanner = new LogScanner(query, limit);
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length && !scanner.done; i += size)
    scanner.push(i, bytes.subarray(i, i + size));
  return scanner.result();
}

describe('LogScanner', () => {
  const text =
    'first line\nan ERROR here and an error there\n\nnothing\nerr\nor split? error at the end\n' +
    'ünïcödé error\nerrorerror\n';

  it('finds every match with its line, whatever the chunk boundaries, in any case', () => {
    const expected = reference(text, 'error');
    expect(expected.length).toBeGreaterThan(5);
    for (const size of [1, 2, 3, 5, 7, 13, 64, 1000]) {
      const found = scan(text, 'Error', size);
      expect(found.matches, `chunks of ${size}`).toEqual(expected);
      expect(found.truncated).toBe(false);
      expect(found.newlines).toBe(8);
      expect(found.scanned).toBe(Buffer.byteLength(text));
    }
  });

  it('matches text without letters byte for byte', () => {
    const log = 'step 1/3\nstep 2/3\n==> 3/3 done\n';
    for (const size of [1, 4, 100])
      expect(scan(log, '3/3', size).matches).toEqual(reference(log, '3/3'));
    expect(reference(log, '3/3').map((m) => m.line)).toEqual([3]);
  });

  it('gives the line number and line start a viewer needs to jump to a match', () => {
    const found = scan(text, 'ünïcödé', 4);
    expect(found.matches).toEqual([
      { offset: text.indexOf('ünïcödé') + 0, line: 7, lineStart: text.indexOf('ünïcödé') },
    ]);
  });

  it('stops at the limit and says that more exist', () => {
    const found = scan(text, 'error', 3, 2);
    expect(found.matches.map((m) => m.line)).toEqual([2, 2]);
    expect(found.truncated).toBe(true);
    const exact = scan('error error', 'error', 4, 2);
    expect(exact.truncated).toBe(false);
  });

  it('skips bytes it has seen and does not match across a gap', () => {
    const scanner = new LogScanner('abcd', 10);
    scanner.push(0, Buffer.from('xxab'));
    scanner.push(2, Buffer.from('abcd')); // re-sent overlap: "ab" again, then "cd"
    scanner.push(10, Buffer.from('cd abcd')); // a gap: "ab" + "cd" across it is not a match
    expect(scanner.result().matches.map((m) => m.offset)).toEqual([2, 13]);
  });

  it('refuses an empty query or one with a newline', () => {
    expect(() => new LogScanner('', 1)).toThrow(/one non-empty line/);
    expect(() => new LogScanner('a\nb', 1)).toThrow(/one non-empty line/);
  });
});
