import { describe, expect, it } from 'vitest';
import { appendChunks } from './LogView.tsx';

describe('appendChunks', () => {
  it('joins lines split across chunks and never loses or repeats a character', () => {
    const text = 'first line\nsecond\n\nfourth is long\nlast without newline';
    for (const size of [1, 2, 3, 7, 100]) {
      let state = { lines: [] as { text: string; time: number }[], open: false };
      for (let i = 0; i < text.length; i += size)
        state = appendChunks(state.lines, [{ text: text.slice(i, i + size), time: i }], state.open);
      expect(state.lines.map((l) => l.text)).toEqual([
        'first line',
        'second',
        '',
        'fourth is long',
        'last without newline',
      ]);
      expect(state.open).toBe(true);
    }
  });
});
