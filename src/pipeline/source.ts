import type { Diagnostic, DiagnosticCode, Severity } from './diagnostics.ts';
import { formatPath, type Path } from './path.ts';

/** A byte range in the source text: [start, end). */
export type Range = readonly [number, number];

/**
 * One source file with its line index. Turns byte ranges into diagnostics
 * that carry file:line:col.
 */
export class SourceFile {
  private readonly lineStarts: number[];

  constructor(
    readonly name: string,
    readonly text: string,
  ) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
    }
  }

  /** 1-based line and column of a character offset. */
  position(offset: number): { line: number; column: number } {
    const clamped = Math.max(0, Math.min(offset, this.text.length));
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.lineStarts[mid]! <= clamped) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: clamped - this.lineStarts[low]! + 1 };
  }

  /** The text of a 1-based line, without its newline. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return '';
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, '');
  }

  /** Builds a diagnostic for a range of this file. */
  diagnostic(
    code: DiagnosticCode,
    message: string,
    range: Range | undefined,
    path: Path = [],
    severity: Severity = 'error',
  ): Diagnostic {
    const [start, end] = range ?? [0, 0];
    const from = this.position(start);
    const to = this.position(Math.max(start, end));
    return {
      severity,
      code,
      message,
      file: this.name,
      line: from.line,
      column: from.column,
      endLine: to.line,
      endColumn: to.line === from.line && to.column <= from.column ? from.column + 1 : to.column,
      path: formatPath(path),
    };
  }
}
