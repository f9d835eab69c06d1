import { TerminalFilter } from './terminal-filter.ts';

/** Where a command writes; the real process streams in production. */
export interface Output {
  /** A message or result on stdout (a line end is added when missing). */
  out(text: string): void;
  /** A message on stderr (a line end is added when missing). */
  err(text: string): void;
  /** Text or bytes to stdout exactly as given: no line end added (bytes are never filtered). */
  write(data: string | Uint8Array): void;
  /** Whether stderr is a terminal that takes colours. */
  color: boolean;
  /** Whether stdout is a terminal that takes colours (build output keeps its own there). */
  outColor: boolean;
}

/**
 * The process's stdout and stderr. Text written to a terminal goes through a
 * {@link TerminalFilter} that passes colours only, so nothing printed (a build's output,
 * a branch name, a diagnostic's source line) can drive the terminal; pipes and files get
 * the text as it is.
 */
export function processOutput(): Output {
  const filtered = (stream: NodeJS.WriteStream): ((text: string) => string) => {
    if (!stream.isTTY) return (text) => text;
    const filter = new TerminalFilter({ colors: true });
    return (text) => filter.write(text);
  };
  const toOut = filtered(process.stdout);
  const toErr = filtered(process.stderr);
  const line = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);
  const noColor = Boolean(process.env.NO_COLOR);
  return {
    out: (text) => void process.stdout.write(toOut(line(text))),
    err: (text) => void process.stderr.write(toErr(line(text))),
    write: (data) => void process.stdout.write(typeof data === 'string' ? toOut(data) : data),
    color: Boolean(process.stderr.isTTY) && !noColor,
    outColor: Boolean(process.stdout.isTTY) && !noColor,
  };
}

/** The exit status of a process whose reader went away, as if SIGPIPE had ended it. */
export const EXIT_BROKEN_PIPE = 141;

/**
 * A reader that goes away (`slipway logs 42 | head`) ends the command quietly, as SIGPIPE
 * ends other Unix tools, instead of with an EPIPE stack trace:
 * - stdout: a command that cleans up on SIGTERM (`slipway run` stops its steps and removes
 *   its pods) is sent one and exits when done; any other exits at once. Either way with
 *   {@link EXIT_BROKEN_PIPE}; a followed build is left alone.
 * - stderr: its messages are dropped and the command goes on (a server whose log reader
 *   restarts keeps running).
 * Call once per process; returns whether stdout's reader went away.
 */
export function guardStdio(): () => boolean {
  let broken = false;
  const swallowed = new Set<NodeJS.WriteStream>();
  const guard = (stream: NodeJS.WriteStream, onBroken: () => void): void => {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (swallowed.has(stream)) return;
      if (error.code !== 'EPIPE') throw error;
      swallowed.add(stream);
      onBroken();
    });
  };
  guard(process.stdout, () => {
    broken = true;
    process.exitCode = EXIT_BROKEN_PIPE;
    if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
    else process.exit(EXIT_BROKEN_PIPE);
  });
  guard(process.stderr, () => undefined);
  return () => broken;
}

/** Pads cells into aligned columns. */
export function table(rows: readonly (readonly string[])[], gap = 2): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + gap)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}
