import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogPrinter } from './log-printer.ts';

function printer(options: { colors?: boolean; maxLine?: number } = {}): {
  printer: LogPrinter;
  text: () => string;
} {
  let text = '';
  return {
    printer: new LogPrinter({
      write: (t) => void (text += t),
      label: (attempt) => (attempt === 1 ? 'build' : `test #${attempt}`),
      colors: options.colors ?? false,
      ...(options.maxLine ? { maxLine: options.maxLine } : {}),
    }),
    text: () => text,
  };
}

/** Cuts bytes at the given points. */
function cut(bytes: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const to of [...at, bytes.length]) {
    pieces.push(bytes.subarray(from, to));
    from = to;
  }
  return pieces;
}

describe('LogPrinter', () => {
  it('prints whole lines with one prefix each, however the bytes were cut (property)', () => {
    const line = fc.string({ unit: fc.constantFrom('a', 'é', '✓', '日', '🚀', ' ', '\t') });
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat()),
        (lines, points) => {
          const bytes = Buffer.from(`${lines.join('\n')}\n`);
          const { printer: p, text } = printer();
          for (const piece of cut(bytes, points)) p.chunk(1, 0, piece);
          p.end();
          expect(text()).toBe(lines.map((l) => `[build:1] ${l}\n`).join(''));
        },
      ),
    );
  });

  it('keeps steps and attempts apart, and prints a partial line when its step ends', () => {
    const { printer: p, text } = printer();
    p.chunk(1, 0, Buffer.from('one: hal'));
    p.chunk(2, 1, Buffer.from('other\nstill'));
    p.chunk(1, 0, Buffer.from('f\nno end'));
    p.endStep(1, 0);
    p.chunk(1, -1, Buffer.from('agent line\n'));
    p.end();
    expect(text()).toBe(
      '[test #2:2] other\n[build:1] one: half\n[build:1] no end\n[build] agent line\n[test #2:2] still\n',
    );
    expect(p.progress().every((s) => !s.partial)).toBe(true);
  });

  it('shows a character cut by the end of its step as a replacement character', () => {
    const { printer: p, text } = printer();
    p.chunk(1, 0, Buffer.from('✓').subarray(0, 2));
    p.endStep(1, 0);
    expect(text()).toBe('[build:1] \ufffd\n');
  });

  it('makes lines safe for the terminal and renders carriage returns', () => {
    const plain = printer();
    plain.printer.chunk(1, 0, Buffer.from('\u001b[2J\u001b[31mred\u001b[0m 10%\r100%\r\n'));
    expect(plain.text()).toBe('[build:1] 100%\n');
    const colour = printer({ colors: true });
    colour.printer.chunk(1, 0, Buffer.from('\u001b]52;c;eA==\u0007\u001b[31mred\u001b[0m\n'));
    expect(colour.text()).toBe('[build:1] \u001b[31mred\u001b[0m\n');
  });

  it('prints a line without an end in pieces rather than holding it without bound', () => {
    const { printer: p, text } = printer({ maxLine: 4 });
    p.chunk(1, 0, Buffer.from('abcdefghij'));
    expect(text()).toBe('[build:1] abcd ↩\n[build:1] efgh ↩\n');
    p.end();
    expect(text()).toMatch(/\[build:1\] ij\n$/);
  });
});
