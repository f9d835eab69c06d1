import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../runtime/events.ts';
import { humanReporter } from './run-output.ts';
import type { Clock } from './run-lines.ts';

function output(stream: 'stdout' | 'stderr', text: string, time = 0): RunEvent {
  return {
    type: 'output',
    job: 'test',
    attempt: 1,
    step: 2,
    stream,
    data: Buffer.from(text),
    time,
  };
}

describe('humanReporter', () => {
  it('shows a failure on stderr on its own line, after the progress dots before it', () => {
    let text = '';
    const report = humanReporter({ write: (t) => (text += t), color: false, timestamps: false });
    report(output('stdout', '.'.repeat(1304)));
    report(output('stderr', 'FAIL test_login: expected 200, got 500\n'));
    const lines = text.split('\n');
    expect(lines[0]).toBe(`test         │ ${'.'.repeat(1304)}`);
    expect(lines[1]).toBe('test         │ FAIL test_login: expected 200, got 500');
  });

  it('prints a partial line after a short pause', () => {
    let text = '';
    let fire: (() => void) | undefined;
    const clock: Clock = {
      now: () => 0,
      setTimeout: (fn) => (fire = fn),
      clearTimeout: () => (fire = undefined),
    };
    const report = humanReporter({
      write: (t) => (text += t),
      color: false,
      timestamps: false,
      clock,
    });
    report(output('stdout', 'Password: '));
    expect(text).toBe('');
    fire?.();
    expect(text).toBe('test         │ Password: \n');
  });
});
