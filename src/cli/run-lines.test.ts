import { describe, expect, it } from 'vitest';
import { LineAssembler, type Clock, type LineEnd } from './run-lines.ts';

/** A clock that moves only when told to, firing the timers that fall due. */
function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let serial = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      timers.set(++serial, { at: now + ms, fn });
      return serial;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...timers.entries()]
          .filter(([, t]) => t.at <= until)
          .sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
  };
}

function setup(options: { maxLine?: number } = {}) {
  const clock = fakeClock();
  const printed: { owner: string; text: string; end: LineEnd; time: number }[] = [];
  const lines = new LineAssembler({
    emit: (owner, text, end, time) => printed.push({ owner, text: text.toString(), end, time }),
    pauseMs: 150,
    clock,
    ...options,
  });
  const say = (stream: string, text: string, group = 'job\x001\x002'): void =>
    lines.write('job', group, stream, Buffer.from(text));
  return { clock, printed, lines, say, texts: () => printed.map((p) => p.text) };
}

describe('LineAssembler', () => {
  it('prints whole lines at once, however the chunks fall', () => {
    const t = setup();
    t.say('stdout', 'one\ntw');
    t.say('stdout', 'o\nthree\n');
    expect(t.printed.map((p) => [p.text, p.end])).toEqual([
      ['one', 'newline'],
      ['two', 'newline'],
      ['three', 'newline'],
    ]);
  });

  it("prints a partial line before the other stream's words", () => {
    const t = setup();
    t.say('stdout', '.'.repeat(1304));
    t.say('stderr', 'FAIL test_login: expected 200, got 500\n');
    expect(t.texts()).toEqual(['.'.repeat(1304), 'FAIL test_login: expected 200, got 500']);
    expect(t.printed[0]!.end).toBe('partial');
  });

  it('leaves the partial lines of other steps alone', () => {
    const t = setup();
    t.say('stdout', 'a..', 'job\x001\x001');
    t.say('stderr', 'other step\n', 'job\x001\x002');
    expect(t.texts()).toEqual(['other step']);
  });

  it('prints a partial line after a pause of its stream, not before', () => {
    const t = setup();
    t.say('stdout', 'Downloading');
    t.clock.advance(100);
    t.say('stdout', '...');
    t.clock.advance(149);
    expect(t.texts()).toEqual([]);
    t.clock.advance(1);
    expect(t.printed).toEqual([
      { owner: 'job', text: 'Downloading...', end: 'partial', time: 250 },
    ]);
    // The rest of the line comes later, on a line of its own.
    t.say('stdout', ' done\n');
    expect(t.texts()).toEqual(['Downloading...', ' done']);
    t.clock.advance(1000);
    expect(t.printed).toHaveLength(2);
  });

  it('cuts an over-long line into pieces and keeps the rest', () => {
    const t = setup({ maxLine: 4 });
    t.say('stdout', 'abcdefghij');
    expect(t.printed.map((p) => [p.text, p.end])).toEqual([
      ['abcd', 'long'],
      ['efgh', 'long'],
    ]);
    t.lines.flushGroup('job\x001\x002');
    expect(t.texts().at(-1)).toBe('ij');
  });

  it('prints everything held on close and fires no timer afterwards', () => {
    const t = setup();
    t.say('stdout', 'left');
    t.say('stdout', 'x', 'job\x001\x003');
    t.lines.close();
    expect(t.texts().sort()).toEqual(['left', 'x']);
    t.clock.advance(1000);
    expect(t.printed).toHaveLength(2);
  });
});
