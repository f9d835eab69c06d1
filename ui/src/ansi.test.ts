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
