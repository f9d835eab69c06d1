import { describe, expect, it } from 'vitest';
import { parseAnsi, safeHref, styleClasses } from './ansi.ts';

describe('parseAnsi', () => {
  it('keeps allowed styles and drops every other escape', () => {
    const { segments } = parseAnsi('\x1b[1;31mred\x1b[0m plain \x1b[2J\x1b[38;5;46mgreen\x1b[Kok');
    expect(segments.map((s) => [s.text, styleClasses(s.style)])).toEqual([
      ['red', 'fg-1 bold'],
      [' plain ', ''],
      ['greenok', 'fg-10'],
    ]);
  });

  it('links OSC-8 hyperlinks only for http(s)', () => {
    const ok = parseAnsi('\x1b]8;;https://example.com/x\x1b\\site\x1b]8;;\x1b\\ after').segments;
    expect(ok[0]).toMatchObject({ text: 'site', href: 'https://example.com/x' });
    expect(ok[1]).toMatchObject({ text: ' after', href: null });
    const bad = parseAnsi('\x1b]8;;javascript:alert(1)\x07click\x1b]8;;\x07').segments;
    expect(bad[0]).toMatchObject({ text: 'click', href: null });
    expect(safeHref('data:text/html,x')).toBeNull();
  });

  it('keeps markup as text', () => {
    const { segments } = parseAnsi('<script>alert(1)</script><img src=x onerror=alert(1)>');
    expect(segments.map((s) => s.text).join('')).toBe(
      '<script>alert(1)</script><img src=x onerror=alert(1)>',
    );
  });
});

describe('carriage returns and erasing, as a terminal draws them', () => {
  const shown = (text: string): string =>
    parseAnsi(text)
      .segments.map((s) => s.text)
      .join('');

  it('shows the last state of a progress line', () => {
    expect(shown('progress 10%\rprogress 50%\rprogress 100%')).toBe('progress 100%');
    expect(shown('downloading... 3/3\r\n')).toBe('downloading... 3/3');
    expect(shown('\r\rdone\r')).toBe('done');
  });

  it('overwrites column by column, like a terminal, unless the line is erased', () => {
    expect(shown('abcdef\rXY')).toBe('XYcdef');
    expect(shown('abcdef\r\x1b[KXY')).toBe('XY');
    expect(shown('abcdef\x1b[2K\rXY')).toBe('XY');
    expect(shown('abcdef\b\b\x1b[1K')).toBe('     f');
    expect(shown('ab\bc')).toBe('ac');
    expect(shown('plain line\x1b[K')).toBe('plain line');
  });

  it('keeps the style of each character it draws over', () => {
    const { segments } = parseAnsi('\x1b[31mred red\r\x1b[32mgreen');
    expect(segments.map((s) => [s.text, styleClasses(s.style)])).toEqual([
      ['green', 'fg-2'],
      ['ed', 'fg-1'],
    ]);
  });
});
