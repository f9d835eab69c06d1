import { describe, expect, it } from 'vitest';
import { appendPieces, lineAt, prepend, toPieces, windowOf, type Piece } from './log-lines.ts';

const text = 'first line\nsecond ünïcödé\n\nfourth is long\nlast without newline';
const bytes = new TextEncoder().encode(text);
/** Where each line starts in bytes, computed the slow, obvious way. */
const expected = text.split('\n').map((line, i, all) => ({
  text: line,
  offset: new TextEncoder().encode(
    all
      .slice(0, i)
      .map((l) => `${l}\n`)
      .join(''),
  ).length,
}));

function pieces(from: number, to: number, size: number): Piece[] {
  const chunks = [];
  for (let at = from; at < to; at += size)
    chunks.push({ offset: at, time: at, bytes: bytes.subarray(at, Math.min(to, at + size)) });
  return toPieces(chunks, new TextDecoder());
}

describe('log lines', () => {
  it('joins lines split across chunks, even inside a character, and knows where each starts', () => {
    for (const size of [1, 2, 3, 7, 100]) {
      const state = appendPieces([], pieces(0, bytes.length, size), false);
      expect(state.lines.map((l) => ({ text: l.text, offset: l.offset }))).toEqual(expected);
      expect(state.open).toBe(true);
    }
  });

  it('drops the cut line at the start of a window, and stitches earlier windows in front', () => {
    const whole = appendPieces([], pieces(0, bytes.length, 5), false).lines;
    // The tail from the middle of "second ...": its first complete line is the empty one.
    const tail = windowOf(pieces(15, bytes.length, 4), 15, bytes.length);
    expect(tail.lines.map((l) => l.text)).toEqual(['', 'fourth is long', 'last without newline']);
    expect(tail).toMatchObject({ from: expected[2]!.offset, firstLine: null, open: true });
    const middle = windowOf(pieces(3, tail.from, 4), 3, tail.from);
    const joined = prepend(tail, middle);
    expect(joined.added).toBe(1);
    expect(joined.window.firstLine).toBeNull();
    const all = prepend(
      joined.window,
      windowOf(pieces(0, joined.window.from, 4), 0, joined.window.from),
    );
    const strip = (lines: { text: string; offset: number }[]) =>
      lines.map((l) => ({ text: l.text, offset: l.offset }));
    expect(strip(all.window.lines)).toEqual(strip(whole));
    expect(all.window.firstLine).toBe(1);
    expect(all.window.from).toBe(0);
  });

  it('keeps a line longer than a window as one cut line and completes it from the front', () => {
    const start = 2; // inside "first line", whose newline is at 10
    const cut = windowOf(pieces(start, 8, 3), start, 8);
    expect(cut).toMatchObject({ partialFirst: true, from: 2, firstLine: null });
    expect(cut.lines.map((l) => l.text)).toEqual(['rst li']);
    const full = prepend(cut, windowOf(pieces(0, 2, 3), 0, 2));
    expect(full.window.lines.map((l) => l.text)).toEqual(['first li']);
    expect(full.window).toMatchObject({ partialFirst: false, firstLine: 1, from: 0 });
  });

  it('finds the line that holds a byte', () => {
    const window = windowOf(pieces(0, bytes.length, 6), 0, bytes.length);
    expect(lineAt(window, 0)).toBe(0);
    expect(lineAt(window, expected[3]!.offset + 2)).toBe(3);
    expect(lineAt(window, expected[2]!.offset)).toBe(2);
    expect(lineAt(window, bytes.length)).toBe(-1);
  });
});
