/** Where a command writes; the real process streams in production. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout/stderr are terminals that take colours. */
  color: boolean;
}

export function processOutput(): Output {
  return {
    out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    color: Boolean(process.stderr.isTTY) && !process.env.NO_COLOR,
  };
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
