import { describe, expect, it } from 'vitest';
import { columnsOf, shownText } from './LogView.tsx';

describe('log lines on screen', () => {
  it('measures what is shown: escapes take no room, tabs go to the next stop', () => {
    expect(shownText({ text: '\x1b[31mred\x1b[0m\r\x1b[Kdone', time: 0, offset: 0 })).toBe('done');
    expect(columnsOf('abc')).toBe(3);
    expect(columnsOf('a\tb')).toBe(9);
    expect(columnsOf('\t\t')).toBe(16);
    expect(columnsOf('ünï😀')).toBe(4);
  });
});
