import type { Diagnostic } from './diagnostics.ts';

export interface FormatOptions {
  /** ANSI colours (for terminals). */
  color?: boolean;
}

const RED = '\u001b[31;1m';
const YELLOW = '\u001b[33;1m';
const BLUE = '\u001b[34;1m';
const BOLD = '\u001b[1m';
const RESET = '\u001b[0m';

/**
 * Formats a diagnostic for people, compiler style, with the source line and a caret:
 *
 *     .slipway.yml:4:5: error[unknown-key]: unknown key "stpes" in jobs.build; did you mean "steps"?
 *       at jobs.build.stpes
 *        4 |     stpes:
 *          |     ^^^^^
 */
export function formatDiagnostic(
  diagnostic: Diagnostic,
  text: string | undefined,
  options: FormatOptions = {},
): string {
  const paint = (code: string, s: string): string => (options.color ? `${code}${s}${RESET}` : s);
  const severity = paint(
    diagnostic.severity === 'error' ? RED : YELLOW,
    `${diagnostic.severity}[${diagnostic.code}]`,
  );
  const lines = [
    `${paint(BOLD, `${diagnostic.file}:${diagnostic.line}:${diagnostic.column}`)}: ${severity}: ${diagnostic.message}`,
  ];
  if (diagnostic.path) lines.push(`  at ${diagnostic.path}`);
  const excerpt = text === undefined ? undefined : sourceExcerpt(diagnostic, text);
  if (excerpt) {
    const gutter = String(diagnostic.line).length;
    lines.push(`${paint(BLUE, ` ${String(diagnostic.line).padStart(gutter)} |`)} ${excerpt.line}`);
    lines.push(
      `${paint(BLUE, ` ${' '.repeat(gutter)} |`)} ${' '.repeat(excerpt.pad)}${paint(diagnostic.severity === 'error' ? RED : YELLOW, '^'.repeat(excerpt.width))}`,
    );
  }
  return lines.join('\n');
}

/** The offending source line (tabs shown as spaces) and where the caret goes. */
export function sourceExcerpt(
  diagnostic: Diagnostic,
  text: string,
): { line: string; pad: number; width: number } | undefined {
  const all = text.split('\n');
  const raw = all[diagnostic.line - 1];
  if (raw === undefined) return undefined;
  const maxWidth = 160;
  let line = raw.replace(/\r$/, '').replace(/\t/g, ' ');
  let pad = Math.max(0, diagnostic.column - 1);
  // Long lines are cut around the caret so the excerpt stays readable.
  if (line.length > maxWidth) {
    const start = Math.max(0, Math.min(pad - 20, line.length - maxWidth));
    line =
      (start > 0 ? '…' : '') +
      line.slice(start, start + maxWidth) +
      (start + maxWidth < line.length ? '…' : '');
    pad = pad - start + (start > 0 ? 1 : 0);
  }
  const end = diagnostic.endLine === diagnostic.line ? diagnostic.endColumn - 1 : line.length;
  const width = Math.max(1, Math.min(end, line.length) - pad);
  return { line, pad: Math.min(pad, line.length), width };
}

/** Formats all diagnostics, followed by a count line. */
export function formatDiagnostics(
  diagnostics: readonly Diagnostic[],
  text: string | undefined,
  options: FormatOptions = {},
): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  const body = diagnostics.map((d) => formatDiagnostic(d, text, options)).join('\n\n');
  const summary = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
  return body ? `${body}\n\n${summary}` : summary;
}
