import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderCarriageReturns, sanitizeForTerminal, TerminalFilter } from './terminal-filter.ts';

const E = '\u001b';
const colors = { colors: true };
const plain = { colors: false };

/** Hostile sequences a build could print, each with what must be left of it. */
const HOSTILE: [name: string, input: string, left: string][] = [
  ['clear screen and home', `a${E}[2J${E}[3J${E}[Hb`, 'ab'],
  ['cursor up and position', `x${E}[5A${E}[10;20Hy${E}[1;1f`, 'xy'],
  ['save and restore cursor', `${E}7over${E}8`, 'over'],
  ['erase line', `keep${E}[2K${E}[1K`, 'keep'],
  ['OSC 52 clipboard, BEL-terminated', `${E}]52;c;ZWNobyBvd25lZA==\u0007after`, 'after'],
  ['OSC 52 clipboard, ST-terminated', `${E}]52;c;ZWNobyBvd25lZA==${E}\\after`, 'after'],
  ['OSC 8 hyperlink', `${E}]8;;https://evil.example/${E}\\click${E}]8;;${E}\\`, 'click'],
  ['OSC 0 window title', `${E}]0;pwned\u0007title`, 'title'],
  ['DCS request status (answers into the input)', `${E}P$q m${E}\\dcs`, 'dcs'],
  ['APC, PM and SOS strings', `${E}_apc${E}\\${E}^pm${E}\\${E}Xsos${E}\\ok`, 'ok'],
  ['C1 CSI', `\u009b2J\u009b5Ax`, 'x'],
  ['C1 OSC ended by C1 ST', `\u009d52;c;QUJD\u009cy`, 'y'],
  ['reset terminal (RIS)', `${E}cz`, 'z'],
  ['screen alignment test (DECALN)', `${E}#8w`, 'w'],
  ['line-drawing charset', `${E}(0text${E}(B`, 'text'],
  ['alternate screen, hidden cursor, mouse tracking', `${E}[?1049h${E}[?25l${E}[?1000hq`, 'q'],
  ['modifyOtherKeys looks like SGR but is not', `${E}[>4;2mk`, 'k'],
  ['cursor style with an intermediate', `${E}[2 qs`, 's'],
  ['window resize and title report', `${E}[8;100;100t${E}[21tr`, 'r'],
  [
    'bell, backspace, vertical tab, form feed, NUL, DEL',
    'a\u0007\b\u000b\u000c\u0000\u007fb',
    'ab',
  ],
  ['C1 controls as characters', 'n\u0085e\u0084l\u008d', 'nel'],
  ['CAN aborts a sequence', `${E}[12\u0018done`, 'done'],
  ['an over-long CSI is dropped whole', `${E}[${'1;'.repeat(200)}mlong`, 'long'],
];

describe('TerminalFilter', () => {
  it.each(HOSTILE)('removes %s', (_name, input, left) => {
    expect(sanitizeForTerminal(input, colors)).toBe(left);
    expect(sanitizeForTerminal(input, plain)).toBe(left);
  });

  it('keeps colours (SGR) for a terminal that takes them, and removes them otherwise', () => {
    const text = `${E}[31mred${E}[0m ${E}[1;38;2;255;0;0mtrue${E}[m ${E}[38:5:196mcolon${E}[39m`;
    expect(sanitizeForTerminal(text, colors)).toBe(text);
    expect(sanitizeForTerminal(text, plain)).toBe('red true colon');
    // A C1 CSI colour comes out in the 7-bit form.
    expect(sanitizeForTerminal('\u009b32mg', colors)).toBe(`${E}[32mg`);
  });

  it('keeps text, tabs, line ends, carriage returns and every printable character', () => {
    const text = 'tab\there\r\nünïcødé ✓ 日本 🚀 \u00a0nbsp\n';
    expect(sanitizeForTerminal(text, colors)).toBe(text);
  });

  it('recognises a sequence split at any point between writes', () => {
    for (const [name, input, left] of HOSTILE)
      for (let at = 0; at <= input.length; at++) {
        const filter = new TerminalFilter(colors);
        expect(filter.write(input.slice(0, at)) + filter.write(input.slice(at)), name).toBe(left);
      }
    const sgr = `a${E}[31mb`;
    for (let at = 0; at <= sgr.length; at++) {
      const filter = new TerminalFilter(colors);
      expect(filter.write(sgr.slice(0, at)) + filter.write(sgr.slice(at))).toBe(sgr);
    }
  });

  it('lets an unterminated sequence swallow no more than the rest of its line', () => {
    expect(sanitizeForTerminal(`${E}]52;c;QUJD\nnext line`, colors)).toBe('\nnext line');
    const filter = new TerminalFilter(colors);
    expect(filter.write(`${E}P never ends`)).toBe('');
    expect(filter.write('\nvisible')).toBe('\nvisible');
  });

  it('drops a sequence left unfinished when reset', () => {
    const filter = new TerminalFilter(colors);
    expect(filter.write(`x${E}[3`)).toBe('x');
    filter.reset();
    expect(filter.write('1mtext')).toBe('1mtext');
  });

  // Any text at all, split anywhere: what comes out carries no control but \t \n \r, and no
  // escape but a complete SGR; the same text in one piece gives the same result.
  const hostileText = fc
    .array(
      fc.oneof(
        fc.string({ unit: 'binary' }),
        fc.constantFrom(
          E,
          '[',
          ']',
          'P',
          '\\',
          '\u0007',
          '\u009b',
          '\u009c',
          '\u009d',
          'm',
          ';',
          '\n',
        ),
        fc.constantFrom(...HOSTILE.map(([, input]) => input)),
      ),
      { maxLength: 30 },
    )
    .map((parts) => parts.join(''));

  it('never emits a control or a non-colour escape, however the text is split (property)', () => {
    fc.assert(
      fc.property(hostileText, fc.array(fc.nat(), { maxLength: 5 }), (text, cuts) => {
        for (const options of [colors, plain]) {
          const whole = sanitizeForTerminal(text, options);
          const filter = new TerminalFilter(options);
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          let pieces = '';
          let from = 0;
          for (const at of [...points, text.length]) {
            pieces += filter.write(text.slice(from, at));
            from = at;
          }
          expect(pieces).toBe(whole);
          // eslint-disable-next-line no-control-regex -- matching control characters is the point
          const withoutSgr = options.colors ? whole.replace(/\u001b\[[0-9;:]*m/g, '') : whole;
          // eslint-disable-next-line no-control-regex -- matching control characters is the point
          expect(withoutSgr).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('renderCarriageReturns', () => {
  it('shows what a terminal would: the text after the last carriage return', () => {
    expect(renderCarriageReturns('10%\r50%\r100%')).toBe('100%');
    expect(renderCarriageReturns('windows line\r')).toBe('windows line');
    expect(renderCarriageReturns('plain')).toBe('plain');
    expect(renderCarriageReturns(`${E}[32m10%\r100%`)).toBe(`${E}[32m100%`);
  });
});
