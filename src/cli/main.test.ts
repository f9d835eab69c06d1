import { Command, Help } from 'commander';
import { describe, expect, it } from 'vitest';
import { commandNamed, COMMANDS, createProgram } from './main.ts';
import type { Output } from './output.ts';

function captured(): Output & { text: () => string } {
  let text = '';
  return {
    out: (s) => void (text += s),
    err: (s) => void (text += s),
    write: (s) => void (text += String(s)),
    color: false,
    outColor: false,
    text: () => text,
  };
}

async function helpOf(args: readonly string[] | 'all'): Promise<string> {
  const output = captured();
  const program = await createProgram(output, () => undefined, args);
  program.outputHelp();
  return output.text();
}

describe('the lazily loaded command tree', () => {
  it('lists every command as its module defines it', async () => {
    const help = new Help();
    for (const entry of COMMANDS) {
      const program = new Command('slipway');
      (await entry.load())(program, { output: captured(), setExit: () => undefined, version: '0' });
      const real = program.commands.find((c) => c.name() === entry.name);
      expect(real, entry.name).toBeDefined();
      expect(help.subcommandTerm(real!), entry.name).toBe(entry.term);
      expect(real!.description(), entry.name).toBe(entry.description);
    }
  });

  it('prints the same top-level help whichever command was loaded', async () => {
    const full = await helpOf('all');
    expect(full).toContain('validate [options] [file]');
    expect(await helpOf([])).toBe(full);
    expect(await helpOf(['logs', '--help'])).toBe(full);
    expect(await helpOf(['run'])).toBe(full);
  });

  it('finds the command a command line names', () => {
    expect(commandNamed(['--version'])).toBeUndefined();
    expect(commandNamed(['run', '--job', 'x'])).toBe('run');
    expect(commandNamed(['-h', 'logs'])).toBe('logs');
    expect(commandNamed(['help', 'server'])).toBe('server');
  });
});
